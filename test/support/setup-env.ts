// Runs in each test file's process before it imports anything: point the functions at the test
// DynamoDB Local and give them the environment the stack would (fresh local secrets per file).
import { inject } from 'vitest';
import { localEnvironment } from '../../infra/local/environment.ts';
import { loadLocalSecrets } from '../../infra/local/local-secrets.ts';
import { TEST_STAGE } from './stage.ts';

const secrets = await loadLocalSecrets();
Object.assign(process.env, localEnvironment({ dynamodbEndpoint: inject('dynamodbEndpoint'), secrets, stage: TEST_STAGE }));
process.env.LOG_LEVEL = 'SILENT';
globalThis.__keygateTestSecrets = secrets;

declare global {
  // eslint-disable-next-line no-var
  var __keygateTestSecrets: Awaited<ReturnType<typeof loadLocalSecrets>>;
}
