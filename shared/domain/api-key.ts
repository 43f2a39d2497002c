// API key format (docs/api.md "Keys"): <prefix><32 random base62><6 base62 CRC-32 checksum>.
// This module makes keys, checks their shape and checksum without any I/O, and hashes them.
// It is not a password hasher: keys carry >= 190 bits of CSPRNG entropy, so one SHA-256 is enough
// and keeps the authorizer's lookup a single GetItem.
import { createHash, randomInt } from 'node:crypto';
import { crc32 } from 'node:zlib';

export const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
export const RANDOM_LENGTH = 32; // 32 * log2(62) = 190.5 bits
export const CHECKSUM_LENGTH = 6;
export const KEY_TYPES = ['secret', 'publishable'] as const;
export type KeyType = (typeof KEY_TYPES)[number];

export interface KeyPrefixes {
  secret: string;
  publishable: string;
}

export const DEFAULT_PREFIXES: KeyPrefixes = { secret: 'sk_', publishable: 'pk_' };

/** Prefixes from the environment (deploy-time CDK context), defaults otherwise. */
export function prefixesFromEnv(env: NodeJS.ProcessEnv = process.env): KeyPrefixes {
  return {
    secret: env.SECRET_KEY_PREFIX || DEFAULT_PREFIXES.secret,
    publishable: env.PUBLISHABLE_KEY_PREFIX || DEFAULT_PREFIXES.publishable,
  };
}

export function toBase62(value: number, width: number): string {
  let out = '';
  let n = value;
  while (n > 0) {
    out = BASE62[n % 62] + out;
    n = Math.floor(n / 62);
  }
  return out.padStart(width, '0');
}

export function checksum(body: string): string {
  return toBase62(crc32(body), CHECKSUM_LENGTH);
}

/** Uniform random base62 characters from the CSPRNG (randomInt rejects bias). */
export function randomBase62(length: number): string {
  let out = '';
  for (let i = 0; i < length; i++) out += BASE62[randomInt(62)];
  return out;
}

export function generateKey(type: KeyType, prefixes: KeyPrefixes = DEFAULT_PREFIXES): string {
  const body = prefixes[type] + randomBase62(RANDOM_LENGTH);
  return body + checksum(body);
}

const BASE62_TAIL = new RegExp(`^[0-9A-Za-z]{${RANDOM_LENGTH + CHECKSUM_LENGTH}}$`);

/**
 * The key's type if it is well formed and its checksum matches, otherwise undefined.
 * Pure and cheap: the authorizer calls it before touching DynamoDB.
 */
export function parseKey(candidate: unknown, prefixes: KeyPrefixes = DEFAULT_PREFIXES): KeyType | undefined {
  if (typeof candidate !== 'string' || candidate.length > 128) return undefined;
  for (const type of KEY_TYPES) {
    const prefix = prefixes[type];
    if (!candidate.startsWith(prefix)) continue;
    const tail = candidate.slice(prefix.length);
    // Not this type's shape: try the other prefix, which may extend this one (`kg_`, `kg_pub_`).
    if (!BASE62_TAIL.test(tail)) continue;
    const body = candidate.slice(0, candidate.length - CHECKSUM_LENGTH);
    return checksum(body) === candidate.slice(-CHECKSUM_LENGTH) ? type : undefined;
  }
  return undefined;
}

export function hashKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

/**
 * The key's id is derived from its hash, so the authorizer finds a key with one strongly consistent
 * GetItem on the table's partition key. 96 bits of a SHA-256 identify a key without revealing it.
 */
export function keyIdFromHash(hash: string): string {
  return `key_${hash.slice(0, 24)}`;
}

/** How many leading characters of a key its display form shows (the rest is masked). */
export const DISPLAY_CHARS = 8;

export function displayKey(key: string): string {
  return key.slice(0, DISPLAY_CHARS) + '\u2022'.repeat(8);
}
