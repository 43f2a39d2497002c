// What one authorized public request costs in AWS, estimated from figures the bench measures.
// LIST PRICES, us-east-1, as of the bench's writing; estimates, not a bill. Free tiers ignored.
//   DynamoDB on demand (after the Nov 2024 price cut): $0.125 per million read request units,
//     $0.625 per million write request units.
//   API Gateway REST API: $3.50 per million requests (first 333 million a month).
//   Lambda arm64: $0.0000133334 per GB-second, $0.20 per million requests; duration billed per 1 ms.
// A request is: one API Gateway request, one authorizer invocation (result cache off), one function
// invocation, and the DynamoDB request units the bench counted for it.

export const PRICES = {
  region: 'us-east-1',
  dynamoReadPerMillionRru: 0.125,
  dynamoWritePerMillionWru: 0.625,
  apiGatewayRestPerMillion: 3.5,
  lambdaArm64PerGbSecond: 0.0000133334,
  lambdaPerMillionRequests: 0.2,
} as const;

export const PRICE_TABLE_LINES = [
  `List prices, ${PRICES.region}, estimates (free tiers ignored):`,
  `  DynamoDB on demand   $${PRICES.dynamoReadPerMillionRru} per million RRU, $${PRICES.dynamoWritePerMillionWru} per million WRU (after the Nov 2024 cut)`,
  `  API Gateway REST     $${PRICES.apiGatewayRestPerMillion} per million requests`,
  `  Lambda arm64         $${PRICES.lambdaArm64PerGbSecond} per GB-second, $${PRICES.lambdaPerMillionRequests} per million requests, billed per 1 ms`,
];

export interface CostInputs {
  rruPerRequest: number;
  wruPerRequest: number;
  authorizer: { memoryMb: number; durationMs: number };
  fn: { memoryMb: number; durationMs: number };
}

export interface CostLine {
  item: string;
  perMillion: number;
  basis: string;
}

function lambdaCompute(memoryMb: number, durationMs: number): { cost: number; billedMs: number } {
  const billedMs = Math.max(1, Math.ceil(durationMs));
  return { cost: (memoryMb / 1024) * (billedMs / 1000) * 1e6 * PRICES.lambdaArm64PerGbSecond, billedMs };
}

/** Cost per million authorized requests, itemized. */
export function costPerMillion(inputs: CostInputs): { lines: CostLine[]; total: number } {
  const auth = lambdaCompute(inputs.authorizer.memoryMb, inputs.authorizer.durationMs);
  const fn = lambdaCompute(inputs.fn.memoryMb, inputs.fn.durationMs);
  const lines: CostLine[] = [
    { item: 'API Gateway REST', perMillion: PRICES.apiGatewayRestPerMillion, basis: '1 request' },
    {
      item: 'Lambda requests',
      perMillion: 2 * PRICES.lambdaPerMillionRequests,
      basis: '2 invocations (authorizer + function)',
    },
    {
      item: 'Lambda authorizer compute',
      perMillion: auth.cost,
      basis: `${inputs.authorizer.memoryMb} MB × ${auth.billedMs} ms (measured p50 ${inputs.authorizer.durationMs.toFixed(2)} ms, rounded up)`,
    },
    {
      item: 'Lambda function compute',
      perMillion: fn.cost,
      basis: `${inputs.fn.memoryMb} MB × ${fn.billedMs} ms (measured p50 ${inputs.fn.durationMs.toFixed(2)} ms, rounded up)`,
    },
    {
      item: 'DynamoDB reads',
      perMillion: inputs.rruPerRequest * PRICES.dynamoReadPerMillionRru,
      basis: `${inputs.rruPerRequest} RRU per request`,
    },
    {
      item: 'DynamoDB writes',
      perMillion: inputs.wruPerRequest * PRICES.dynamoWritePerMillionWru,
      basis: `${inputs.wruPerRequest} WRU per request`,
    },
  ];
  return { lines, total: lines.reduce((sum, line) => sum + line.perMillion, 0) };
}
