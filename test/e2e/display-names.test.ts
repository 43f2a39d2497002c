// Display names refuse what spoofs them (docs/api.md "Keys": names have no control characters):
// bidirectional controls (U+202E makes `Backend‮gpj.exe` read as `Backendexe.jpg`) and lone
// surrogates, in key and organization names (create and rename), with 400 VALIDATION_ERROR naming
// the field. Bodies are sent as raw JSON text so `\ud800` reaches the API as a lone surrogate.
import { describe, expect, it } from 'vitest';
import { fileTestApiWithUsers } from '../support/api.ts';

const { keygate, owner } = await fileTestApiWithUsers('names');
const orgId: string = (await owner.post('/v1/organizations', { name: 'Names' })).body.id;
const keyId: string = (await owner.post(`/v1/organizations/${orgId}/api-keys`, { name: 'plain', type: 'secret' })).body.id;

/** Each spoofing character, as a JSON escape inside the name `Backend<c>gpj.exe`. */
const SPOOFING = [
  '\\u202a', '\\u202b', '\\u202c', '\\u202d', '\\u202e', // embeddings and overrides
  '\\u2066', '\\u2067', '\\u2068', '\\u2069', // isolates
  '\\u200e', '\\u200f', '\\u061c', // marks
  '\\ud800', '\\udfff', // lone surrogates
];

const nameWith = (escape: string) => `"Backend${escape}gpj.exe"`;

describe('names that spoof their display are refused', () => {
  it.each(SPOOFING)('key name with %s: 400 naming name', async (escape) => {
    const res = await owner.post(`/v1/organizations/${orgId}/api-keys`, `{"name":${nameWith(escape)},"type":"secret"}`);
    expect(res.status, res.text).toBe(400);
    expect(res.body).toMatchObject({ error: 'validation_error', code: 'VALIDATION_ERROR' });
    expect(res.body.details).toEqual([{ field: 'name', message: expect.any(String) }]);
  });

  it.each(SPOOFING)('key rename with %s: 400 naming name, the name unchanged', async (escape) => {
    const res = await owner.call('PATCH', `/v1/organizations/${orgId}/api-keys/${keyId}`, `{"name":${nameWith(escape)}}`);
    expect(res.status, res.text).toBe(400);
    expect(res.body.details).toEqual([{ field: 'name', message: expect.any(String) }]);
    expect((await owner.get(`/v1/organizations/${orgId}/api-keys/${keyId}`)).body.name).toBe('plain');
  });

  it.each(SPOOFING)('organization name with %s: 400 naming name', async (escape) => {
    const res = await owner.post('/v1/organizations', `{"name":${nameWith(escape)}}`);
    expect(res.status, res.text).toBe(400);
    expect(res.body).toMatchObject({ error: 'validation_error', code: 'VALIDATION_ERROR' });
    expect(res.body.details).toEqual([{ field: 'name', message: expect.any(String) }]);
  });

  it('the message says why', async () => {
    const bidi = await owner.post('/v1/organizations', `{"name":${nameWith('\\u202e')}}`);
    expect(bidi.body.details[0].message).toMatch(/bidirectional/i);
    const surrogate = await owner.post('/v1/organizations', `{"name":${nameWith('\\ud800')}}`);
    expect(surrogate.body.details[0].message).toMatch(/surrogate/i);
  });

  it('names in any script, emoji (surrogate pairs) and right-to-left text stay accepted', async () => {
    for (const name of ['Acme 🚀', 'مؤسسة', 'שלום עולם', 'Ünïcode 日本語', '👩‍💻 team']) {
      const org = await owner.post('/v1/organizations', { name });
      expect(org.status, `${name}: ${org.text}`).toBe(201);
      expect(org.body.name).toBe(name);
      const key = await owner.post(`/v1/organizations/${orgId}/api-keys`, { name, type: 'secret' });
      expect(key.status, `${name}: ${key.text}`).toBe(201);
      expect(key.body.name).toBe(name);
    }
  });
});
