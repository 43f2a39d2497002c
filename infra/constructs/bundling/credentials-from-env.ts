// Replaces @aws-sdk/credential-provider-node in the Lambda bundles (esbuild alias in
// keygate-function.ts). In Lambda the SDK's default chain always ends at its first link: the
// execution role's credentials are in the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
// AWS_SESSION_TOKEN) and AWS_PROFILE is not set. The other links (SSO, ini files, process, web
// identity, container and instance metadata, login) and the STS/SSO clients they carry are a
// quarter of a DynamoDB client's bundle and never run. Same exported name and signature as the
// package's `defaultProvider`, so every SDK client's runtime config picks it up unchanged.
import { fromEnv, type FromEnvInit } from '@aws-sdk/credential-provider-env';

export const defaultProvider = (init: FromEnvInit = {}) => fromEnv(init);
