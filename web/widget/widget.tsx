// widget.js: `<script src="…/widget.js" data-key="pk_…" async></script>` puts a <keygate-chat>
// element at the end of the page's <body> (docs/api.md "Chat widget"). Everything it draws lives in
// the element's open shadow root with its own constructed stylesheet: the page's CSS does not reach
// in, ours does not leak out, and nothing is added to the page's document (so the page's CSP needs
// no 'unsafe-inline' or 'unsafe-eval', only the script's and the API's origins).
import { render } from 'preact';
import { ChatWidget } from './chat-widget.tsx';
import { Conversation } from './conversation.ts';
import { readConfig, type WidgetConfig } from './config.ts';
import { WidgetStore } from './storage.ts';
import css from './widget.css';

const TAG = 'keygate-chat';

function adoptStyles(root: ShadowRoot): void {
  if ('adoptedStyleSheets' in root && typeof CSSStyleSheet.prototype.replaceSync === 'function') {
    const sheet = new CSSStyleSheet();
    sheet.replaceSync(css);
    root.adoptedStyleSheets = [sheet];
  } else {
    // Older browsers: a <style> inside the shadow root (needs style-src 'unsafe-inline' under a CSP).
    const style = document.createElement('style');
    style.textContent = css;
    root.append(style);
  }
}

export class KeygateChatElement extends HTMLElement {
  config?: WidgetConfig;

  connectedCallback(): void {
    if (this.shadowRoot || !this.config) return;
    const root = this.attachShadow({ mode: 'open' });
    adoptStyles(root);
    const config = this.config;
    const store = new WidgetStore([config.scriptUrl, config.apiUrl ?? '', config.key, config.databaseId ?? ''].join('\n'));
    const conversation = new Conversation(config, store, location.origin);
    render(<ChatWidget conversation={conversation} store={store} title={config.title} initiallyOpen={config.open} />, root);
  }
}

function mount(script: HTMLScriptElement): void {
  const config = readConfig(script);
  if (config.problem) console.error(`Keygate chat widget: ${config.problem}`);
  const element = document.createElement(TAG) as KeygateChatElement;
  element.config = config;
  document.body.append(element);
}

const script = document.currentScript as HTMLScriptElement | null;
if (!customElements.get(TAG)) customElements.define(TAG, KeygateChatElement);
if (script) {
  if (document.body) mount(script);
  else document.addEventListener('DOMContentLoaded', () => mount(script), { once: true });
} else {
  console.error('Keygate chat widget: load widget.js with a <script src> tag, not as a module.');
}
