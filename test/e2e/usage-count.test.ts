// usageCount on the key object is exact whenever it is read (docs/api.md "Rate limits and credits"), over HTTP:
// three admitted requests in one minute read back as 3 from GET key, the list and PATCH, a refused
// request (429) counts nothing, and lastUsedAt lags by at most 60 s.
import { beforeAll, describe, expect, it } from 'vitest';
import { ApiClient, fileTestApiWithUsers } from '../support/api.ts';

const { keygate, owner } = await fileTestApiWithUsers('usage');
let orgId: string;

beforeAll(async () => {
  const org = await owner.post('/v1/organizations', { name: 'Counting' });
  expect(org.status, org.text).toBe(201);
  orgId = org.body.id;
});

describe('usageCount', () => {
  it('three admitted requests in one minute read back as 3 on GET, in the list and from PATCH; a 429 adds nothing', { timeout: 30_000 }, async () => {
    // Away from a minute's end: four requests straddling a boundary would all be admitted.
    const second = new Date().getUTCSeconds();
    if (second > 55) await new Promise((resolve) => setTimeout(resolve, (61 - second) * 1000));
    const created = await owner.post(`/v1/organizations/${orgId}/api-keys`, { name: 'counted', type: 'secret', rateLimit: { perMinute: 3 } });
    expect(created.status, created.text).toBe(201);
    expect(created.body.usageCount).toBe(0);
    const api = new ApiClient(keygate.url, { 'X-API-Key': created.body.key });
    const started = Date.now();
    for (let i = 0; i < 3; i++) expect((await api.get('/v1/auth/whoami')).status).toBe(200);
    expect((await api.get('/v1/auth/whoami')).status).toBe(429);

    const key = await owner.get(`/v1/organizations/${orgId}/api-keys/${created.body.id}`);
    expect(key.body.usageCount).toBe(3);
    expect(Date.parse(key.body.lastUsedAt)).toBeGreaterThanOrEqual(Math.floor(started / 1000) * 1000);
    expect(Date.now() - Date.parse(key.body.lastUsedAt)).toBeLessThan(60_000);

    const list = await owner.get(`/v1/organizations/${orgId}/api-keys`);
    expect(list.body.items.find((k: { id: string }) => k.id === created.body.id).usageCount).toBe(3);

    const patched = await owner.patch(`/v1/organizations/${orgId}/api-keys/${created.body.id}`, { name: 'renamed' });
    expect(patched.body).toMatchObject({ name: 'renamed', usageCount: 3 });
  });
});
