/**
 * The alert cursor: where this client is in the bridge's alert log, so a reconnect resumes
 * without losing or repeating an alert (docs/bridge.md, "Alert resume").
 *
 * Every live alert carries `seq` (its offset in the one-partition alert topic) and `epoch`
 * (which log). The cursor keeps the last `(epoch, seq)` delivered; a (re)subscribe to `alerts`
 * sends `since: seq, epoch` and the bridge replays everything after it, then continues live,
 * with no duplicate at the seam. As a second guard, an alert with `seq <=` the last one of the
 * same epoch is dropped here. Pure logic, no I/O: unit-tested in test/unit-alerts.test.ts.
 */

import { ConfigError } from './errors.js';
import type { AlertData, GapData, SubscribedData } from './types.js';

/** A position in the alert log: the last seq processed, in the log named by `epoch`. */
export interface AlertPosition {
  /** Last seq processed; -1 = before the first alert (replay everything held). */
  seq: number;
  /** The log the seq belongs to; undefined = whatever log the bridge has now. */
  epoch?: string | undefined;
}

/** The `since`/`epoch` fields of a resuming subscribe. */
export interface ResumeFields {
  since: number;
  epoch?: string;
}

export class AlertCursor {
  private pos: AlertPosition | null;
  /** Alerts dropped because they were already delivered (same epoch, seq not newer). */
  duplicates = 0;
  /** The highest action seq of the alert states seen: a resubscribe asks for the states changed after it. */
  private actions: number | null = null;

  /** `actionsSince` for a subscribe that includes alerts (null: no state seen yet). */
  actionsSince(): number | null {
    return this.actions;
  }

  /** Follow an `alert-state`'s action seq. */
  observeState(data: { actionSeq?: number | null }): void {
    const seq = data.actionSeq;
    if (typeof seq === 'number') this.actions = this.actions === null ? seq : Math.max(this.actions, seq);
  }

  /** A gap on alerts may have taken states too: the next resubscribe asks for all of them. */
  observeGap(gap: { channel: string }): void {
    if (gap.channel === 'alerts' && this.actions !== null) this.actions = -1;
  }

  constructor(initial?: AlertPosition | null) {
    if (initial != null) {
      if (!Number.isSafeInteger(initial.seq) || initial.seq < -1) {
        throw new ConfigError('bad-option', `resumeFrom.seq must be a whole number >= -1, got ${initial.seq}`);
      }
      if (initial.epoch !== undefined && (typeof initial.epoch !== 'string' || initial.epoch === '')) {
        throw new ConfigError('bad-option', 'resumeFrom.epoch must be a non-empty string when given');
      }
    }
    this.pos = initial == null ? null : { seq: initial.seq, epoch: initial.epoch };
  }

  /** The last position delivered (a copy), or null before the first alert. */
  get position(): AlertPosition | null {
    return this.pos === null ? null : { ...this.pos };
  }

  /** The fields to add to a subscribe that includes `alerts`, or null (no position: live only). */
  resumeFields(): ResumeFields | null {
    if (this.pos === null) return null;
    return this.pos.epoch === undefined ? { since: this.pos.seq } : { since: this.pos.seq, epoch: this.pos.epoch };
  }

  /**
   * Take a live alert: true if it is new (and moves the cursor to it), false if this client
   * already delivered it (same epoch, seq not greater). An alert of another epoch is new: the
   * log was recreated.
   */
  accept(alert: Pick<AlertData, 'seq' | 'epoch'>): boolean {
    const pos = this.pos;
    if (pos !== null && (pos.epoch === undefined || pos.epoch === alert.epoch) && alert.seq <= pos.seq) {
      this.duplicates += 1;
      return false;
    }
    this.pos = { seq: alert.seq, epoch: alert.epoch };
    return true;
  }

  /**
   * Apply the `subscribed` answer to a resuming subscribe. Returns a `gap` (reason
   * `not-recovered`) when the bridge could not resume where this client left off: alerts
   * between were evicted from its history (their seqs are given), or the log is another epoch
   * (the range is unknown). Timestamps are unknown (null). Returns null when the resume is
   * exact or there was none.
   */
  applySubscribed(data: SubscribedData): GapData | null {
    if (data.recovered === undefined) return null; // not an answer to a resume
    const before = this.pos;
    const epoch = data.epoch ?? null;
    const after = data.resumeAfter ?? null;
    if (epoch === null || after === null) {
      // The bridge holds no alert history (RTX_BRIDGE_ALERT_HISTORY=0): live alerts only.
      return data.recovered ? null : this.gap(null, null, null, null);
    }
    this.pos = { seq: after, epoch };
    if (data.recovered) return null;
    const sameLog = before !== null && (before.epoch === undefined || before.epoch === epoch);
    if (sameLog && after > before.seq) {
      return this.gap(after - before.seq, before.seq + 1, after, epoch);
    }
    return this.gap(null, null, null, epoch);
  }

  private gap(
    dropped: number | null,
    firstSeq: number | null,
    lastSeq: number | null,
    epoch: string | null,
  ): GapData {
    return {
      channel: 'alerts',
      dropped,
      reason: 'not-recovered',
      firstTimestamp: null,
      lastTimestamp: null,
      firstSeq,
      lastSeq,
      epoch,
    };
  }
}
