// Session routes' authentication (the pipeline's authenticateSession hook), in the function rather
// than the API Gateway authorizer so its 401s carry the session codes, not the API-key body.
// Order, cheapest first:
//   1. verify the JWT (no I/O): missing/bad -> 401 INVALID_TOKEN; authentic but expired -> 401 SESSION_ENDED
//   2. a publishable-key session is bound to its Origin: another Origin -> 403 CORS_ORIGIN_NOT_ALLOWED,
//      readable by that origin's page (echoed) when it is a real one
//   3. the path's session must be the token's: otherwise 404 NOT_FOUND (no read; a token can never
//      reach any other session, in its org or another)
//   4. ONE consistent BatchGetItem of the session and its creating key: session ended, expired or
//      gone, or key revoked, disabled, expired or gone -> 401 SESSION_ENDED. This is what makes
//      revoking or disabling a key end its sessions at once, with no write to any session.
import { bearerToken } from '../http/portal-auth.ts';
import type { ApiRequest, ResponseState } from '../http/pipeline.ts';
import { keyStatus } from '../domain/key-status.ts';
import { loadSessionAndKey, sessionStatus, type SessionItem } from '../db/sessions.ts';
import { ApiError } from '../domain/errors.ts';
import { isOriginAllowed, isRealOrigin } from '../domain/origin-match.ts';
import { verifySessionToken } from './session-token.ts';

/** What a session request's handler gets in `req.session`. */
export interface AuthenticatedSession {
  session: SessionItem;
}

export function sessionOf(req: ApiRequest): SessionItem {
  const auth = req.session as AuthenticatedSession | undefined;
  if (!auth) throw new Error('session route reached without an authenticated session');
  return auth.session;
}

export async function authenticateSession(req: ApiRequest, state: ResponseState, now = new Date()): Promise<void> {
  const verdict = await verifySessionToken(bearerToken(req.headers.authorization));
  if (!verdict.ok && verdict.reason === 'invalid') {
    // Like the gateway's invalid-key 401: readable by the page, so it knows to start a new session.
    if (req.origin) state.corsOrigin = req.origin;
    throw new ApiError('INVALID_TOKEN');
  }
  const claims = verdict.claims;

  if (claims.origin !== null) {
    if (req.origin !== claims.origin) {
      // Readable by the calling page, as a publishable key's refused origin is (docs/api.md
      // "Keys"): the answer admits only that this origin may not use the token.
      if (isRealOrigin(req.origin)) state.corsOrigin = req.origin;
      throw new ApiError('CORS_ORIGIN_NOT_ALLOWED');
    }
    state.corsOrigin = claims.origin;
  } else if (req.origin) {
    // Secret-key sessions are not origin-bound: a server mints the token and may hand it to a page,
    // which must be able to read the answers. The token names one session and nothing else.
    state.corsOrigin = req.origin;
  }

  if (claims.sessionId !== req.params.sessionId) throw new ApiError('NOT_FOUND', 'Session not found');
  if (!verdict.ok) throw new ApiError('SESSION_ENDED');

  const { session, key } = await loadSessionAndKey(claims.sessionId, claims.keyId);
  if (!session || session.organizationId !== claims.organizationId || session.type !== claims.type) {
    throw new ApiError('SESSION_ENDED');
  }
  if (sessionStatus(session, now) !== 'active') throw new ApiError('SESSION_ENDED');
  if (!key || key.id !== session.keyId || key.organizationId !== session.organizationId) {
    throw new ApiError('SESSION_ENDED');
  }
  if (keyStatus(key, now) !== 'active') throw new ApiError('SESSION_ENDED');
  // The key's allowed domains apply at once: a session whose origin was removed stops working.
  // The page (on that origin, checked above) can read why, as it could for a new request with the key.
  if (session.origin !== null && !isOriginAllowed(session.origin, key.allowedDomains ?? [])) {
    throw new ApiError('CORS_ORIGIN_NOT_ALLOWED');
  }

  req.session = { session } satisfies AuthenticatedSession;
  // The key's current limits (copied from the session item at creation as a fallback), so plan and
  // key-limit changes reach live sessions as they reach API-key requests.
  req.rateSubject = {
    organizationId: session.organizationId,
    keyId: session.keyId,
    orgLimits: key.orgLimits ?? session.orgLimits,
    orgLimitsVersion: key.orgLimits ? (key.orgLimitsVersion ?? 0) : 0,
    keyLimits: key.rateLimit !== undefined ? key.rateLimit : session.keyLimits,
  };
}
