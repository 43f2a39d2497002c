// What every figure writes to: its details as it goes, and rows of the final table.
import { table } from '../stats.ts';

export type Status = 'PASS' | 'GAP' | 'N/A' | 'info' | 'ERROR';
export interface Row {
  figure: string;
  measured: string;
  target: string;
  status: Status;
  note?: string;
}

export const rows: Row[] = [];
let broke = false;

/** True once a figure threw: the bench itself broke (exit code 1), as opposed to a missed target. */
export function benchBroke(): boolean {
  return broke;
}
export function markBroken(): void {
  broke = true;
}

export function section(title: string): void {
  console.log(`\n== ${title}`);
}
export function detail(text: string): void {
  console.log(`   ${text}`);
}
export function notMeasurable(figure: string, target: string, reason: string): void {
  rows.push({ figure, measured: `not measurable yet: ${reason}`, target, status: 'N/A' });
  detail(`not measurable yet: ${reason}`);
}
/** A table printed indented under a figure's section. */
export function indentedTable(headers: string[], body: string[][]): void {
  console.log(table(headers, body).split('\n').map((l) => `   ${l}`).join('\n'));
}

/** Run one figure; an exception here is the bench breaking, not a missed target. */
export async function figure(name: string, fn: () => Promise<void>): Promise<void> {
  try {
    await fn();
  } catch (error) {
    broke = true;
    const message = String((error as Error)?.stack ?? error);
    console.log(`   BENCH ERROR in ${name}: ${message}`);
    rows.push({ figure: name, measured: `bench error: ${String((error as Error)?.message ?? error).slice(0, 120)}`, target: '-', status: 'ERROR' });
  }
}

export function printTable(): void {
  section('Results (this machine; ratios compare across machines, absolute times do not)');
  console.log(table(
    ['figure', 'measured', 'target', 'status'],
    rows.map((r) => [r.figure, r.measured, r.target, r.note && r.status !== 'PASS' ? `${r.status}: ${r.note}` : r.note ? `${r.status} (${r.note})` : r.status]),
  ));
}
