// One delivery attempt (shared/webhooks/deliver.ts) against DynamoDB Local and a receiver on
// 127.0.0.1, with the queue recorded and time injected: success, the retry it queues (same id and
// body, the schedule's delay), dead-lettering past 24 hours, a deleted webhook, an early message,
// and a refused target. And the delivery function's batch answer (unexpected errors only).
import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { handler as deliveryFunction } from '../../functions/webhook-delivery.ts';
import { createOrganization } from '../../shared/db/organizations.ts';
import { createWebhook, deleteWebhook } from '../../shared/db/webhooks.ts';
import { deliver, type DeliveryDeps } from '../../shared/webhooks/deliver.ts';
import { setDeliveryQueue, type DeliveryMessage, type DeliveryQueue } from '../../shared/webhooks/queue.ts';
import { TEST_AUDIT } from '../support/audit.ts';

const HOUR = 3_600_000;
let server: Server;
let base: string;
let status = 200;
const hits: string[] = [];

class RecordingQueue implements DeliveryQueue {
  sent: { message: DeliveryMessage; delaySeconds: number }[] = [];
  dead: { message: DeliveryMessage; reason: string }[] = [];
  async send(messages: DeliveryMessage[], delaySeconds = 0) {
    for (const message of messages) this.sent.push({ message, delaySeconds });
  }
  async deadLetter(message: DeliveryMessage, reason: string) {
    this.dead.push({ message, reason });
  }
}

let orgId: string;
beforeAll(async () => {
  server = createServer((req, res) => {
    hits.push(req.url!);
    req.resume();
    req.on('end', () => res.writeHead(status).end());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  orgId = (await createOrganization('Delivery Co', 'owner-1', 100, TEST_AUDIT, new Date())).id;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

const deps = (queue: DeliveryQueue, now: Date, allowLocal = true): DeliveryDeps => ({
  queue,
  now: () => now,
  policy: { allowLocal },
  delayScale: 1,
  random: () => 0,
});

async function message(path: string, firstAttemptAt: Date, attempt = 1): Promise<DeliveryMessage> {
  const { item } = await createWebhook(orgId, { url: base + path, events: ['api_key.revoked'] }, TEST_AUDIT, new Date());
  return {
    organizationId: orgId,
    webhookId: item.id,
    eventId: 'evt_0123456789abcdef01234567',
    type: 'api_key.revoked',
    body: '{"id":"evt_0123456789abcdef01234567"}',
    attempt,
    firstAttemptAt: firstAttemptAt.toISOString(),
  };
}

describe('deliver', () => {
  it('a 2xx is delivered and queues nothing', async () => {
    status = 204;
    const queue = new RecordingQueue();
    const now = new Date();
    expect(await deliver(await message('/ok', now), deps(queue, now))).toBe('delivered');
    expect(queue.sent).toEqual([]);
    expect(hits).toContain('/ok');
  });

  it('a failure queues the next attempt: same id and body, after the schedule\'s delay', async () => {
    status = 503;
    const queue = new RecordingQueue();
    const now = new Date();
    const first = await message('/down', now, 2);
    expect(await deliver(first, deps(queue, now))).toBe('retrying');
    expect(queue.sent).toHaveLength(1);
    const { message: next, delaySeconds } = queue.sent[0]!;
    expect(delaySeconds).toBe(120); // after the second attempt: 2 minutes
    expect(next).toMatchObject({ eventId: first.eventId, body: first.body, attempt: 3, firstAttemptAt: first.firstAttemptAt });
    expect(Date.parse(next.notBefore!) - now.getTime()).toBe(120_000);
  });

  it('a retry due after 24 hours from the first attempt is dead-lettered instead', async () => {
    status = 500;
    const queue = new RecordingQueue();
    const first = new Date(Date.now() - 20 * HOUR);
    const msg = await message('/down', first, 8);
    expect(await deliver(msg, deps(queue, new Date()))).toBe('dead_lettered'); // 6 h more would pass 24 h
    expect(queue.sent).toEqual([]);
    expect(queue.dead).toEqual([{ message: msg, reason: 'status 500' }]);
  });

  it('waits in steps of at most 15 minutes when a retry is hours away', async () => {
    const queue = new RecordingQueue();
    const now = new Date();
    const msg = { ...(await message('/later', now)), notBefore: new Date(now.getTime() + 5 * HOUR).toISOString() };
    expect(await deliver(msg, deps(queue, now))).toBe('deferred');
    expect(queue.sent).toEqual([{ message: msg, delaySeconds: 900 }]);
    expect(hits).not.toContain('/later');
  });

  it('drops a delivery whose webhook was deleted', async () => {
    const queue = new RecordingQueue();
    const msg = await message('/gone', new Date());
    await deleteWebhook(orgId, msg.webhookId, TEST_AUDIT, new Date());
    expect(await deliver(msg, deps(queue, new Date()))).toBe('dropped');
    expect(hits).not.toContain('/gone');
  });

  it('refuses a loopback receiver outside the local runtime, before connecting, and retries like any failure', async () => {
    const queue = new RecordingQueue();
    const msg = await message('/refused', new Date());
    expect(await deliver(msg, deps(queue, new Date(), false))).toBe('retrying');
    expect(hits).not.toContain('/refused');
  });
});

describe('the delivery function', () => {
  it('reports only messages it could not process (bad JSON) as batch item failures', async () => {
    status = 200;
    const queue = new RecordingQueue();
    setDeliveryQueue(queue);
    process.env.WEBHOOK_ALLOW_LOCAL = '1';
    const good = await message('/batch', new Date());
    const result = await deliveryFunction({
      Records: [
        { messageId: 'm1', body: JSON.stringify(good) },
        { messageId: 'm2', body: '{not json' },
      ],
    } as never);
    expect(result).toEqual({ batchItemFailures: [{ itemIdentifier: 'm2' }] });
    expect(hits).toContain('/batch');
    setDeliveryQueue(undefined);
  });
});
