// CDK entry (cdk.json: `node infra/app.ts`). Stage and deploy settings come from CDK context:
//   npx cdk synth -c stage=prod -c bedrockModelId=us.anthropic.claude-...
import { App } from 'aws-cdk-lib';
import { createKeygateApp } from './stack.ts';

const app = new App();
createKeygateApp(app);
app.synth();
