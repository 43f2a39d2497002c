// Hold and settle (docs/limits.md "Credits"): the pure rules both credit paths and the simulation
// share. A reply holds its worst case before the upstream is called, and settles to what it used.
//
// The worst case is an upper bound of the reply's input tokens (after trimming to maxInputTokens:
// `trimTurns`'s `inputTokenBound`, UTF-8 bytes plus 8 per message) plus its output cap. Under
// `{mode: "tokens"}` billing it costs `ceil((inputBound × N + cap × M) / 1000)` credits; under
// `{mode: "reply"}` one credit. When the balance cannot hold that, the output cap is lowered to what
// it can hold, down to MIN_OUTPUT_TOKENS; below that the reply is refused (402).
import { CREDITS_PER_REPLY, replyCost, type Billing } from '../domain/billing.ts';

/** A reply that cannot hold its input bound plus this many output tokens is refused. */
export const MIN_OUTPUT_TOKENS = 16;

/** After a hold's function deadline, this long for it to settle before the sweep may. */
export const SETTLE_MARGIN_MS = 30_000;

/**
 * A hold is due to the sweep at most this long after it was taken or last renewed; a reply that runs
 * longer renews it every HOLD_RENEW_MS. A dead function's hold is then settled within
 * HOLD_RENEW_MS + HOLD_LEASE_MS + SETTLE_MARGIN_MS + SWEEP_EVERY_MS (4.5 minutes) of its death,
 * whatever the function's timeout.
 */
export const HOLD_LEASE_MS = 120_000;
export const HOLD_RENEW_MS = 60_000;

/** The sweep's schedule: a dead function's hold is settled at most deadline + margin + this late. */
export const SWEEP_EVERY_MS = 60_000;

/** Holds are spread over this many index partitions (the sweep reads each): at 10,000 replies/s each takes about 300 index writes a second. */
export const HOLD_SHARDS = 64;

export interface HoldRequest {
  /** Upper bound of the input tokens sent (instructions and kept turns). */
  inputBound: number;
  /** The assistant's output cap (maxOutputTokens). */
  outputCap: number;
}

export interface Priced {
  /** Credits to hold. */
  credits: number;
  /** The output cap to pass to the upstream: the requested one, or lowered to what the credits hold. */
  outputCap: number;
}

/** The reply's worst case at its full output cap. */
export function fullHold(billing: Billing, request: HoldRequest): Priced {
  return { credits: costOf(billing, request.inputBound, request.outputCap), outputCap: request.outputCap };
}

/** A hold is at least one credit: a balance at zero refuses every reply, whatever it would cost. */
function costOf(billing: Billing, inputBound: number, outputCap: number): number {
  return Math.max(1, replyCost(billing, { inputTokens: inputBound, outputTokens: outputCap }));
}

/**
 * The hold that `available` credits allow: the full worst case, else the output cap lowered to what
 * fits (at least MIN_OUTPUT_TOKENS, or the cap when it is smaller); undefined when not even that fits.
 */
export function holdWithin(billing: Billing, request: HoldRequest, available: number): Priced | undefined {
  const full = fullHold(billing, request);
  if (full.credits <= available) return full;
  if (billing.mode === 'reply' || billing.outputPer1k === 0) return undefined;
  const fitting = Math.floor((available * 1000 - request.inputBound * billing.inputPer1k) / billing.outputPer1k);
  const outputCap = Math.min(request.outputCap, fitting);
  if (outputCap < Math.min(MIN_OUTPUT_TOKENS, request.outputCap)) return undefined;
  return { credits: costOf(billing, request.inputBound, outputCap), outputCap };
}

/** The smallest hold a reply can start with (its input bound plus MIN_OUTPUT_TOKENS). */
export function minimumHold(billing: Billing, request: HoldRequest): number {
  return costOf(billing, request.inputBound, Math.min(MIN_OUTPUT_TOKENS, request.outputCap));
}

/**
 * What a reply that ended is charged: its tokens at its billing, never more than its hold. Under
 * `{mode: "reply"}` a reply that produced something costs one credit.
 */
export function settledCharge(billing: Billing, held: number, usage: { inputTokens: number; outputTokens: number }): number {
  const cost = billing.mode === 'reply' ? CREDITS_PER_REPLY : replyCost(billing, usage);
  return Math.max(0, Math.min(held, cost));
}

/** What the sweep charges a hold whose function died: all of it once a delta reached the caller, else nothing. */
export function sweptCharge(hold: { held: number; delivered?: boolean }): number {
  return hold.delivered ? hold.held : 0;
}

/** When a hold taken (or renewed) at `nowMs` is the sweep's to settle: its function's deadline or its lease, whichever is sooner, plus SETTLE_MARGIN_MS. */
export function holdDueAt(deadlineMs: number, nowMs: number = deadlineMs): number {
  return Math.min(deadlineMs, nowMs + HOLD_LEASE_MS) + SETTLE_MARGIN_MS;
}

/** The index sort key of a hold due at `dueMs` (zero-padded epoch ms sort as time). */
export function holdDueKey(dueMs: number, id: string): string {
  return `${String(Math.max(0, Math.floor(dueMs))).padStart(15, '0')}#${id}`;
}

/** The index partition of a hold (spread, so no partition takes every reply's hold and settle). */
export function holdShardOf(random: () => number = Math.random): string {
  return `hold#${Math.floor(random() * HOLD_SHARDS)}`;
}
