// Scans every table for secret-key plaintext: any string anywhere in any item that is a well-formed
// secret key (prefix, 38 base62 characters, valid checksum). It needs no list of the keys created.
import { ScanCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { CHECKSUM_LENGTH, parseKey, prefixesFromEnv, RANDOM_LENGTH } from '../../shared/domain/api-key.ts';
import { physicalTableName, TABLES, type TableDefinition } from '../../shared/tables.ts';

/** The configured secret prefix (regex-escaped), then the random part and the checksum. */
function candidatePattern(prefix: string): RegExp {
  const escaped = prefix.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
  return new RegExp(`${escaped}[0-9A-Za-z]{${RANDOM_LENGTH + CHECKSUM_LENGTH}}`, 'g');
}

export async function scanForSecretKeys(client: DynamoDBClient, stage: string): Promise<{ items: number; leaks: string[] }> {
  let items = 0;
  const leaks: string[] = [];
  const prefixes = prefixesFromEnv();
  const candidate = candidatePattern(prefixes.secret);
  for (const def of Object.values(TABLES) as TableDefinition[]) {
    const table = physicalTableName(stage, def);
    let start: Record<string, any> | undefined;
    do {
      const page = await client.send(new ScanCommand({ TableName: table, ExclusiveStartKey: start }));
      for (const item of page.Items ?? []) {
        items++;
        for (const match of JSON.stringify(item).matchAll(candidate)) {
          if (parseKey(match[0], prefixes) === 'secret') leaks.push(`${table}: ${match[0].slice(0, 8)}…`);
        }
      }
      start = page.LastEvaluatedKey;
    } while (start);
  }
  return { items, leaks };
}
