// The response check the end-to-end suite runs on every call must itself catch drift: an
// undeclared status, a missing field, an extra field, an unknown error code, a wrong media type.
import { describe, expect, it } from 'vitest';
import { checkAgainstApiDescription } from '../support/api-description-check.ts';

const BASE = 'http://localhost:3000';
const JSON_TYPE = 'application/json';
const org = { id: 'org_1', name: 'Acme', plan: 'free', limits: { perMinute: 10, perDay: 1000 }, credits: 100, creditsHeld: 0, defaultAssistantId: 'asst_1', billing: { mode: 'reply' }, createdAt: '2026-12-01T00:00:00.000Z' };

describe('checkAgainstApiDescription', () => {
  it('accepts a response the description declares', async () => {
    await expect(checkAgainstApiDescription('GET', `${BASE}/v1/organizations/org_1`, 200, JSON_TYPE, JSON.stringify(org))).resolves.toBeUndefined();
  });

  it('refuses a missing field', async () => {
    const { credits: _c, ...partial } = org;
    await expect(checkAgainstApiDescription('GET', `${BASE}/v1/organizations/org_1`, 200, JSON_TYPE, JSON.stringify(partial))).rejects.toThrow(/credits/);
  });

  it('refuses an undescribed field', async () => {
    await expect(
      checkAgainstApiDescription('GET', `${BASE}/v1/organizations/org_1`, 200, JSON_TYPE, JSON.stringify({ ...org, secret: 'x' })),
    ).rejects.toThrow(/additional properties/);
  });

  it('refuses a status the route does not declare', async () => {
    const body = JSON.stringify({ error: 'rate_limit_exceeded', message: 'x', code: 'RATE_LIMIT_EXCEEDED', retry_after: 1 });
    await expect(checkAgainstApiDescription('GET', `${BASE}/v1/organizations/org_1`, 429, JSON_TYPE, body)).rejects.toThrow(/not declared/);
  });

  it('refuses an error code that status does not carry on that route', async () => {
    const body = JSON.stringify({ error: 'unauthorized', message: 'x', code: 'INVALID_API_KEY' });
    await expect(checkAgainstApiDescription('GET', `${BASE}/v1/organizations/org_1`, 401, JSON_TYPE, body)).rejects.toThrow(/allowed values/);
  });

  it('refuses a body in another media type than declared', async () => {
    await expect(checkAgainstApiDescription('GET', `${BASE}/v1/auth/whoami`, 200, 'text/html', '<html>')).rejects.toThrow(/content type/);
  });

  it('accepts an error in the error format on an unknown route, and refuses anything else there', async () => {
    const body = JSON.stringify({ error: 'not_found', message: 'Resource not found', code: 'NOT_FOUND' });
    await expect(checkAgainstApiDescription('GET', `${BASE}/nope`, 404, JSON_TYPE, body)).resolves.toBeUndefined();
    await expect(checkAgainstApiDescription('GET', `${BASE}/nope`, 200, JSON_TYPE, '{}')).rejects.toThrow(/unknown route/);
  });
});
