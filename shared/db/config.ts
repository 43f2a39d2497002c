// DynamoDB client settings, apart from the clients themselves so the authorizer can build its own
// minimal client without pulling in the document client.
// DYNAMODB_ENDPOINT points at DynamoDB Local; short timeouts and two attempts make an unreachable
// DynamoDB fail fast (and closed) instead of hanging the request.
import type { DynamoDBClientConfig } from '@aws-sdk/client-dynamodb';

/** Client settings shared by every DynamoDB client in the project. */
export function dynamoClientConfig(env: NodeJS.ProcessEnv = process.env): DynamoDBClientConfig {
  const endpoint = env.DYNAMODB_ENDPOINT;
  return {
    ...(endpoint
      ? {
          endpoint,
          region: env.AWS_REGION ?? 'local',
          // Credentials from the environment when it has them (the Lambda bundles run locally get
          // them as in Lambda, so their trimmed credential provider is exercised); DynamoDB Local takes any.
          ...(env.AWS_ACCESS_KEY_ID ? {} : { credentials: { accessKeyId: 'local', secretAccessKey: 'local' } }),
        }
      : {}),
    maxAttempts: 2,
    // requestTimeout only fails the call with throwOnRequestTimeout (otherwise the SDK just warns);
    // the default 50-socket pool would queue bursts behind the 1 s connection timeout.
    requestHandler: {
      connectionTimeout: 1_000,
      requestTimeout: 5_000,
      throwOnRequestTimeout: true,
      httpAgent: { maxSockets: 256 },
      httpsAgent: { maxSockets: 256 },
    },
  };
}
