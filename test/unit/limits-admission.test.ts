// Admission and credit writes with a mocked DynamoDB (aws-sdk-client-mock): the expressions, the
// retry after a failed conditional write, the 429 path's bookkeeping, and transaction conflicts
// (which DynamoDB Local never produces).
import { TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, TransactWriteCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it, vi } from 'vitest';

vi.hoisted(() => {
  Object.assign(process.env, {
    USAGE_TABLE: 'usage',
    ORGANIZATIONS_TABLE: 'organizations',
    API_KEYS_TABLE: 'api-keys',
    LOG_LEVEL: 'SILENT',
  });
});
import { reserveCredit } from '../../shared/db/credits.ts';
import { admit, counterUpdate } from '../../shared/db/rate-limits.ts';
import { ApiError } from '../../shared/domain/errors.ts';
import { appliedLimits } from '../../shared/limits/headers.ts';
import { minuteWindow } from '../../shared/limits/windows.ts';

const documents = mockClient(DynamoDBDocumentClient);
afterEach(() => documents.reset());

const NOW = new Date('2031-03-04T10:20:30.000Z');
const DAY = '2031-03-04';
const minute = minuteWindow(NOW);

function conditionFailed(item?: Record<string, unknown>): Error {
  return Object.assign(new Error('The conditional request failed'), { name: 'ConditionalCheckFailedException', ...(item ? { Item: item } : {}) });
}

describe('counterUpdate', () => {
  it('same minute, org limits only: one condition per window, no unused names or values', () => {
    const input = counterUpdate('same', minute, DAY, 'org_1', 'key_1', appliedLimits({ perMinute: 10, perDay: 1000 }, null));
    expect(input).toMatchObject({
      Key: { pk: 'usage#org#org_1', sk: DAY },
      ConditionExpression: 'mw = :w AND mc < :om AND requests < :od',
      UpdateExpression: 'ADD requests :one, mc :one',
      ExpressionAttributeValues: { ':w': '2031-03-04T10:20', ':one': 1, ':od': 1000, ':om': 10 },
      ReturnValues: 'UPDATED_NEW',
      ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
    });
    expect(input.ExpressionAttributeNames).toBeUndefined();
  });

  it("same minute with the key's own limits: counted and checked in the same item", () => {
    const input = counterUpdate('same', minute, DAY, 'org_1', 'key_1', appliedLimits({ perMinute: 10, perDay: 1000 }, { perMinute: 2, perDay: 5 }));
    expect(input.ConditionExpression).toBe(
      'mw = :w AND mc < :om AND requests < :od AND (attribute_not_exists(kmc.#k) OR kmc.#k < :km) AND (attribute_not_exists(kdc.#k) OR kdc.#k < :kd)',
    );
    expect(input.UpdateExpression).toBe(
      'SET kmc.#k = if_not_exists(kmc.#k, :zero) + :one, kdc.#k = if_not_exists(kdc.#k, :zero) + :one ADD requests :one, mc :one',
    );
    expect(input.ExpressionAttributeNames).toEqual({ '#k': 'key_1' });
  });

  it('roll: only forward, the day limit still applies', () => {
    const input = counterUpdate('roll', minute, DAY, 'org_1', 'key_1', appliedLimits({ perMinute: 10, perDay: 1000 }, { perMinute: 2 }));
    expect(input.ConditionExpression).toBe('mw < :w AND requests < :od');
    expect(input.UpdateExpression).toBe('SET mw = :w, mc = :one, kmc = :kmc ADD requests :one');
    expect(input.ExpressionAttributeValues).toEqual({ ':w': '2031-03-04T10:20', ':one': 1, ':od': 1000, ':kmc': { key_1: 1 } });
  });

  it('fresh: creates the counters and the TTL', () => {
    const input = counterUpdate('fresh', minute, DAY, 'org_1', 'key_1', appliedLimits({ perMinute: 10, perDay: 1000 }, { perDay: 5 }));
    expect(input.ConditionExpression).toBe('attribute_not_exists(mw) AND (attribute_not_exists(requests) OR requests < :od)');
    expect(input.UpdateExpression).toBe('SET mw = :w, mc = :one, kmc = :kmc, kdc = :kdc, #ttl = :ttl ADD requests :one');
    expect(input.ExpressionAttributeValues).toMatchObject({ ':kmc': {}, ':kdc': { key_1: 1 }, ':ttl': expect.any(Number) });
    expect(input.ExpressionAttributeNames).toEqual({ '#ttl': 'ttl' });
  });
});

