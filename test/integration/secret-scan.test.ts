// The end-of-run secret scan (test/support/global-setup.ts) finds a planted secret key and ignores
// look-alikes, on its own set of tables so the real scan stays clean.
import { PutItemCommand } from '@aws-sdk/client-dynamodb';
import { inject, it, expect } from 'vitest';
import { createTables } from '../../infra/local/bootstrap.ts';
import { localDynamoClient } from '../../infra/local/dynamodb-local.ts';
import { generateKey } from '../../shared/domain/api-key.ts';
import { physicalTableName, TABLES } from '../../shared/tables.ts';
import { scanForSecretKeys } from '../support/secret-scan.ts';

it('finds a planted secret key and nothing in look-alikes', async () => {
  const client = localDynamoClient(inject('dynamodbEndpoint'));
  await createTables(client, 'scan');
  const secret = generateKey('secret');
  const lookAlike = secret.slice(0, -1) + (secret.endsWith('0') ? '1' : '0'); // bad checksum
  await client.send(new PutItemCommand({
    TableName: physicalTableName('scan', TABLES.messages),
    Item: { sessionId: { S: 'ses_1' }, id: { S: 'msg_1' }, content: { S: `my key is ${secret} and ${lookAlike}` } },
  }));
  const result = await scanForSecretKeys(client, 'scan');
  client.destroy();
  expect(result.leaks).toEqual([`${physicalTableName('scan', TABLES.messages)}: ${secret.slice(0, 8)}…`]);
});
