// The AWS APIs the bundles call besides DynamoDB, answered on one local HTTP endpoint that the
// functions' SDK clients reach through the SDK's own endpoint settings (AWS_ENDPOINT_URL_KMS,
// AWS_ENDPOINT_URL_SQS and the queue URLs, set by lambda-environment.ts; Lambda sets none of them,
// so in AWS the clients go to KMS and SQS). It is a protocol front for the stand-ins the in-process
// runtime already uses, not a second implementation of them:
//   KMS Encrypt / Decrypt (JSON 1.1, TrentService.*)  -> the local sealing of shared/webhooks/secret-box.ts
//     with the local key (WEBHOOK_SECRET_KEY), the encryption context {organizationId, webhookId} as
//     its associated data: a ciphertext opens only under the context it was sealed with
//   SQS SendMessage / SendMessageBatch (JSON 1.0, AmazonSQS.*) -> the local delivery queue of
//     infra/local/webhooks.ts (the deliveries queue) or its dead letters (the dead-letter queue)
// Anything else is answered as AWS answers an unknown operation (400 UnknownOperationException).
import { createHash, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { DeliveryMessage, DeliveryQueue } from '../../../shared/webhooks/queue.ts';
import { openSecret, sealSecret, type SecretOwner } from '../../../shared/webhooks/secret-box.ts';

/** The account id in the local ARNs and queue URLs. */
export const LOCAL_ACCOUNT = '000000000000';

export interface LocalAwsEndpointOptions {
  /** The local webhook key (LocalSecrets.webhookSecretKey): what KMS's key is locally. */
  webhookSecretKey: string;
  /** Messages sent to the queue named `deliveryQueueName` go here; to `deadLetterQueueName`, to its deadLetter. */
  queue: DeliveryQueue;
  deliveryQueueName: string;
  deadLetterQueueName: string;
}

export interface LocalAwsEndpoint {
  url: string;
  /** The URL a queue of this name has on this endpoint (what the template's Ref of the queue becomes). */
  queueUrl(queueName: string): string;
  close(): Promise<void>;
}

class AwsError extends Error {
  readonly type: string;
  constructor(type: string, message: string) {
    super(message);
    this.type = type;
  }
}

async function readJson(req: IncomingMessage): Promise<Record<string, any>> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
  } catch {
    throw new AwsError('SerializationException', 'The request body is not JSON');
  }
}

/** The encryption context Keygate seals webhook secrets under, or a KMS-style refusal. */
function ownerOf(context: unknown): SecretOwner {
  const { organizationId, webhookId, ...rest } = (context ?? {}) as Record<string, unknown>;
  if (typeof organizationId !== 'string' || typeof webhookId !== 'string' || Object.keys(rest).length > 0) {
    throw new AwsError('ValidationException', 'The local KMS key seals under an encryption context of organizationId and webhookId only');
  }
  return { organizationId, webhookId };
}

