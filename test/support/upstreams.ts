// Deployed upstreams as the assistant rules see them: one with models, two without.
import type { UpstreamChoice } from '../../shared/domain/assistants.ts';

export const TEST_UPSTREAMS: UpstreamChoice[] = [
  { name: 'claude', kind: 'bedrock', models: ['anthropic.claude-a', 'anthropic.claude-b'] },
  { name: 'own', kind: 'http', models: [] },
  { name: 'echo', kind: 'echo', models: [] },
];
