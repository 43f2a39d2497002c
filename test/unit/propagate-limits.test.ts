// Copying an organization's new limits onto its keys (PATCH /v1/organizations/{orgId}) with a mocked
// DynamoDB: every key is updated, with a bounded number of writes in flight however many keys.
import { DynamoDBDocumentClient, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it, vi } from 'vitest';

import { PROPAGATE_CONCURRENCY, propagateOrgLimits } from '../../shared/db/api-keys.ts';

const documents = mockClient(DynamoDBDocumentClient);
afterEach(() => documents.reset());

describe('propagateOrgLimits', () => {
  it('updates every key with at most PROPAGATE_CONCURRENCY writes in flight', async () => {
    const ids = Array.from({ length: 500 }, (_, i) => `key_${String(i).padStart(24, '0')}`);
    documents.on(QueryCommand).resolves({ Items: ids.map((id) => ({ id })) });
    let inFlight = 0;
    let peak = 0;
    const updated: string[] = [];
    documents.on(UpdateCommand).callsFake(async (input: { Key: { id: string } }) => {
      inFlight++;
      peak = Math.max(peak, inFlight);
      await new Promise((resolve) => setTimeout(resolve, 1));
      inFlight--;
      updated.push(input.Key.id);
      return {};
    });
    await propagateOrgLimits('org_1', { perMinute: 60, perDay: 10_000 }, 3);
    expect(updated.sort()).toEqual(ids);
    expect(peak).toBeLessThanOrEqual(PROPAGATE_CONCURRENCY);
    expect(peak).toBeGreaterThan(1);
  });

  it('ignores keys deleted meanwhile or already newer, retries failed copies, and fails only when they keep failing', { timeout: 10_000 }, async () => {
    documents.on(QueryCommand).resolves({ Items: [{ id: 'key_a' }, { id: 'key_b' }] });
    documents
      .on(UpdateCommand, { Key: { id: 'key_a' } })
      .rejects(Object.assign(new Error('gone or newer'), { name: 'ConditionalCheckFailedException' }));
    // A copy that fails twice is tried again until it lands: the change reaches every key.
    documents
      .on(UpdateCommand, { Key: { id: 'key_b' } })
      .rejectsOnce(Object.assign(new Error('down'), { name: 'InternalServerError' }))
      .rejectsOnce(Object.assign(new Error('down'), { name: 'InternalServerError' }))
      .resolves({});
    await expect(propagateOrgLimits('org_1', { perMinute: 1, perDay: 1 }, 4)).resolves.toBeUndefined();
    const copies = documents.commandCalls(UpdateCommand).filter((c) => c.args[0].input.Key?.id === 'key_b');
    expect(copies).toHaveLength(3);
    // Each copy carries the version and only replaces an older one.
    expect(copies[0]!.args[0].input).toMatchObject({
      UpdateExpression: 'SET orgLimits = :limits, orgLimitsVersion = :v',
      ConditionExpression: 'attribute_exists(id) AND (attribute_not_exists(orgLimitsVersion) OR orgLimitsVersion < :v)',
      ExpressionAttributeValues: { ':limits': { perMinute: 1, perDay: 1 }, ':v': 4 },
    });
    documents.on(UpdateCommand, { Key: { id: 'key_b' } }).rejects(Object.assign(new Error('down'), { name: 'InternalServerError' }));
    // Its rounds wait about 12 s in all: on a fake clock here.
    vi.useFakeTimers();
    try {
      const failing = expect(propagateOrgLimits('org_1', { perMinute: 1, perDay: 1 }, 5)).rejects.toThrow('down');
      await vi.runAllTimersAsync();
      await failing;
    } finally {
      vi.useRealTimers();
    }
  });
});