export async function startLocalAwsEndpoint(options: LocalAwsEndpointOptions): Promise<LocalAwsEndpoint> {
  const localKey = { WEBHOOK_SECRET_KEY: options.webhookSecretKey };
  let url = '';
  const queueUrl = (queueName: string) => `${url}/${LOCAL_ACCOUNT}/${queueName}`;

  const kms: Record<string, (input: Record<string, any>) => Promise<Record<string, unknown>>> = {
    async Encrypt(input) {
      if (typeof input.KeyId !== 'string' || typeof input.Plaintext !== 'string') throw new AwsError('ValidationException', 'KeyId and Plaintext are required');
      const sealed = await sealSecret(Buffer.from(input.Plaintext, 'base64').toString('utf8'), ownerOf(input.EncryptionContext), localKey);
      return { CiphertextBlob: Buffer.from(sealed).toString('base64'), KeyId: input.KeyId, EncryptionAlgorithm: 'SYMMETRIC_DEFAULT' };
    },
    async Decrypt(input) {
      const sealed = Buffer.from(String(input.CiphertextBlob ?? ''), 'base64').toString('utf8');
      if (!sealed.startsWith('local:')) throw new AwsError('InvalidCiphertextException', 'Not a ciphertext of the local key');
      try {
        const plaintext = await openSecret(sealed, ownerOf(input.EncryptionContext), localKey);
        return { Plaintext: Buffer.from(plaintext).toString('base64'), EncryptionAlgorithm: 'SYMMETRIC_DEFAULT' };
      } catch (error) {
        if (error instanceof AwsError) throw error;
        throw new AwsError('InvalidCiphertextException', 'The ciphertext does not open under this encryption context');
      }
    },
  };

  /** Where a QueueUrl of this endpoint leads. */
  const queueOf = (input: Record<string, any>): 'deliveries' | 'deadLetters' => {
    if (input.QueueUrl === queueUrl(options.deliveryQueueName)) return 'deliveries';
    if (input.QueueUrl === queueUrl(options.deadLetterQueueName)) return 'deadLetters';
    throw new AwsError('AWS.SimpleQueueService.NonExistentQueue', 'The specified queue does not exist.');
  };
  const parse = (body: unknown): DeliveryMessage => {
    try {
      return JSON.parse(String(body)) as DeliveryMessage;
    } catch {
      throw new AwsError('InvalidParameterValue', 'The local delivery queue takes delivery messages (JSON) only');
    }
  };
  const md5 = (body: string) => createHash('md5').update(body).digest('hex');
  const enqueue = async (target: 'deliveries' | 'deadLetters', body: string, delaySeconds: number) => {
    const message = parse(body);
    if (target === 'deliveries') await options.queue.send([message], delaySeconds);
    else await options.queue.deadLetter(message, (message as { reason?: string }).reason ?? 'dead-lettered');
  };

  const sqs: Record<string, (input: Record<string, any>) => Promise<Record<string, unknown>>> = {
    async SendMessage(input) {
      await enqueue(queueOf(input), String(input.MessageBody), Number(input.DelaySeconds ?? 0));
      return { MessageId: randomUUID(), MD5OfMessageBody: md5(String(input.MessageBody)) };
    },
    async SendMessageBatch(input) {
      const target = queueOf(input);
      const entries = (input.Entries ?? []) as { Id: string; MessageBody: string; DelaySeconds?: number }[];
      if (entries.length === 0 || entries.length > 10) throw new AwsError('AWS.SimpleQueueService.TooManyEntriesInBatchRequest', 'A batch holds 1 to 10 entries');
      for (const entry of entries) await enqueue(target, entry.MessageBody, Number(entry.DelaySeconds ?? 0));
      return { Successful: entries.map((e) => ({ Id: e.Id, MessageId: randomUUID(), MD5OfMessageBody: md5(e.MessageBody) })), Failed: [] };
    },
  };

  const server: Server = createServer((req, res) => {
    const [service, operation] = String(req.headers['x-amz-target'] ?? '').split('.');
    const handler = service === 'TrentService' ? kms[operation ?? ''] : service === 'AmazonSQS' ? sqs[operation ?? ''] : undefined;
    const contentType = service === 'AmazonSQS' ? 'application/x-amz-json-1.0' : 'application/x-amz-json-1.1';
    const answer = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      const text = JSON.stringify(body);
      res.writeHead(status, { 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(text), 'x-amzn-RequestId': randomUUID(), ...headers });
      res.end(text);
    };
    readJson(req)
      .then((input) => {
        if (!handler) throw new AwsError('UnknownOperationException', `${req.headers['x-amz-target'] ?? 'no X-Amz-Target'} is not served locally`);
        return handler(input);
      })
      .then(
        (output) => answer(200, output),
        (error: unknown) => {
          const type = error instanceof AwsError ? error.type : 'InternalFailure';
          const message = error instanceof AwsError ? error.message : 'The local AWS endpoint failed';
          // SQS's JSON protocol keeps its query-era error codes in this header (awsQueryCompatible).
          answer(error instanceof AwsError ? 400 : 500, { __type: type, message }, service === 'AmazonSQS' ? { 'x-amzn-query-error': `${type};Sender` } : {});
        },
      );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  return {
    url,
    queueUrl,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
