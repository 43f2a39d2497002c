// `npm start` records where its DynamoDB Local listens (a free port each run) and which stage names
// its tables, so `npx keygate …` finds the running local runtime without being told: the local
// runtime writes this file, the CLI reads it.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

export const RUNTIME_FILE = resolve(import.meta.dirname, '../.keygate/runtime.json');

export interface RuntimeInfo {
  dynamodbEndpoint: string;
  stage: string;
  url: string;
  pid: number;
}

export function writeRuntimeInfo(info: RuntimeInfo, file = RUNTIME_FILE): void {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, `${JSON.stringify(info, null, 2)}\n`);
}

/** The running local runtime, if its file exists and its process is alive. */
export function readRuntimeInfo(file = RUNTIME_FILE): RuntimeInfo | undefined {
  let info: RuntimeInfo;
  try {
    info = JSON.parse(readFileSync(file, 'utf8')) as RuntimeInfo;
  } catch {
    return undefined;
  }
  try {
    process.kill(info.pid, 0);
  } catch {
    return undefined; // left behind by a runtime that did not stop cleanly
  }
  return info;
}

export function removeRuntimeInfo(file = RUNTIME_FILE): void {
  rmSync(file, { force: true });
}
