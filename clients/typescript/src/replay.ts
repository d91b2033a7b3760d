/**
 * Time-range alert replay (docs/bridge.md section 2): `{"action":"replay","channel":"alerts",
 * "fromTime","toTime"?,"limit"?,"id"}` is answered with the stored alerts of that range, each
 * marked `"replay": true`, then a `replay-done` carrying the request's `id`.
 *
 * {@link ReplayRequests} turns that into promises for {@link AnalyticsWebSocket.replayAlerts}:
 *
 * - The bridge runs one replay per connection (a second gets `replay-busy`) and the replayed
 *   alerts carry no request id, so requests go out **one at a time**: a call made while another
 *   runs waits its turn. The replayed alerts belong to the request on the wire.
 * - A request that times out after it was sent is still running on the bridge: its alerts are
 *   discarded and the next request waits for its `replay-done` (or for the connection to drop,
 *   which ends it), so it is never refused as `replay-busy` and never gets foreign alerts.
 * - Calls made while the client is (re)connecting are sent once it is open. A request on the
 *   wire when the connection drops rejects with a ConnectionError `closed` (the bridge forgets
 *   the job); `close()` rejects every request.
 *
 * Arguments are checked here (ConfigError, thrown), because the bridge answers a malformed
 * replay frame with a `bad-field` error that does not echo the request id.
 */

import { AnalyticsClientError, ConfigError, ConnectionError, ServerError } from './errors.js';
import type { AlertData, Envelope, ReplayDoneData } from './types.js';

/** The bridge's own bounds of `limit` (default 1000). */
export const REPLAY_MAX_LIMIT = 10_000;
/** Default of `timeoutMs`. */
export const REPLAY_DEFAULT_TIMEOUT_MS = 30_000;

export interface ReplayAlertsOptions {
  /** Start of the range, inclusive: RFC 3339 with an offset (`2026-01-19T10:30:45.123456Z`) or a Date. */
  fromTime: string | Date;
  /** End of the range, exclusive (same forms); default: up to the newest alert held. */
  toTime?: string | Date;
  /** At most this many alerts, 1..10000 (bridge default 1000); `done.truncated` says more matched. */
  limit?: number;
  /** Reject with code `timeout` when `replay-done` has not come after this many ms (from the call). Default 30000; `Infinity`: never. */
  timeoutMs?: number;
  /** Also pass each replayed alert to `onAlert` as it arrives (`message.replay` is true). Default false. */
  deliver?: boolean;
}

export interface ReplayResult {
  /** The replayed alerts' `data`, oldest first. */
  alerts: AlertData[];
  /** The same alerts as whole messages (`timestamp` = the alert's event time, `replay: true`). */
  messages: Envelope<'alert'>[];
  /** The bridge's `replay-done`: `count`, `dropped`, `truncated`, `complete`. */
  done: ReplayDoneData;
}

/** What {@link ReplayRequests} needs of the client. */
export interface ReplayIo {
  /** Whether a frame can be sent now. */
  isOpen(): boolean;
  send(frame: Record<string, unknown>): void;
  /** Pass a replayed alert to `onAlert` (for `deliver: true`). */
  deliver(message: Envelope<'alert'>): void;
  log(line: string): void;
}

interface Request {
  id: string;
  frame: Record<string, unknown>;
  deliver: boolean;
  sent: boolean;
  messages: Envelope<'alert'>[];
  timer: ReturnType<typeof setTimeout> | null;
  resolve: (result: ReplayResult) => void;
  reject: (error: AnalyticsClientError) => void;
}

const RFC3339 = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)$/;

/** An RFC 3339 time (string with offset, or Date) as [text for the bridge, microseconds since the epoch]; ConfigError otherwise. */
export function replayTime(value: unknown, name: string): [string, number] {
  if (value instanceof Date) {
    const ms = value.getTime();
    if (Number.isNaN(ms)) throw new ConfigError('bad-option', `${name} is an invalid Date`);
    return [value.toISOString(), ms * 1000];
  }
  const match = typeof value === 'string' ? RFC3339.exec(value) : null;
  const ms = match === null ? NaN : Date.parse(`${match[1]}${match[3]}`);
  if (match === null || Number.isNaN(ms)) {
    throw new ConfigError(
      'bad-option',
      `${name} must be a Date or an RFC 3339 time with an offset, like 2026-01-19T10:30:45.123456Z; got ${JSON.stringify(value)}`,
    );
  }
  const micros = Number((match[2] ?? '').padEnd(6, '0').slice(0, 6));
  return [value as string, ms * 1000 + micros];
}

/** The replay frame for these options (without `id`); throws ConfigError for bad ones. */
export function replayFrame(options: ReplayAlertsOptions): Record<string, unknown> {
  if (options === null || typeof options !== 'object') {
    throw new ConfigError('bad-option', 'replayAlerts takes an object {fromTime, toTime?, limit?, timeoutMs?, deliver?}');
  }
  const [fromTime, fromUs] = replayTime(options.fromTime, 'fromTime');
  const frame: Record<string, unknown> = { action: 'replay', channel: 'alerts', fromTime };
  if (options.toTime !== undefined) {
    const [toTime, toUs] = replayTime(options.toTime, 'toTime');
    if (toUs < fromUs) throw new ConfigError('bad-option', `toTime ${toTime} is before fromTime ${fromTime}`);
    frame.toTime = toTime;
  }
  if (options.limit !== undefined) {
    const limit = options.limit;
    if (!Number.isSafeInteger(limit) || limit < 1 || limit > REPLAY_MAX_LIMIT) {
      throw new ConfigError('bad-option', `limit must be a whole number from 1 to ${REPLAY_MAX_LIMIT}, got ${String(limit)}`);
    }
    frame.limit = limit;
  }
  return frame;
}

