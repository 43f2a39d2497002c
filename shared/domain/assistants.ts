// Assistants (docs/api.md, "Assistants and who answers"): the `Default` every organization has, who
// answers a request, and the maxInputTokens trimming of a conversation. What an assistant may be
// created or changed with is in assistant-rules.ts: its zod schemas are built when that module
// loads, and only management needs them. Pure: the deployed upstreams are an argument.
import { validationError } from './errors.ts';

export interface Assistant {
  id: string;
  organizationId: string;
  name: string;
  /** Name of a deployed upstream. */
  upstream: string;
  /** One of the upstream's models; null for upstreams without models (http, echo). */
  model: string | null;
  /** The system prompt; '' for none. */
  instructions: string;
  maxInputTokens: number;
  maxOutputTokens: number;
  /** null: the upstream's own. */
  temperature: number | null;
  createdAt: string;
}

/** What rules need to know of a deployed upstream (the upstream config module has the rest). */
export interface UpstreamChoice {
  name: string;
  kind: string;
  /** Empty for kinds without models (http, echo). */
  models: readonly string[];
}

export const DEFAULT_ASSISTANT_NAME = 'Default';
export const ASSISTANT_NAME_MAX = 50;
export const INSTRUCTIONS_MAX = 8_000;
export const MAX_INPUT_TOKENS = { min: 1, max: 200_000, default: 8_000 } as const;
export const MAX_OUTPUT_TOKENS = { min: 1, max: 32_000, default: 1_024 } as const;
export const TEMPERATURE = { min: 0, max: 2 } as const;

/** The settings an owner chooses (everything but id, organizationId and createdAt). */
export type AssistantSettings = Omit<Assistant, 'id' | 'organizationId' | 'createdAt'>;

const SETTING_FIELDS = ['name', 'upstream', 'model', 'instructions', 'maxInputTokens', 'maxOutputTokens', 'temperature'] as const;

/** The fields that differ, as audit changes. Instructions are logged by length only (they may be long). */
export function settingsChanges(before: AssistantSettings | null, after: AssistantSettings): { field: string; from: unknown; to: unknown }[] {
  const out: { field: string; from: unknown; to: unknown }[] = [];
  for (const field of SETTING_FIELDS) {
    const from = before === null ? null : before[field];
    const to = after[field];
    if (before !== null && from === to) continue;
    if (field === 'instructions') {
      out.push({ field: 'instructions.length', from: before === null ? null : (from as string).length, to: (to as string).length });
    } else {
      out.push({ field, from, to });
    }
  }
  return out;
}

/** The `Default` assistant an organization starts with: on the default upstream, every default. */
export function defaultAssistantSettings(upstreams: readonly UpstreamChoice[], defaultUpstream: string): AssistantSettings {
  const upstream = upstreams.find((u) => u.name === defaultUpstream) ?? upstreams[0];
  if (!upstream) throw new Error('No upstream is deployed');
  return {
    name: DEFAULT_ASSISTANT_NAME,
    upstream: upstream.name,
    model: upstream.models[0] ?? null,
    instructions: '',
    maxInputTokens: MAX_INPUT_TOKENS.default,
    maxOutputTokens: MAX_OUTPUT_TOKENS.default,
    temperature: null,
  };
}

/**
 * The key that makes names unique in an organization: case and Unicode form folded, so `Support` and
 * `support` are one name (both would answer to `assistant: "support"`).
 */
export function assistantNameKey(name: string): string {
  return name.normalize('NFKC').toLowerCase();
}

/** Whether a request's `assistant` value is an id (else it is a name). */
export function isAssistantId(value: string): boolean {
  return /^asst_[0-9A-Za-z]{1,64}$/.test(value);
}

/** Whether `ref` (an id or a name) names `assistant`. */
export function namesAssistant(ref: string, assistant: Pick<Assistant, 'id' | 'name'>): boolean {
  return isAssistantId(ref) ? ref === assistant.id : assistantNameKey(ref) === assistantNameKey(assistant.name);
}

// --- Who answers -------------------------------------------------------------------------------

export const PINNED_MESSAGE = 'This publishable key is pinned to its assistant: a request cannot name another assistant or send its own system prompt';

/** Where the assistant that answers comes from. */
export type AssistantRef =
  | { by: 'request'; ref: string }
  | { by: 'key'; id: string }
  | { by: 'database'; id: string }
  | { by: 'default' };

