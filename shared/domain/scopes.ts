// What a key may be used for (docs/api.md "Routes"): `chat` (chat and voice sessions, one-shot
// messages), `completions` (the OpenAI-compatible routes, docs/openai.md) and `export` (data
// export). Routes name the scope they need; keys hold a set of them.

export type Scope = 'chat' | 'completions' | 'export';
export const SCOPES: readonly Scope[] = ['chat', 'completions', 'export'];
