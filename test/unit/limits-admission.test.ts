// Admission and credit writes with a mocked DynamoDB (aws-sdk-client-mock): the expressions, the
// retry after a failed conditional write, the 429 path's bookkeeping, and transaction conflicts
// (which DynamoDB Local never produces).
import { TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, TransactWriteCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';

import { reserveCredit } from '../../shared/db/credits.ts';
import { admit, counterUpdate } from '../../shared/db/rate-limits.ts';
import { ApiError } from '../../shared/domain/errors.ts';
import { appliedLimits } from '../../shared/limits/headers.ts';
import { minuteWindow } from '../../shared/limits/windows.ts';
import { rateHeaders } from '../support/rate-limit-answers.ts';

const documents = mockClient(DynamoDBDocumentClient);
afterEach(() => documents.reset());

const NOW = new Date('2031-03-04T10:20:30.000Z');
const DAY = '2031-03-04';
const minute = minuteWindow(NOW);

function conditionFailed(item?: Record<string, unknown>): Error {
  return Object.assign(new Error('The conditional request failed'), { name: 'ConditionalCheckFailedException', ...(item ? { Item: item } : {}) });
}

const ORG = { organizationId: 'org_1' };
const MAX = { maxKeys: 1000 };

describe('counterUpdate', () => {
  it("same minute, org limits only: the key's day and minute counts in the same write, with room for it", () => {
    const input = counterUpdate('same', minute, DAY, ORG, 'key_1', appliedLimits({ perMinute: 10, perDay: 1000 }, null), MAX);
    expect(input).toMatchObject({
      Key: { pk: 'usage#org#org_1', sk: DAY },
      ConditionExpression: 'mw = :w AND mc < :om AND requests < :od AND (attribute_exists(kr.#k) OR size(kr) < :maxKeys)',
      UpdateExpression: 'SET kr.#k = if_not_exists(kr.#k, :zero) + :one, km.#k = if_not_exists(km.#k, :zero) + :one ADD requests :one, mc :one',
      ExpressionAttributeNames: { '#k': 'key_1' },
      ExpressionAttributeValues: { ':w': '2031-03-04T10:20', ':one': 1, ':zero': 0, ':od': 1000, ':om': 10, ':maxKeys': 1000 },
      ReturnValues: 'UPDATED_NEW',
      ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
    });
  });

  it("same minute with the key's own limits: checked on the same counts", () => {
    const input = counterUpdate('same', minute, DAY, ORG, 'key_1', appliedLimits({ perMinute: 10, perDay: 1000 }, { perMinute: 2, perDay: 5 }), MAX);
    expect(input.ConditionExpression).toBe(
      'mw = :w AND mc < :om AND requests < :od AND (attribute_exists(kr.#k) OR size(kr) < :maxKeys) AND (attribute_not_exists(km.#k) OR km.#k < :keyMinute) AND (attribute_not_exists(kr.#k) OR kr.#k < :keyDay)',
    );
    expect(input.ExpressionAttributeValues).toMatchObject({ ':keyMinute': 2, ':keyDay': 5 });
  });

  it('roll: only forward, the day limit still applies, minute counts restart with this key at one', () => {
    const input = counterUpdate('roll', minute, DAY, ORG, 'key_1', appliedLimits({ perMinute: 10, perDay: 1000 }, { perMinute: 2 }), MAX);
    expect(input.ConditionExpression).toBe('mw < :w AND requests < :od AND (attribute_exists(kr.#k) OR size(kr) < :maxKeys)');
    expect(input.UpdateExpression).toBe('SET mw = :w, mc = :one, km = :km, kr.#k = if_not_exists(kr.#k, :zero) + :one ADD requests :one');
    expect(input.ExpressionAttributeValues).toEqual({ ':w': '2031-03-04T10:20', ':one': 1, ':zero': 0, ':od': 1000, ':maxKeys': 1000, ':km': { key_1: 1 } });
  });

  it('fresh: creates the counters, the per-key maps of requests (no per-key refusals or credits) and the TTL', () => {
    const input = counterUpdate('fresh', minute, DAY, ORG, 'key_1', appliedLimits({ perMinute: 10, perDay: 1000 }, { perDay: 5 }), MAX);
    expect(input.ConditionExpression).toBe('attribute_not_exists(mw) AND (attribute_not_exists(requests) OR requests < :od)');
    expect(input.UpdateExpression).toBe('SET mw = :w, mc = :one, km = :km, kr = :kr, #ttl = :ttl ADD requests :one');
    expect(input.ExpressionAttributeValues).toMatchObject({ ':km': { key_1: 1 }, ':kr': { key_1: 1 }, ':ttl': expect.any(Number) });
    expect(input.ExpressionAttributeNames).toEqual({ '#ttl': 'ttl' });
  });

  it("without a key (a key's own item, or the organization's beyond the bound): the plain counter", () => {
    const limits = appliedLimits({ perMinute: 10, perDay: 1000 }, null);
    expect(counterUpdate('same', minute, DAY, { keyId: 'key_1' }, 'key_1', limits)).toMatchObject({
      Key: { pk: 'usage#key#key_1', sk: DAY },
      ConditionExpression: 'mw = :w AND mc < :om AND requests < :od',
      UpdateExpression: 'ADD requests :one, mc :one',
    });
    expect(counterUpdate('same', minute, DAY, { keyId: 'key_1' }, 'key_1', limits).ExpressionAttributeNames).toBeUndefined();
    expect(counterUpdate('roll', minute, DAY, { keyId: 'key_1' }, 'key_1', limits).UpdateExpression).toBe('SET mw = :w, mc = :one ADD requests :one');
    // The organization's item still restarts its minute counts on a roll.
    expect(counterUpdate('roll', minute, DAY, ORG, 'key_1', limits).UpdateExpression).toBe('SET mw = :w, mc = :one, km = :km ADD requests :one');
    expect(counterUpdate('roll', minute, DAY, ORG, 'key_1', limits).ExpressionAttributeValues).toMatchObject({ ':km': {} });
  });
});

describe('admit', () => {
  const subject = { organizationId: 'org_mock1', keyId: 'key_1', orgLimits: { perMinute: 10, perDay: 1000 }, keyLimits: null };

  it('one write: after a failed guess, the old item says which write to make (here a roll); no other write', async () => {
    documents
      .on(UpdateCommand, { Key: { pk: 'usage#org#org_mock1', sk: DAY } })
      .rejectsOnce(conditionFailed({ lv: { N: '0' }, am: { N: '10' }, sm: { N: '10' }, ad: { N: '1000' }, mw: { S: '2031-03-04T10:19' }, mc: { N: '10' }, requests: { N: '40' }, kr: { M: { key_1: { N: '3' } } } }))
      .resolves({ Attributes: { lv: 0, am: 10, sm: 10, ad: 1000, mw: minute.id, mc: 1, requests: 41, km: { key_1: 1 }, kr: { key_1: 4 } } });
    // The key's first request of the minute: lastUsedAt and usageCount (base 0 recorded on the key's own item).
    documents.on(GetCommand).resolves({ Item: { base: 100 } });
    expect(await admit(subject, NOW)).toEqual(rateHeaders(10, 9, minute.resetAt));
    const updates = documents.commandCalls(UpdateCommand).map((c) => c.args[0].input);
    expect(updates.map((u) => [u.TableName, u.UpdateExpression])).toEqual([
      ['usage', 'SET lt = :lt, kr.#k = if_not_exists(kr.#k, :zero) + :one, km.#k = if_not_exists(km.#k, :zero) + :one ADD requests :one, mc :one'],
      ['usage', 'SET lt = :lt, mw = :w, mc = :one, am = sm, km = :km, kr.#k = if_not_exists(kr.#k, :zero) + :one ADD requests :one'],
      ['api-keys', 'SET lastUsedAt = :now, usageCount = :count'],
    ]);
    expect(updates[2]!.ExpressionAttributeValues).toMatchObject({ ':count': 104 });
  });

  it("not the key's first request of the minute: the admission write is the only call", async () => {
    documents
      .on(UpdateCommand, { Key: { pk: 'usage#org#org_mock4', sk: DAY } })
      .resolves({ Attributes: { mc: 2, requests: 2, km: { key_1: 2 }, kr: { key_1: 7 } } });
    await expect(admit({ ...subject, organizationId: 'org_mock4' }, NOW)).resolves.toMatchObject({ 'X-RateLimit-Remaining': '8' });
    expect(documents.calls()).toHaveLength(1);
  });

  it("over a limit: 429, nothing counted; rateLimited added for the organization (its total) and for the key (on its own day item), whether or not the organization's item counts the key", async () => {
    documents.on(UpdateCommand).resolves({});
    documents
      .on(UpdateCommand, { Key: { pk: 'usage#org#org_mock2', sk: DAY }, ConditionExpression: 'lv = :lv AND attribute_not_exists(fz) AND mw = :w AND mc < am AND requests < ad AND (attribute_exists(kr.#k) OR size(kr) < :maxKeys)' })
      .rejects(conditionFailed({ lv: { N: '0' }, am: { N: '10' }, sm: { N: '10' }, ad: { N: '1000' }, mw: { S: minute.id }, mc: { N: '10' }, requests: { N: '40' }, kr: { M: { key_1: { N: '10' } } } }));
    const error = await admit({ ...subject, organizationId: 'org_mock2' }, NOW).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect((error as ApiError).headers).toMatchObject({ 'Retry-After': '30', 'X-RateLimit-Remaining': '0' });
    const after = documents.commandCalls(UpdateCommand).slice(1).map((c) => [c.args[0].input.Key, c.args[0].input.UpdateExpression, c.args[0].input.ExpressionAttributeNames]);
    // The organization's item holds no per-key refusals: it stays small, and every write on it is billed by its size.
    expect(after).toEqual([
      [{ pk: 'usage#org#org_mock2', sk: DAY }, 'ADD #counter :amount SET #ttl = :ttl', { '#counter': 'rateLimited', '#ttl': 'ttl' }],
      [{ pk: 'usage#key#key_1', sk: DAY }, 'ADD #counter :amount SET #ttl = :ttl', { '#counter': 'rateLimited', '#ttl': 'ttl' }],
    ]);
  });

  it('a failure refreshing the key item does not fail an admitted request', async () => {
    documents.on(UpdateCommand, { Key: { pk: 'usage#org#org_mock3', sk: DAY } }).resolves({ Attributes: { mc: 2, requests: 2, km: { key_1: 1 }, kr: { key_1: 1 } } });
    documents.on(GetCommand).rejects(Object.assign(new Error('boom'), { name: 'InternalServerError' }));
    await expect(admit({ ...subject, organizationId: 'org_mock3' }, NOW)).resolves.toMatchObject({ 'X-RateLimit-Remaining': '8' });
  });
});

describe('reserveCredit under transaction conflicts', () => {
  const conflict = () =>
    new TransactionCanceledException({
      message: 'Transaction cancelled',
      $metadata: {},
      CancellationReasons: [{ Code: 'None' }, { Code: 'TransactionConflict' }],
    });

  it('retries a conflicting transaction, then charges once', async () => {
    documents.on(TransactWriteCommand).rejectsOnce(conflict()).rejectsOnce(conflict()).resolves({});
    documents.on(GetCommand).resolves({ Item: { credits: 41 } });
    documents.on(UpdateCommand).resolves({});
    expect(await reserveCredit('org_1', 'req_1', 'key_1', NOW)).toEqual({ balance: 41, alreadyCharged: false });
    expect(documents.commandCalls(TransactWriteCommand)).toHaveLength(3);
  });

  it('gives up with 503 when the balance stays busy', async () => {
    documents.on(TransactWriteCommand).rejects(conflict());
    const error = await reserveCredit('org_1', 'req_1', 'key_1', NOW).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect((error as ApiError).code).toBe('SERVICE_UNAVAILABLE');
  });

  it('a condition failure is not a conflict: 402 at once', async () => {
    documents.on(TransactWriteCommand).rejects(
      new TransactionCanceledException({
        message: 'Transaction cancelled',
        $metadata: {},
        CancellationReasons: [{ Code: 'None' }, { Code: 'ConditionalCheckFailed' }],
      }),
    );
    // The balance read after the failed condition: nothing left (and no live reservation).
    documents.on(GetCommand).resolves({ Item: { credits: 0 } });
    const error = await reserveCredit('org_1', 'req_1', 'key_1', NOW).catch((e: unknown) => e);
    expect((error as ApiError).code).toBe('INSUFFICIENT_CREDITS');
    expect(documents.commandCalls(TransactWriteCommand)).toHaveLength(1);
  });
});
