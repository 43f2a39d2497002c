// The typed management client (docs/api.md "Authentication" and "Routes") over the shared fetch core in
// http.ts. Every call sends the portal token; every failure is an ApiClientError to show in an alert.
import type { Assistant } from '../../shared/domain/assistants.ts';
import type { DailyUsage as UsageDay } from '../../shared/domain/usage.ts';
import { requestJson, type RequestOptions } from './http.ts';

export type Role = 'owner' | 'admin' | 'member';
export type Plan = 'free' | 'starter' | 'pro' | 'enterprise';
export type KeyType = 'secret' | 'publishable';
export type KeyStatus = 'active' | 'disabled' | 'expired';
export type Scope = 'chat' | 'completions' | 'export';

export interface Limits {
  perMinute: number;
  perDay: number;
  /** Token limits (docs/api.md "Credits by tokens, and token limits"). */
  tokensPerMinute?: number;
  tokensPerDay?: number;
}

/** How replies are charged: one credit each, or whole credits per 1,000 input and output tokens. */
export type Billing = { mode: 'reply' } | { mode: 'tokens'; inputPer1k: number; outputPer1k: number };

export interface Organization {
  id: string;
  name: string;
  plan: Plan;
  limits: Limits;
  /** Absent on an API that predates billing by tokens: one credit per reply. */
  billing?: Billing;
  credits: number;
  /** Credits held by replies in progress (absent on an API without holds). */
  creditsHeld?: number;
  defaultAssistantId?: string | null;
  createdAt: string;
}

/** An organization as GET /v1/organizations lists it: with the caller's role. */
export interface Membership extends Organization {
  role: Role;
}

export interface Member {
  userId: string;
  email?: string;
  role: Role;
}

export interface Database {
  id: string;
  name: string;
  /** The assistant its widget keys answer with by default; null: the organization's default. */
  assistantId: string | null;
  createdAt: string;
}

/** A deployed chat backend (docs/api.md "Chat backends (upstreams) and assistants"). */
export interface Upstream {
  name: string;
  kind: string;
  /** Empty for kinds without models (http, echo). */
  models: string[];
}

export type { Assistant } from '../../shared/domain/assistants.ts';

export interface AssistantInput {
  name: string;
  upstream: string;
  model?: string | null;
  instructions?: string;
  maxInputTokens?: number;
  maxOutputTokens?: number;
  temperature?: number | null;
}

export interface ApiKey {
  id: string;
  organizationId: string;
  name: string;
  type: KeyType;
  displayKey: string;
  status: KeyStatus;
  createdAt: string;
  expiresAt: string;
  allowedDomains: string[];
  databaseId: string | null;
  /** Publishable keys: the assistant they are pinned to. */
  assistantId: string | null;
  scopes: Scope[];
  rateLimit: Partial<Limits> | null;
  lastUsedAt: string | null;
  usageCount: number;
  createdBy: string;
  /** The id of the key a roll made from this one (this one expires at the end of the grace period). */
  replacedBy: string | null;
  /** Publishable keys only: their plaintext, readable by members at any time. */
  key?: string;
}

/** The create and roll answers: the key object plus its plaintext, shown once for secret keys. */
export interface NewApiKey extends ApiKey {
  key: string;
}

export interface CreateKeyInput {
  name: string;
  type: KeyType;
  allowedDomains?: string[] | string;
  databaseId?: string;
  assistantId?: string;
  scopes?: Scope[];
  expiresInDays?: number;
  rateLimit?: Partial<Limits>;
}

export interface KeyPage {
  items: ApiKey[];
  nextCursor: string | null;
}

export interface KeyListQuery {
  type?: KeyType;
  status?: KeyStatus;
  limit?: number;
  cursor?: string;
}

export type { DailyUsage as UsageDay } from '../../shared/domain/usage.ts';

export interface AuditEntry {
  id: string;
  action: string;
  actor: { type: 'user' | 'operator' | 'system'; id: string; email?: string };
  target: { type: string; id: string };
  occurredAt: string;
  requestId?: string;
  sourceIp?: string;
  userAgent?: string;
  changes?: { field: string; from: unknown; to: unknown }[];
}

export interface Items<T> {
  items: T[];
}

function query(params: Record<string, string | number | undefined>): string {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) if (value !== undefined && value !== '') search.set(name, String(value));
  const text = search.toString();
  return text ? `?${text}` : '';
}

const org = (orgId: string) => `/v1/organizations/${encodeURIComponent(orgId)}`;
const key = (orgId: string, keyId: string) => `${org(orgId)}/api-keys/${encodeURIComponent(keyId)}`;

export class ManagementClient {
  readonly baseUrl: string;
  private readonly token: () => string | undefined;

  /** `token` is read on every call, so a renewed sign-in is picked up without a new client. */
  constructor(baseUrl: string, token: () => string | undefined) {
    this.baseUrl = baseUrl;
    this.token = token;
  }

  private call<T>(path: string, options: RequestOptions = {}): Promise<T> {
    const token = this.token();
    return requestJson<T>(this.baseUrl, path, {
      ...options,
      headers: { ...options.headers, ...(token ? { Authorization: `Bearer ${token}` } : {}) },
    });
  }

