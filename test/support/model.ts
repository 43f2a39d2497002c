// The model of DynamoDB's per-item rules the simulation uses (bench/dynamo-model.ts), as the unit
// tests of the high-volume path set it up: one organization, at one moment of one day.
import { DynamoModel } from '../../bench/dynamo-model.ts';

export const T = new Date('2031-03-04T10:20:30.000Z');
export const DAY = '2031-03-04';
export const ORG = 'org_1';

/** The model's throughput clock: 5 ms per call, so no item is near its 1,000 WCU/s here. */
export function newModel(): DynamoModel {
  const model = new DynamoModel();
  model.msPerCall = 5;
  return model;
}
