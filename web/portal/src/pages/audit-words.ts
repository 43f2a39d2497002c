// An audit entry's changes in words: "Name changed from Old to New", "Status changed from active to
// disabled", "Allowed domains set to a.com, b.com". Fields that did not change are left out.

export interface Target {
  label: string;
  /** What a person may type in the Target filter to mean it. */
  search: string[];
}

const FIELD_LABEL: Record<string, string> = {
  name: 'Name',
  type: 'Type',
  expiresAt: 'Expiry',
  allowedDomains: 'Allowed domains',
  databaseId: 'Database',
  assistantId: 'Assistant',
  defaultAssistantId: 'Default assistant',
  upstream: 'Upstream',
  model: 'Model',
  instructions: 'Instructions',
  maxInputTokens: 'Max input tokens',
  maxOutputTokens: 'Max output tokens',
  temperature: 'Temperature',
  billing: 'Billing',
  scopes: 'Scopes',
  rateLimit: 'Rate limit',
  status: 'Status',
  rolledTo: 'Replacement key',
  role: 'Role',
  plan: 'Plan',
  limits: 'Limits',
  credits: 'Credits',
  amount: 'Amount',
  reason: 'Reason',
  email: 'Email',
  url: 'URL',
  events: 'Events',
};

const LIMIT_LABEL: Record<string, string> = { perMinute: 'per minute', perDay: 'per day', tokensPerMinute: 'tokens per minute', tokensPerDay: 'tokens per day' };

const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/;

function isEmpty(value: unknown): boolean {
  return value === null || value === undefined || value === '' || (Array.isArray(value) && value.length === 0);
}

/** Fields whose values are ids of things people know by name. */
const ID_FIELDS = new Set(['assistantId', 'defaultAssistantId', 'databaseId', 'rolledTo']);

/** `{mode:'reply'}` or `{mode:'tokens', inputPer1k, outputPer1k}` in words. */
function billingWords(value: unknown, number: (n: number) => string): string | undefined {
  if (typeof value !== 'object' || value === null || !('mode' in value)) return undefined;
  const billing = value as { mode: string; inputPer1k?: number; outputPer1k?: number };
  if (billing.mode === 'reply') return 'one credit per reply';
  if (billing.mode === 'tokens') return `${number(billing.inputPer1k ?? 0)} credits per 1,000 input tokens and ${number(billing.outputPer1k ?? 0)} per 1,000 output tokens`;
  return undefined;
}

export function words(value: unknown, dateTime: (iso: string) => string, number: (n: number) => string): string {
  if (isEmpty(value)) return 'none';
  const billing = billingWords(value, number);
  if (billing) return billing;
  if (Array.isArray(value)) return value.map((v) => words(v, dateTime, number)).join(', ');
  if (typeof value === 'number') return number(value);
  if (typeof value === 'string') return ISO_TIME.test(value) ? dateTime(value) : value;
  if (typeof value === 'object') {
    return Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => !isEmpty(v))
      .map(([k, v]) => `${words(v, dateTime, number)} ${LIMIT_LABEL[k] ?? k}`)
      .join(', ') || 'none';
  }
  return String(value);
}

export function describeChanges(
  changes: { field: string; from: unknown; to: unknown }[] | undefined,
  dateTime: (iso: string) => string,
  number: (n: number) => string,
  /** The name of an id (an assistant, a database, a key), when known. */
  nameOf: (id: string) => string | undefined = () => undefined,
): string {
  const value = (field: string, v: unknown) => (ID_FIELDS.has(field) && typeof v === 'string' ? (nameOf(v) ?? v) : words(v, dateTime, number));
  const sentences = (changes ?? [])
    .filter((c) => JSON.stringify(c.from ?? null) !== JSON.stringify(c.to ?? null))
    .map((c) => {
      const label = FIELD_LABEL[c.field] ?? c.field;
      const from = value(c.field, c.from);
      const to = value(c.field, c.to);
      if (isEmpty(c.from)) return `${label} set to ${to}`;
      if (isEmpty(c.to)) return `${label} removed (was ${from})`;
      return `${label} changed from ${from} to ${to}`;
    });
  return sentences.length ? `${sentences.join('. ')}.` : '—';
}