  listOrganizations() {
    return this.call<Items<Membership>>('/v1/organizations');
  }
  /** Operators: any organization whose name contains `q` or whose id starts with it. */
  searchOrganizations(q: string, cursor?: string) {
    return this.call<{ items: Organization[]; nextCursor: string | null }>(`/v1/organizations${query({ all: 'true', q, limit: 20, cursor })}`);
  }
  createOrganization(name: string) {
    return this.call<Membership>('/v1/organizations', { method: 'POST', body: { name } });
  }
  getOrganization(orgId: string) {
    return this.call<Organization>(org(orgId));
  }
  /** Operators only. */
  updatePlan(orgId: string, change: { plan?: Plan; limits?: Limits; billing?: Billing }) {
    return this.call<Organization>(org(orgId), { method: 'PATCH', body: change });
  }
  /** Owners only. */
  updateOrganization(orgId: string, change: { name?: string; defaultAssistantId?: string }) {
    return this.call<Organization>(org(orgId), { method: 'PATCH', body: change });
  }
  /** Operators only; `amount` may be negative. */
  grantCredits(orgId: string, amount: number, reason?: string) {
    return this.call<{ credits: number }>(`${org(orgId)}/credits`, { method: 'POST', body: { amount, ...(reason ? { reason } : {}) } });
  }

  listMembers(orgId: string) {
    return this.call<Items<Member>>(`${org(orgId)}/members`);
  }
  inviteMember(orgId: string, email: string, role: Role) {
    return this.call<Member>(`${org(orgId)}/members`, { method: 'POST', body: { email, role } });
  }
  setMemberRole(orgId: string, userId: string, role: Role) {
    return this.call<Member>(`${org(orgId)}/members/${encodeURIComponent(userId)}`, { method: 'PUT', body: { role } });
  }
  removeMember(orgId: string, userId: string) {
    return this.call<void>(`${org(orgId)}/members/${encodeURIComponent(userId)}`, { method: 'DELETE' });
  }

  listDatabases(orgId: string) {
    return this.call<Items<Database>>(`${org(orgId)}/databases`);
  }
  createDatabase(orgId: string, name: string) {
    return this.call<Database>(`${org(orgId)}/databases`, { method: 'POST', body: { name } });
  }
  /** `assistantId: null` goes back to the organization's default. */
  updateDatabase(orgId: string, databaseId: string, change: { name?: string; assistantId?: string | null }) {
    return this.call<Database>(`${org(orgId)}/databases/${encodeURIComponent(databaseId)}`, { method: 'PATCH', body: change });
  }

  listUpstreams(orgId: string) {
    return this.call<Items<Upstream>>(`${org(orgId)}/upstreams`);
  }
  listAssistants(orgId: string) {
    return this.call<Items<Assistant>>(`${org(orgId)}/assistants`);
  }
  createAssistant(orgId: string, input: AssistantInput) {
    return this.call<Assistant>(`${org(orgId)}/assistants`, { method: 'POST', body: input });
  }
  updateAssistant(orgId: string, assistantId: string, change: Partial<AssistantInput>) {
    return this.call<Assistant>(`${org(orgId)}/assistants/${encodeURIComponent(assistantId)}`, { method: 'PATCH', body: change });
  }
  deleteAssistant(orgId: string, assistantId: string) {
    return this.call<void>(`${org(orgId)}/assistants/${encodeURIComponent(assistantId)}`, { method: 'DELETE' });
  }

  listKeys(orgId: string, filter: KeyListQuery = {}) {
    return this.call<KeyPage>(`${org(orgId)}/api-keys${query({ ...filter })}`);
  }
  getKey(orgId: string, keyId: string) {
    return this.call<ApiKey>(key(orgId, keyId));
  }
  createKey(orgId: string, input: CreateKeyInput) {
    return this.call<NewApiKey>(`${org(orgId)}/api-keys`, { method: 'POST', body: input });
  }
  updateKey(
    orgId: string,
    keyId: string,
    change: { name?: string; allowedDomains?: string[] | string; assistantId?: string; status?: 'active' | 'disabled'; rateLimit?: Partial<Limits> | null },
  ) {
    return this.call<ApiKey>(key(orgId, keyId), { method: 'PATCH', body: change });
  }
  revokeKey(orgId: string, keyId: string) {
    return this.call<void>(key(orgId, keyId), { method: 'DELETE' });
  }
  rollKey(orgId: string, keyId: string, gracePeriodHours?: number) {
    return this.call<NewApiKey>(`${key(orgId, keyId)}/roll`, {
      method: 'POST',
      body: gracePeriodHours === undefined ? {} : { gracePeriodHours },
    });
  }

  keyUsage(orgId: string, keyId: string, days: number) {
    return this.call<Items<UsageDay>>(`${key(orgId, keyId)}/usage${query({ days })}`);
  }
  organizationUsage(orgId: string, days: number) {
    return this.call<Items<UsageDay>>(`${org(orgId)}/usage${query({ days })}`);
  }

  /** docs/api.md "Audit log" (owner, admin, operators). */
  auditLog(orgId: string, filter: { limit?: number; cursor?: string; action?: string; targetId?: string } = {}) {
    return this.call<{ items: AuditEntry[]; nextCursor: string | null }>(`${org(orgId)}/audit-log${query(filter)}`);
  }
}
