// `npm start`: the whole API on http://localhost:3000 over DynamoDB Local. Ctrl-C stops everything.
//   PORT=4000 npm start            another port
//   npm start -- --in-memory       nothing persists (default: .keygate/dynamodb keeps the data)
//   npm start -- --bundled         serve the Lambda bundles of a fresh `cdk synth` instead of the sources
//   DYNAMODB_ENDPOINT=http://...   use a DynamoDB you run yourself
import { ensureWebBuilt } from '../../web/build.ts';
import { bootLocalKeygate, LOCAL_STAGE } from './environment.ts';
import { removeRuntimeInfo, writeRuntimeInfo } from '../../shared/runtime-file.ts';

const port = Number(process.env.PORT ?? 3000);
const inMemory = process.argv.includes('--in-memory') || process.env.KEYGATE_IN_MEMORY === '1';
const bundled = process.argv.includes('--bundled');

// The portal when missing or older than its sources; widget.js every time, so it always matches them.
const { portalBuilt, widget } = await ensureWebBuilt();
if (portalBuilt) console.log('Built the portal into web/dist/portal (it was missing or older than its sources).');

const keygate = await bootLocalKeygate({
  port,
  inMemory,
  bundled,
  ...(process.env.DYNAMODB_ENDPOINT ? { dynamodbEndpoint: process.env.DYNAMODB_ENDPOINT } : {}),
});
const base = `http://localhost:${new URL(keygate.url).port}`;
// For the operator CLI (`npx keygate …`): where this runtime's tables are.
writeRuntimeInfo({ dynamodbEndpoint: keygate.dynamodbEndpoint, stage: LOCAL_STAGE, url: base, pid: process.pid });

console.log(`Keygate listening on ${base}${bundled ? ' (serving the synthesized Lambda bundles)' : ''}`);
console.log(`  Portal: ${base}/ (sign in with any email; tick Operator for platform staff)`);
console.log(`  DynamoDB: ${keygate.dynamodbEndpoint}${inMemory ? ' (in memory)' : ' (data in .keygate/dynamodb)'}
  Widget: ${base}/widget.js (${(widget.gzipBytes / 1024).toFixed(1)} KiB gzip), demo page ${base}/widget-demo.html?key=pk_…
  Quickstart:
    TOKEN=$(curl -s -X POST ${base}/_dev/token -H 'Content-Type: application/json' -d '{"sub":"user-1"}' | node -pe 'JSON.parse(require("fs").readFileSync(0)).token')
    curl -s -X POST ${base}/v1/organizations -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' -d '{"name":"Acme"}'
  Ctrl-C stops the API and DynamoDB Local.`);

let stopping = false;
async function shutdown(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  console.log(`\n${signal}: stopping Keygate...`);
  removeRuntimeInfo();
  await keygate.stop();
  process.exit(0);
}
process.on('SIGINT', () => void shutdown('SIGINT'));
process.on('SIGTERM', () => void shutdown('SIGTERM'));