export interface WhoAnswersInput {
  keyType: 'secret' | 'publishable';
  /** The key's pinned assistant (publishable keys; null for keys created before assistants). */
  keyAssistantId: string | null;
  /** The request's `assistant` (id or name), if it named one. */
  requested: string | undefined;
  /** The assistant of the request's database (`X-Database-Id` or the key's), if it names one. */
  databaseAssistantId: string | null;
  /** Whether the request carries its own system prompt (a `system` or `developer` message). */
  hasSystemMessage?: boolean;
}

/**
 * Which assistant answers (docs/api.md, "Who answers"). A secret key: the request's, else the
 * database's, else the org default. A publishable key: its pin, whatever the request says (its
 * database's, else the org default, for keys made before pins existed); a request that names
 * another assistant or brings a system prompt is refused by `checkPin` once the pin is loaded.
 */
export function whoAnswers(input: WhoAnswersInput): AssistantRef {
  if (input.keyType === 'publishable') {
    if (input.keyAssistantId) return { by: 'key', id: input.keyAssistantId };
    if (input.databaseAssistantId) return { by: 'database', id: input.databaseAssistantId };
    return { by: 'default' };
  }
  if (input.requested !== undefined) return { by: 'request', ref: input.requested };
  if (input.databaseAssistantId) return { by: 'database', id: input.databaseAssistantId };
  return { by: 'default' };
}

/** 403 for a publishable key's request that names another assistant or carries a system prompt. */
export function pinViolation(
  pinned: Pick<Assistant, 'id' | 'name'>,
  requested: string | undefined,
  hasSystemMessage = false,
): boolean {
  if (hasSystemMessage) return true;
  return requested !== undefined && !namesAssistant(requested, pinned);
}

/** The assistant a new publishable key is pinned to: the one given, else its database's, else the org default. */
export function pinForNewKey(given: string | null | undefined, databaseAssistantId: string | null, orgDefaultId: string): string {
  return given ?? databaseAssistantId ?? orgDefaultId;
}

// --- maxInputTokens trimming ----------------------------------------------------------------------

/**
 * Tokens counted for each message on top of its text: the role and the separators chat templates add
 * (ChatML spends 4, Llama 3 about 5). 8 is above both, so the bound stays an upper bound.
 */
export const MESSAGE_OVERHEAD_TOKENS = 8;

const encoder = new TextEncoder();

/**
 * An upper bound on a text's tokens: its UTF-8 bytes (byte-level BPE tokenizers never make a token
 * of less than one byte) plus the per-message overhead.
 */
export function messageTokenBound(content: string): number {
  return encoder.encode(content).length + MESSAGE_OVERHEAD_TOKENS;
}

export interface Turn {
  role: 'user' | 'assistant';
  content: string;
}

export interface TrimResult<T extends Turn> {
  /** The newest turns that fit, oldest first, starting with a user turn. */
  turns: T[];
  /** How many older turns were left out. */
  omitted: number;
  /** The bound on the input tokens of what is sent (instructions included). */
  inputTokenBound: number;
}

/**
 * The conversation an upstream gets under `maxInputTokens`: the instructions (counted as one message
 * when set) and the newest turns that fit, leaving out the oldest first. What is kept is a contiguous
 * tail that starts with a user turn (Bedrock's Converse refuses a conversation that starts with the
 * assistant). 400 VALIDATION_ERROR when the instructions and the newest message alone do not fit.
 */
export function trimTurns<T extends Turn>(
  instructions: string,
  turns: readonly T[],
  maxInputTokens: number,
  /** The request field holding the newest message, named in the 400. */
  field = 'message',
): TrimResult<T> {
  if (turns.length === 0) throw new Error('trimTurns needs at least the newest message');
  let used = instructions === '' ? 0 : messageTokenBound(instructions);
  const newest = turns[turns.length - 1]!;
  used += messageTokenBound(newest.content);
  if (used > maxInputTokens) {
    throw validationError(
      [{ field, message: `the assistant's instructions and this message exceed its maxInputTokens (${maxInputTokens})` }],
      `Message too long for the assistant: its instructions and this message exceed maxInputTokens (${maxInputTokens})`,
    );
  }
  let start = turns.length - 1;
  while (start > 0) {
    const cost = messageTokenBound(turns[start - 1]!.content);
    if (used + cost > maxInputTokens) break;
    used += cost;
    start -= 1;
  }
  while (start < turns.length - 1 && turns[start]!.role !== 'user') {
    used -= messageTokenBound(turns[start]!.content);
    start += 1;
  }
  return { turns: turns.slice(start), omitted: start, inputTokenBound: used };
}
