// Which URLs may receive webhook deliveries (docs/api.md "Webhooks"), expectations written from the
// contract: the SSRF defences, which refuse before any connection is made.
import { describe, expect, it, vi } from 'vitest';
import { isForbiddenAddress, urlProblem } from '../../shared/domain/webhook-urls.ts';
import { postJson, resolveTarget, ForbiddenTargetError } from '../../shared/webhooks/http-post.ts';

const AWS = { allowLocal: false };
const LOCAL = { allowLocal: true };

describe('SSRF defences', () => {
  it.each([
    '10.0.0.1', '172.16.5.4', '192.168.1.1', '127.0.0.1', '127.9.9.9', '0.0.0.0', '169.254.169.254', '100.64.0.1',
    '224.0.0.1', '255.255.255.255', '::1', '::', 'fe80::1', 'fd00:ec2::254', 'fc00::1', '::ffff:127.0.0.1', '::ffff:10.0.0.1', 'not-an-ip',
  ])('refuses %s in AWS', (address) => {
    expect(isForbiddenAddress(address, AWS)).toBe(true);
  });

  it.each(['93.184.216.34', '8.8.8.8', '2606:4700:4700::1111'])('accepts public %s', (address) => {
    expect(isForbiddenAddress(address, AWS)).toBe(false);
  });

  it.each(['::7f00:1', '::a9fe:a9fe', '::a00:1', '::c0a8:101', '0:0:0:0:0:0:127.0.0.1'])(
    'refuses IPv4-compatible IPv6 %s, judged as the IPv4 it embeds',
    (address) => {
      expect(isForbiddenAddress(address, AWS)).toBe(true);
    },
  );

  it('IPv4-compatible IPv6 literals: refused at creation and at delivery', async () => {
    for (const url of ['https://[::7f00:1]/hook', 'https://[::a9fe:a9fe]/latest/meta-data']) {
      expect(urlProblem(url, AWS), url).toMatch(/private, loopback/);
      await expect(resolveTarget(new URL(url), { policy: AWS, resolve: async () => [] }), url).rejects.toBeInstanceOf(ForbiddenTargetError);
    }
  });

  it('localhost names with a trailing dot are refused at creation', () => {
    expect(urlProblem('https://localhost./', AWS)).toBe('must not be a loopback host');
    expect(urlProblem('https://app.localhost./hook', AWS)).toBe('must not be a loopback host');
    expect(urlProblem('https://localhost../hook', AWS)).toBe('must not be a loopback host');
  });

  it('allows loopback only in the local runtime, and nothing else private there either', () => {
    expect(isForbiddenAddress('127.0.0.1', LOCAL)).toBe(false);
    expect(isForbiddenAddress('::1', LOCAL)).toBe(false);
    expect(isForbiddenAddress('10.0.0.1', LOCAL)).toBe(true);
    expect(isForbiddenAddress('169.254.169.254', LOCAL)).toBe(true);
  });

  it('URLs: https only in AWS; locally also http://localhost and http://127.0.0.1', () => {
    expect(urlProblem('https://hooks.example.com/keygate', AWS)).toBeUndefined();
    expect(urlProblem('http://hooks.example.com/keygate', AWS)).toBe('must be https://');
    expect(urlProblem('http://localhost:4000/hook', AWS)).toBe('must be https://');
    expect(urlProblem('https://localhost/hook', AWS)).toBe('must not be a loopback host');
    expect(urlProblem('https://127.0.0.1/hook', AWS)).toMatch(/private, loopback/);
    expect(urlProblem('http://localhost:4000/hook', LOCAL)).toBeUndefined();
    expect(urlProblem('http://127.0.0.1:4000/hook', LOCAL)).toBeUndefined();
    expect(urlProblem('http://10.0.0.1/hook', LOCAL)).toMatch(/https/);
  });

  it('checks the resolved address, before any connection', async () => {
    const resolve = vi.fn(async (host: string) =>
      host === 'rebind.example' ? [{ address: '93.184.216.34', family: 4 }, { address: '169.254.169.254', family: 4 }] : [{ address: '10.1.2.3', family: 4 }],
    );
    await expect(resolveTarget(new URL('https://internal.example/hook'), { policy: AWS, resolve })).rejects.toBeInstanceOf(ForbiddenTargetError);
    // One bad address among good ones is enough to refuse (DNS answers can rotate).
    await expect(resolveTarget(new URL('https://rebind.example/hook'), { policy: AWS, resolve })).rejects.toBeInstanceOf(ForbiddenTargetError);
    await expect(resolveTarget(new URL('http://public.example/hook'), { policy: AWS, resolve })).rejects.toThrow(/https/);
    // IP literals are judged without a lookup.
    await expect(resolveTarget(new URL('https://[::ffff:169.254.169.254]/'), { policy: AWS, resolve })).rejects.toBeInstanceOf(ForbiddenTargetError);
    await expect(postJson('https://169.254.169.254/latest/meta-data', '{}', {}, { policy: AWS, resolve })).rejects.toBeInstanceOf(ForbiddenTargetError);
    await expect(postJson('http://localhost:9/hook', '{}', {}, { policy: AWS })).rejects.toThrow(/https/);
    expect(resolve.mock.calls.map((c) => c[0])).toEqual(['internal.example', 'rebind.example']);
  });

  it('in AWS a host resolving to loopback is refused (the real resolver: localhost)', async () => {
    await expect(postJson('https://localhost:9/hook', '{}', {}, { policy: AWS })).rejects.toBeInstanceOf(ForbiddenTargetError);
  });
});
