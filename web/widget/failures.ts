// What the widget tells a visitor when something fails (the codes of docs/api.md "Errors"). Each failure
// is our sentence saying what happened and what can be done, plus the API's own message when it
// adds something, and the one action the panel offers: retry, or start a new conversation.
import { ApiClientError } from '../api/http.ts';
import { ReplyStreamError } from '../api/chat.ts';

export type FailureAction = 'retry' | 'new-conversation' | 'none';

export interface Failure {
  text: string;
  /** The API's message, shown under `text`. */
  detail?: string;
  action: FailureAction;
}

function seconds(n: number): string {
  return n === 1 ? '1 second' : `${n} seconds`;
}

/** `origin` is the page's origin (`location.origin`), the one a site owner must allow. */
export function describeFailure(error: unknown, origin: string): Failure {
  if (!(error instanceof ApiClientError)) {
    return { text: 'Something went wrong in the chat. Please try again.', action: 'retry' };
  }
  const detail = error.message;
  if (error instanceof ReplyStreamError) {
    return error.code === 'NETWORK_ERROR'
      ? { text: 'The connection was lost before the reply was complete.', action: 'retry' }
      : { text: 'The reply failed before it was complete. You were not charged for it.', detail, action: 'retry' };
  }
  switch (error.code) {
    case 'CORS_ORIGIN_NOT_ALLOWED':
      return {
        text: `This chat is not enabled on ${origin}. If this is your website, add ${origin} to the allowed domains of the widget key.`,
        detail,
        action: 'none',
      };
    case 'INVALID_API_KEY':
      return {
        text: "This chat's key is not valid: it is mistyped or has been revoked. If this is your website, check data-key in the widget snippet.",
        detail,
        action: 'none',
      };
    case 'API_KEY_DISABLED':
      return { text: "This chat is switched off for now: its key is disabled.", detail, action: 'none' };
    case 'API_KEY_EXPIRED':
      return { text: "This chat's key has expired. If this is your website, roll or replace the widget key.", detail, action: 'none' };
    case 'INSUFFICIENT_CREDITS':
      return { text: 'This chat has run out of credits, so it cannot reply right now.', detail, action: 'none' };
    case 'RATE_LIMIT_EXCEEDED':
      return {
        text: error.retryAfter ? `Too many messages right now. Try again in ${seconds(error.retryAfter)}.` : 'Too many messages right now. Try again shortly.',
        action: 'retry',
      };
    case 'SESSION_ENDED':
    case 'INVALID_TOKEN':
      return { text: 'This conversation has ended.', detail, action: 'new-conversation' };
    case 'INSUFFICIENT_PERMISSIONS':
      return { text: "This chat's key cannot be used for this database.", detail, action: 'none' };
    case 'VALIDATION_ERROR': {
      const fields = error.body?.details?.map((d) => d.message).join('; ');
      return { text: 'The message could not be sent.', detail: fields ? `${detail} (${fields})` : detail, action: 'none' };
    }
    case 'NETWORK_ERROR':
      return { text: 'The chat service could not be reached. Check your connection and try again.', action: 'retry' };
    default:
      return {
        text: error.status >= 500 ? 'The chat service is having trouble. Please try again.' : 'The message could not be sent.',
        detail,
        action: error.status >= 500 || error.status === 0 ? 'retry' : 'none',
      };
  }
}
