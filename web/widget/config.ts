// The widget's settings, read from its own <script> tag (docs/api.md "Chat widget"):
//   data-key       the publishable key (required)
//   data-api-url   the API; by default the API of the deployment that served the script
//   data-title     the panel's title (default "Chat")
//   data-database  a database id, sent as X-Database-Id when the session is created
//   data-open      "true": the panel starts open

export interface WidgetConfig {
  key: string;
  /** From data-api-url; otherwise resolved by `resolveApiUrl`. */
  apiUrl?: string;
  /** The script's own URL: config.json and the default API are found next to it. */
  scriptUrl: string;
  title: string;
  databaseId?: string;
  open: boolean;
  /** Set when the tag is unusable (no key, a bad URL): the panel shows it instead of chatting. */
  problem?: string;
}

export const DEFAULT_TITLE = 'Chat';

export function readConfig(script: HTMLScriptElement): WidgetConfig {
  const data = script.dataset;
  const scriptUrl = script.src || document.baseURI;
  const config: WidgetConfig = {
    key: (data.key ?? '').trim(),
    scriptUrl,
    title: data.title?.trim() || DEFAULT_TITLE,
    open: data.open === 'true',
  };
  if (data.database?.trim()) config.databaseId = data.database.trim();
  if (!config.key) config.problem = 'This chat is not set up: its <script> tag has no data-key.';
  if (data.apiUrl?.trim()) {
    try {
      config.apiUrl = new URL(data.apiUrl.trim(), document.baseURI).href;
    } catch {
      config.problem = `This chat is not set up: data-api-url "${data.apiUrl}" is not a URL.`;
    }
  }
  return config;
}

/**
 * The API to call. data-api-url wins; otherwise `config.json` next to the script names it (the
 * deployment writes `{"apiUrl": …}` there, beside widget.js); otherwise the script's own origin,
 * which is the API itself when `npm start` serves the script.
 */
export async function resolveApiUrl(config: WidgetConfig): Promise<string> {
  if (config.apiUrl) return config.apiUrl;
  try {
    const response = await fetch(new URL('config.json', config.scriptUrl), { credentials: 'omit' });
    if (response.ok) {
      const body = (await response.json()) as { apiUrl?: unknown };
      if (typeof body.apiUrl === 'string' && body.apiUrl) return new URL(body.apiUrl).href;
    }
  } catch {
    // No readable config.json: fall back to the script's origin.
  }
  return new URL(config.scriptUrl).origin;
}
