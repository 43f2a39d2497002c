// Which assistant answers a request (docs/api.md, "Who answers"), with the reads it takes: the rule
// itself is `whoAnswers` / `pinViolation` in shared/domain/assistants.ts.
import {
  PINNED_MESSAGE,
  pinViolation,
  whoAnswers,
  type Assistant,
  type UpstreamChoice,
} from '../domain/assistants.ts';
import { ApiError, validationError } from '../domain/errors.ts';
import type { KeyIdentity } from '../domain/key-identity.ts';
import { assistantView, ensureDefaultAssistant, findAssistant, getAssistant } from '../db/assistants.ts';
import { getDatabase } from '../db/databases.ts';
import { getOrganization } from '../db/organizations.ts';
import { defaultUpstreamName, listUpstreams } from './upstreams.ts';

/** The deployed upstreams, as new organizations' `Default` assistant needs them. */
export function organizationAssistants(): { upstreams: readonly UpstreamChoice[]; defaultUpstream: string } {
  return { upstreams: listUpstreams(), defaultUpstream: defaultUpstreamName() };
}

/** The organization's default assistant id, creating `Default` first where it predates assistants. */
export function defaultAssistantOf(org: { id: string; defaultAssistantId?: string | null }): Promise<string> {
  return ensureDefaultAssistant(org, listUpstreams(), defaultUpstreamName());
}

async function orgDefault(organizationId: string): Promise<Assistant> {
  const org = await getOrganization(organizationId);
  if (!org) throw new ApiError('NOT_FOUND', 'Organization not found');
  const id = await defaultAssistantOf(org);
  const assistant = await getAssistant(organizationId, id);
  if (!assistant) throw new ApiError('SERVICE_UNAVAILABLE', 'The default assistant is unavailable, try again', {}, { 'Retry-After': '1' });
  return assistantView(assistant);
}

async function databaseAssistantId(organizationId: string, databaseId: string | null | undefined): Promise<string | null> {
  if (!databaseId) return null;
  return (await getDatabase(organizationId, databaseId))?.assistantId ?? null;
}

export interface AnswerRequest {
  key: Pick<KeyIdentity, 'organizationId' | 'type' | 'databaseId' | 'assistantId'>;
  /** The body's `assistant` (id or name), if given. */
  requested?: string | undefined;
  /** `X-Database-Id` (secret keys; a publishable key's own database is in `key`). */
  database?: string | undefined;
  /** The request carries its own system prompt (a `system` or `developer` message). */
  hasSystemMessage?: boolean;
  /** The body field that named the assistant, for the 400 of an unknown one. */
  field?: string;
  /** An unknown one is 404 NOT_FOUND instead (the OpenAI-compatible route's unknown `model`). */
  unknownIsNotFound?: boolean;
}

/** 404 for a `model` that names no assistant of the organization (OpenAI answers an unknown model so). */
export function unknownModel(field: string, ref: string): ApiError {
  const message = 'names no assistant of this organization';
  return new ApiError('NOT_FOUND', `The model '${ref.slice(0, 64)}' does not exist: it ${message}`, { details: [{ field, message }] });
}

/**
 * The assistant that answers. A secret key: the one the request names (400 if the organization has
 * none by that id or name), else its database's, else the organization's default. A publishable
 * key: the one it is pinned to (403 when the request names another or brings a system prompt).
 */
export async function resolveAssistant(request: AnswerRequest): Promise<Assistant> {
  const { key } = request;
  const org = key.organizationId;
  const databaseId = key.type === 'publishable' ? key.databaseId : (request.database ?? key.databaseId);
  const needDatabase = key.type === 'publishable' ? !key.assistantId : request.requested === undefined;
  const databaseAssistant = needDatabase ? await databaseAssistantId(org, databaseId) : null;
  const ref = whoAnswers({
    keyType: key.type,
    keyAssistantId: key.assistantId ?? null,
    requested: request.requested,
    databaseAssistantId: databaseAssistant,
  });
  let assistant: Assistant | undefined;
  switch (ref.by) {
    case 'request': {
      const found = await findAssistant(org, ref.ref);
      if (!found && request.unknownIsNotFound) throw unknownModel(request.field ?? 'assistant', ref.ref);
      if (!found) throw validationError([{ field: request.field ?? 'assistant', message: 'names no assistant of this organization' }]);
      assistant = assistantView(found);
      break;
    }
    case 'key':
    case 'database': {
      const found = await getAssistant(org, ref.id);
      // A reference is kept from naming a deleted assistant; should one still dangle, the default answers.
      assistant = found ? assistantView(found) : await orgDefault(org);
      break;
    }
    case 'default':
      assistant = await orgDefault(org);
  }
  if (key.type === 'publishable' && pinViolation(assistant, request.requested, request.hasSystemMessage ?? false)) {
    throw new ApiError('INSUFFICIENT_PERMISSIONS', PINNED_MESSAGE);
  }
  return assistant;
}