describe('admit', () => {
  const subject = { organizationId: 'org_mock1', keyId: 'key_1', orgLimits: { perMinute: 10, perDay: 1000 }, keyLimits: null };

  it('after a failed guess, the old item says which write to make: here a roll', async () => {
    documents
      .on(UpdateCommand, { Key: { pk: 'usage#org#org_mock1', sk: DAY } })
      .rejectsOnce(conditionFailed({ mw: { S: '2031-03-04T10:19' }, mc: { N: '10' }, requests: { N: '40' } }))
      .resolves({ Attributes: { mw: minute.id, mc: 1, requests: 41, kmc: {} } });
    documents.on(UpdateCommand, { Key: { pk: 'usage#key#key_1', sk: DAY } }).resolves({ Attributes: { lm: minute.id, requests: 4 } });
    expect(await admit(subject, NOW)).toEqual({
      'X-RateLimit-Limit': '10',
      'X-RateLimit-Remaining': '9',
      'X-RateLimit-Reset': String(minute.resetAt),
    });
    const counters = documents.commandCalls(UpdateCommand).filter((c) => c.args[0].input.Key?.pk === 'usage#org#org_mock1');
    expect(counters.map((c) => c.args[0].input.UpdateExpression)).toEqual([
      'ADD requests :one, mc :one',
      'SET mw = :w, mc = :one, kmc = :kmc ADD requests :one',
    ]);
  });

  it('over a limit: 429, nothing counted, rateLimited added on the org and key day items', async () => {
    documents.on(UpdateCommand).resolves({});
    documents
      .on(UpdateCommand, { Key: { pk: 'usage#org#org_mock2', sk: DAY }, ConditionExpression: 'mw = :w AND mc < :om AND requests < :od' })
      .rejects(conditionFailed({ mw: { S: minute.id }, mc: { N: '10' }, requests: { N: '40' } }));
    const error = await admit({ ...subject, organizationId: 'org_mock2' }, NOW).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect((error as ApiError).headers).toMatchObject({ 'Retry-After': '30', 'X-RateLimit-Remaining': '0' });
    const rateLimited = documents
      .commandCalls(UpdateCommand)
      .filter((c) => c.args[0].input.UpdateExpression?.startsWith('ADD #counter'))
      .map((c) => [c.args[0].input.Key, c.args[0].input.ExpressionAttributeNames?.['#counter']]);
    expect(rateLimited).toEqual([
      [{ pk: 'usage#org#org_mock2', sk: DAY }, 'rateLimited'],
      [{ pk: 'usage#key#key_1', sk: DAY }, 'rateLimited'],
    ]);
  });

  it('a failure writing key usage does not fail an admitted request', async () => {
    documents.on(UpdateCommand, { Key: { pk: 'usage#org#org_mock3', sk: DAY } }).resolves({ Attributes: { mc: 2, requests: 2 } });
    documents.on(UpdateCommand, { Key: { pk: 'usage#key#key_1', sk: DAY } }).rejects(Object.assign(new Error('boom'), { name: 'InternalServerError' }));
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
    const error = await reserveCredit('org_1', 'req_1', 'key_1', NOW).catch((e: unknown) => e);
    expect((error as ApiError).code).toBe('INSUFFICIENT_CREDITS');
    expect(documents.commandCalls(TransactWriteCommand)).toHaveLength(1);
  });
});
