/**
 * Reconnect delays: exponential backoff with "full jitter" (Brooker, "Exponential Backoff And
 * Jitter", AWS Architecture Blog, 2015): the n-th retry waits a uniformly random time in
 * `[0, min(maxMs, baseMs * 2^n))`. Full jitter spreads the reconnects of many dashboards after a
 * bridge restart instead of having them all arrive at the same instants.
 */

import { ConfigError } from './errors.js';

export interface BackoffOptions {
  /** Upper bound of the first delay, ms (> 0). */
  baseMs: number;
  /** Cap of every delay, ms (>= baseMs). */
  maxMs: number;
}

/** Default backoff: first retry within 0.5 s, never more than 30 s apart. */
export const DEFAULT_BACKOFF: BackoffOptions = { baseMs: 500, maxMs: 30_000 };

/** Throws ConfigError unless base and max are finite, base > 0 and max >= base. */
export function checkBackoff(options: BackoffOptions): BackoffOptions {
  const { baseMs, maxMs } = options;
  if (!Number.isFinite(baseMs) || baseMs <= 0) {
    throw new ConfigError('bad-option', `backoffBaseMs must be a finite number > 0, got ${baseMs}`);
  }
  if (!Number.isFinite(maxMs) || maxMs < baseMs) {
    throw new ConfigError('bad-option', `backoffMaxMs must be finite and >= backoffBaseMs (${baseMs}), got ${maxMs}`);
  }
  return { baseMs, maxMs };
}

/** The exclusive upper bound of the delay before retry number `attempt` (0-based). */
export function backoffCeiling(attempt: number, options: BackoffOptions): number {
  // 2 ** attempt overflows to Infinity past ~1024, which Math.min handles.
  return Math.min(options.maxMs, options.baseMs * 2 ** Math.max(0, attempt));
}

/** The delay before retry number `attempt`: uniform in [0, ceiling). `random` returns [0, 1). */
export function backoffDelay(
  attempt: number,
  options: BackoffOptions,
  random: () => number = Math.random,
): number {
  return Math.floor(random() * backoffCeiling(attempt, options));
}