function timeoutOf(options: ReplayAlertsOptions): number {
  const ms = options.timeoutMs ?? REPLAY_DEFAULT_TIMEOUT_MS;
  if (typeof ms !== 'number' || Number.isNaN(ms) || ms <= 0) {
    throw new ConfigError('bad-option', `timeoutMs must be a number > 0 (Infinity: no timeout), got ${String(ms)}`);
  }
  return ms;
}

/** The replay requests of one client: a queue, the one on the wire, and a timed-out one still running. */
export class ReplayRequests {
  private readonly queue: Request[] = [];
  /** The id of a request that timed out on the wire: the bridge still runs it. */
  private orphan: string | null = null;
  /** Replayed alerts discarded (of a timed-out request, or with no request at all). */
  discarded = 0;

  constructor(private readonly io: ReplayIo) {}

  /** Queue a request (options already checked by {@link replayFrame}); sends it when its turn comes. */
  add(id: string, options: ReplayAlertsOptions): Promise<ReplayResult> {
    const frame = { ...replayFrame(options), id };
    const timeoutMs = timeoutOf(options);
    return new Promise((resolve, reject) => {
      const request: Request = { id, frame, deliver: options.deliver === true, sent: false, messages: [], timer: null, resolve, reject };
      if (Number.isFinite(timeoutMs)) {
        request.timer = setTimeout(() => this.timedOut(request, timeoutMs), timeoutMs);
      }
      this.queue.push(request);
      this.pump();
    });
  }

  /** The connection is open: send the next request if it is its turn. */
  pump(): void {
    const head = this.queue[0];
    if (head === undefined || head.sent || this.orphan !== null || !this.io.isOpen()) return;
    head.sent = true;
    this.io.log(`replay ${head.id}: alerts from ${String(head.frame.fromTime)}${head.frame.toTime === undefined ? '' : ` to ${String(head.frame.toTime)}`}`);
    this.io.send(head.frame);
  }

  /** A message with `replay: true` arrived; it belongs to the request on the wire. */
  alert(message: Envelope<'alert'>): void {
    const head = this.queue[0];
    if (head === undefined || !head.sent) {
      this.discarded += 1;
      return; // a timed-out request's alert, or no request: nobody asked for it
    }
    head.messages.push(message);
    if (head.deliver) this.io.deliver(message);
  }

  /** `replay-done`: resolve its request (or forget a timed-out one). */
  done(data: ReplayDoneData): void {
    const id = data.id === undefined ? null : String(data.id);
    if (id !== null && id === this.orphan) {
      this.orphan = null;
      this.io.log(`replay ${id} (timed out) finished on the bridge`);
      return this.pump();
    }
    const head = this.queue[0];
    if (head === undefined || !head.sent || head.id !== id) return; // not ours
    this.finish(head);
    this.io.log(`replay ${head.id}: ${data.count} alerts${data.truncated ? ' (truncated)' : ''}`);
    head.resolve({ alerts: head.messages.map((m) => m.data), messages: head.messages, done: data });
    this.pump();
  }

  /** A bridge `error` naming this id: reject its request. True if it was a replay's. */
  error(error: ServerError): boolean {
    const id = error.requestId === undefined ? null : String(error.requestId);
    if (id === null) return false;
    if (id === this.orphan) {
      this.orphan = null;
      this.pump();
      return true;
    }
    const head = this.queue[0];
    if (head === undefined || !head.sent || head.id !== id) return false;
    this.finish(head);
    head.reject(error);
    this.pump();
    return true;
  }

  /** The connection dropped: the bridge forgot its replay. Requests not yet sent wait for the next open. */
  dropped(url: string): void {
    this.orphan = null;
    const head = this.queue[0];
    if (head === undefined || !head.sent) return;
    this.finish(head);
    head.reject(new ConnectionError('closed', `connection to ${url} closed before the replay finished (${head.messages.length} alerts received)`));
  }

  /** The client was closed: reject everything. */
  stop(error: AnalyticsClientError): void {
    this.orphan = null;
    for (const request of this.queue.splice(0)) {
      if (request.timer !== null) clearTimeout(request.timer);
      request.reject(error);
    }
  }

  private timedOut(request: Request, timeoutMs: number): void {
    request.timer = null;
    const at = this.queue.indexOf(request);
    if (at < 0) return;
    this.queue.splice(at, 1);
    if (request.sent) this.orphan = request.id; // still running on the bridge
    const where = request.sent
      ? `${request.messages.length} alerts received, no replay-done`
      : 'never sent: the connection was not open, or an earlier replay was still running';
    request.reject(new AnalyticsClientError('timeout', `replay ${request.id} timed out after ${timeoutMs} ms (${where})`));
    this.pump();
  }

  private finish(request: Request): void {
    if (request.timer !== null) clearTimeout(request.timer);
    request.timer = null;
    const at = this.queue.indexOf(request);
    if (at >= 0) this.queue.splice(at, 1);
  }
}
