// CDK entry (cdk.json: `node infra/app.ts`). Stage and deploy settings come from CDK context:
//   npx cdk synth -c stage=prod -c bedrockModelId=eu.anthropic.claude-haiku-5-5
import { App } from 'aws-cdk-lib';
import { ensureWebBuilt } from '../web/build.ts';
import { createKeygateApp } from './stack.ts';

// The stack uploads the portal build and widget.js: build them first (the portal when missing or
// older than its sources; the widget always, in well under a second).
await ensureWebBuilt();

const app = new App();
createKeygateApp(app);
app.synth();
