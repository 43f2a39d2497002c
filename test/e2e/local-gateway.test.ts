// The local runtime builds events the way API Gateway REST does for repeated headers and query
// parameters: the last value in headers/queryStringParameters, every value in the multi-value maps.
import { request } from 'node:http';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { LocalKeygate } from '../../infra/local/environment.ts';
import { ApiClient, portalUser, startTestApi, uniqueUser } from '../support/api.ts';

let keygate: LocalKeygate;

beforeAll(async () => {
  keygate = await startTestApi();
});

afterAll(async () => {
  await keygate?.stop();
});

it('a repeated X-API-Key counts by its last value, as in API Gateway', async () => {
  const owner = await portalUser(keygate.url, uniqueUser('owner'));
  const org = (await owner.post('/v1/organizations', { name: 'Headers' })).body;
  const key = (await owner.post(`/v1/organizations/${org.id}/api-keys`, { name: 'k', type: 'secret' })).body;
  expect(await statusWithRawHeaders('/v1/auth/whoami', ['X-API-Key', 'sk_not_this_one', 'X-API-Key', key.key])).toBe(200);
  expect(await statusWithRawHeaders('/v1/auth/whoami', ['X-API-Key', key.key, 'X-API-Key', 'sk_not_this_one'])).toBe(401);
});

it('a repeated query parameter counts by its last value', async () => {
  const owner = await portalUser(keygate.url, uniqueUser('owner'));
  const org = (await owner.post('/v1/organizations', { name: 'Query' })).body;
  const res = await new ApiClient(keygate.url, owner.headers).get(`/v1/organizations/${org.id}/usage?days=500&days=2`);
  expect(res.status).toBe(200);
  expect(res.body.items).toHaveLength(2);
});

/** fetch merges repeated headers into one line; node:http sends each line as given. */
function statusWithRawHeaders(path: string, rawHeaders: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const url = new URL(keygate.url.replace('localhost', '127.0.0.1'));
    const req = request(`${url.origin}${path}`, { headers: ['Host', url.host, ...rawHeaders] }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
}
