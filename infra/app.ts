// CDK entry (cdk.json: `node infra/app.ts`). Stage and deploy settings come from CDK context:
//   npx cdk synth -c stage=prod -c bedrockModelId=us.anthropic.claude-...
import { App } from 'aws-cdk-lib';
import { ensurePortalBuilt } from './local/build-web.ts';
import { createKeygateApp } from './stack.ts';

// The stack uploads the portal build: build it first when missing or older than its sources.
await ensurePortalBuilt();

const app = new App();
createKeygateApp(app);
app.synth();
