/**
 * Alert actions (docs/bridge.md, "Alert actions"): `acknowledge`, `assign`, `comment`, `snooze`,
 * `resolve`, `reopen`, each a promise that resolves with the bridge's `confirmed` (its
 * `actionSeq`: the action's place in the audit trail) or rejects with a ServerError carrying
 * the bridge's code (`not-allowed`, `unknown-alert`, `already-resolved`, ...).
 *
 * Each action gets an `actionId` (a random UUID) when it is called; the bridge writes an action
 * id once. An action not answered when the connection drops is sent again, same id, once the
 * client is open again: so it is done exactly once whether or not its first send was written
 * (`duplicate: true` then). Calls made while (re)connecting are sent once open; `close()`
 * rejects every action still waiting, and one not answered within `timeoutMs` rejects with code
 * `timeout` (it may still have been written: call again with the same `actionId` to know).
 */

import { AnalyticsClientError, ConfigError, ConnectionError, ServerError } from './errors.js';
import { replayTime } from './replay.js';
import type { ConfirmedData, DeskAction, ErrorData } from './types.js';

/** Longest note, comment or reason the bridge accepts. */
export const NOTE_MAX = 500;
export const ACTION_DEFAULT_TIMEOUT_MS = 30_000;

/** Optional fields of every action. */
export interface ActionOptions {
  /** Pin the alert: its `seq` and `epoch` (from its `alert` message); another alert under that id is `unknown-alert`. */
  seq?: number;
  epoch?: string;
  /** The idempotency key (default: a new random UUID). Pass the same one to retry an action whose outcome is unknown. */
  actionId?: string;
  timeoutMs?: number;
}

/** What {@link ActionRequests} needs of the client. */
export interface ActionIo {
  isOpen(): boolean;
  send(frame: Record<string, unknown>): void;
}

interface Pending {
  frame: Record<string, unknown>;
  timer: ReturnType<typeof setTimeout> | null;
  resolve: (data: ConfirmedData) => void;
  reject: (error: AnalyticsClientError) => void;
}

function text(value: unknown, name: string, required: boolean): string | undefined {
  if (value === undefined && !required) return undefined;
  if (typeof value !== 'string' || value.trim() === '' || value.length > NOTE_MAX) {
    throw new ConfigError('bad-option', `${name} must be non-blank text of at most ${NOTE_MAX} characters`);
  }
  return value;
}

function newActionId(): string {
  return globalThis.crypto.randomUUID().replaceAll('-', '');
}

/** The frame of an action, without `id`; ConfigError (thrown) for a bad argument. */
export function actionFrame(
  action: DeskAction,
  alertId: unknown,
  fields: Record<string, unknown>,
  options: ActionOptions = {},
): Record<string, unknown> {
  if (typeof alertId !== 'string' || alertId.trim() === '') {
    throw new ConfigError('bad-option', 'alertId must be an alert id (the alert message\'s data.id)');
  }
  const frame: Record<string, unknown> = { action, alertId };
  if (options.seq !== undefined) {
    if (!Number.isInteger(options.seq) || options.seq < 0) throw new ConfigError('bad-option', `seq must be a whole number >= 0: ${options.seq}`);
    frame.seq = options.seq;
  }
  if (options.epoch !== undefined) frame.epoch = String(options.epoch);
  for (const [name, value] of Object.entries(fields)) if (value !== undefined) frame[name] = value;
  frame.actionId = options.actionId ?? newActionId();
  return frame;
}

/** The fields of each action, checked: `note` optional unless said. */
export const FIELDS = {
  acknowledge: (note?: string) => ({ note: text(note, 'note', false) }),
  assign: (assignee: string, note?: string) => ({ assignee: text(assignee, 'assignee', true), note: text(note, 'note', false) }),
  comment: (note: string) => ({ note: text(note, 'note', true) }),
  snooze: (until: string | Date, note?: string) => ({ until: replayTime(until, 'until')[0], note: text(note, 'note', false) }),
  resolve: (reason: string) => ({ note: text(reason, 'reason', true) }),
  reopen: (note?: string) => ({ note: text(note, 'note', false) }),
};

/** The actions waiting for their answer, by request id. */
export class ActionRequests {
  private readonly pending = new Map<string, Pending>();

  constructor(private readonly io: ActionIo) {}

  /** Send `frame` with request id `id` (now, or once open); resolves on its `confirmed`. */
  add(id: string, frame: Record<string, unknown>, timeoutMs = ACTION_DEFAULT_TIMEOUT_MS): Promise<ConfirmedData> {
    frame.id = id;
    return new Promise((resolve, reject) => {
      const entry: Pending = { frame, timer: null, resolve, reject };
      if (Number.isFinite(timeoutMs)) {
        entry.timer = setTimeout(() => {
          this.pending.delete(id);
          reject(new AnalyticsClientError('timeout', `no answer to ${String(frame.action)} within ${timeoutMs} ms`));
        }, timeoutMs);
      }
      this.pending.set(id, entry);
      if (this.io.isOpen()) this.io.send(frame);
    });
  }

  /** The connection (re)opened: send every action still waiting, with its first actionId. */
  opened(): void {
    for (const entry of this.pending.values()) this.io.send(entry.frame);
  }

  /** A `confirmed` message: resolve its action. */
  confirmed(data: ConfirmedData): void {
    const entry = this.take(data.id);
    entry?.resolve(data);
  }

  /** An `error` message: reject the action it answers, if any. Whether it did. */
  error(data: ErrorData): boolean {
    const entry = this.take(data.id);
    if (entry === undefined) return false;
    entry.reject(new ServerError(data.code, `bridge refused ${String(entry.frame.action)}: ${data.message}`, data.channel, data.id));
    return true;
  }

  /** The client closed for good: every waiting action rejects. */
  stop(error: ConnectionError): void {
    for (const id of [...this.pending.keys()]) this.take(id)?.reject(error);
  }

  private take(id: string | number | undefined): Pending | undefined {
    if (id === undefined) return undefined;
    const entry = this.pending.get(String(id));
    if (entry === undefined) return undefined;
    this.pending.delete(String(id));
    if (entry.timer !== null) clearTimeout(entry.timer);
    return entry;
  }
}
