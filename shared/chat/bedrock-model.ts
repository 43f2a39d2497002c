// Which Bedrock model answers by default, and how a model id names a cross-Region inference profile.
// Pure (no SDK): the stack, the CLI and the chat backend all read it.

/**
 * The default model: Claude Haiku 5.5 through its global cross-Region inference profile. Active on
 * Bedrock (EOL no sooner than 2027-10-07) and callable from every commercial source Region. For data
 * residency use a geographic profile instead (`us.`, `eu.`, `apac.`, ... + `anthropic.claude-haiku-5-5`).
 */
export const DEFAULT_BEDROCK_MODEL = 'global.anthropic.claude-haiku-5-5';

/** Geography prefixes of system-defined (cross-Region) inference profile ids. */
const PROFILE_PREFIX = /^(global|us|us-gov|eu|apac|jp|au|ca)\./;

export interface InferenceProfileId {
  /** `global` routes to any commercial Region; the others stay inside their geography. */
  geography: string;
  /** The foundation model the profile routes to, e.g. `anthropic.claude-haiku-5-5`. */
  foundationModelId: string;
}

/** The profile a model id names, or undefined for a plain foundation-model id (or an ARN). */
export function parseInferenceProfileId(modelId: string): InferenceProfileId | undefined {
  const match = PROFILE_PREFIX.exec(modelId);
  if (!match) return undefined;
  return { geography: match[1]!, foundationModelId: modelId.slice(match[0].length) };
}
