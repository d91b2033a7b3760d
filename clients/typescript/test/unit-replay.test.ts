/**
 * replayAlerts against scripted `ws` servers on 127.0.0.1 (real sockets), for what the real
 * bridge cannot be made to do on demand: never answer, answer out of turn, drop the connection
 * mid-replay. Also the argument checks (pure).
 */

import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, describe, it } from 'node:test';

import {
  AnalyticsClientError,
  ConfigError,
  ConnectionError,
  ServerError,
  replayFrame,
  type ReplayResult,
} from '@rtx/analytics-client';
import { WebSocketServer, type WebSocket as ServerSocket } from 'ws';

import { until } from './harness.js';
import { Recorder } from './recorder.js';

const TOKEN = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1bml0In0.dW5pdC10ZXN0LXNpZw';
const closers: (() => void)[] = [];
after(() => closers.forEach((close) => close()));

type Frame = Record<string, unknown>;

/** A ws server calling `onFrame(ws, frame, n)` for each client frame of connection n. */
async function scripted(onFrame: (ws: ServerSocket, frame: Frame, n: number) => void) {
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await once(server, 'listening');
  const received: Frame[] = [];
  const sockets: ServerSocket[] = [];
  server.on('connection', (ws) => {
    const n = sockets.length;
    sockets.push(ws);
    ws.on('message', (data) => {
      const frame = JSON.parse(String(data)) as Frame;
      received.push(frame);
      onFrame(ws, frame, n);
    });
  });
  closers.push(() => server.close());
  const port = (server.address() as { port: number }).port;
  return { url: `ws://127.0.0.1:${port}/ws/analytics`, received, sockets };
}

const alert = (seq: number, replay = false) => ({
  type: 'alert',
  timestamp: `2026-01-19T10:30:${String(seq % 60).padStart(2, '0')}.000000Z`,
  data: { id: `a${seq}`, severity: 'info', category: 'system', title: 't', message: 'm', source: 's', actionItems: [], state: 'RAISED', resolvesId: null, seq, epoch: 'E' },
  ...(replay ? { replay: true } : {}),
});
const done = (id: unknown, count: number, extra: Frame = {}) => ({
  type: 'replay-done',
  timestamp: '2026-01-19T10:31:00.000000Z',
  data: { channel: 'alerts', count, dropped: 0, truncated: false, complete: true, id, ...extra },
});
const send = (ws: ServerSocket, messages: unknown[]) => ws.send(JSON.stringify(messages));

function client(url: string, channels: ('alerts' | 'exposure-updates')[] = ['alerts']): Recorder {
  const r = new Recorder({ url, token: TOKEN, channels });
  closers.push(() => r.client.close());
  return r;
}

const replays = (frames: Frame[]) => frames.filter((f) => f.action === 'replay');

describe('replayAlerts (scripted servers)', () => {
  it('sends the replay with an id and resolves with its alerts; they bypass onAlert and the live cursor', async () => {
    const srv = await scripted((ws, frame) => {
      if (frame.action !== 'replay') return;
      // Live alerts interleave with the replayed ones, as on the bridge.
      send(ws, [alert(1, true), alert(7), alert(2, true)]);
      send(ws, [alert(3, true), done(frame.id, 3, { truncated: true })]);
    });
    const r = client(srv.url);
    const doneSeen: unknown[] = [];
    (r.client as unknown as { handlers: Record<string, unknown> }).handlers.onReplayDone = (d: unknown) => doneSeen.push(d);
    r.client.connect();
    await until(() => r.client.state === 'open', 'open');
    const result = await r.client.replayAlerts({ fromTime: '2026-01-19T10:00:00Z', toTime: new Date('2026-01-19T11:00:00Z'), limit: 3 });
    assert.deepEqual(replays(srv.received), [
      { action: 'replay', channel: 'alerts', fromTime: '2026-01-19T10:00:00Z', toTime: '2026-01-19T11:00:00.000Z', limit: 3, id: result.done.id },
    ]);
    assert.deepEqual(result.alerts.map((a) => a.seq), [1, 2, 3]);
    assert.deepEqual(result.messages.map((m) => [m.timestamp, m.replay]), [
      ['2026-01-19T10:30:01.000000Z', true],
      ['2026-01-19T10:30:02.000000Z', true],
      ['2026-01-19T10:30:03.000000Z', true],
    ]);
    assert.equal(result.done.truncated, true);
    assert.deepEqual(r.alerts.map((a) => a.seq), [7], 'only the live alert reached onAlert');
    assert.deepEqual(r.client.lastAlert, { seq: 7, epoch: 'E' }, 'replayed alerts do not move the live cursor');
    assert.equal(doneSeen.length, 1, 'onReplayDone still hears the replay-done');
    assert.deepEqual(r.errors, []);
  });

  it('with deliver: true also passes the replayed alerts to onAlert, still outside the cursor', async () => {
    const srv = await scripted((ws, frame) => {
      if (frame.action === 'replay') send(ws, [alert(4, true), alert(5, true), done(frame.id, 2)]);
    });
    const r = client(srv.url);
    r.client.connect();
    const result = await r.client.replayAlerts({ fromTime: '2026-01-19T10:00:00.5+01:00', deliver: true });
    assert.deepEqual(result.alerts.map((a) => a.seq), [4, 5]);
    assert.deepEqual(r.alerts.map((a) => a.seq), [4, 5]);
    assert.equal(r.client.lastAlert, null);
  });

  it('runs one replay at a time: a second call is sent after the first replay-done', async () => {
    let outstanding = 0;
    let most = 0;
    const srv = await scripted((ws, frame) => {
      if (frame.action !== 'replay') return;
      outstanding += 1;
      most = Math.max(most, outstanding);
      const base = frame.limit as number;
      setTimeout(() => {
        outstanding -= 1;
        send(ws, [alert(base, true), alert(base + 1, true), done(frame.id, 2)]);
      }, 30);
    });
    const r = client(srv.url);
    r.client.connect();
    const calls = [10, 20, 30].map((limit) => r.client.replayAlerts({ fromTime: '2026-01-19T10:00:00Z', limit }));
    const results = await Promise.all(calls);
    assert.deepEqual(results.map((x) => x.alerts.map((a) => a.seq)), [[10, 11], [20, 21], [30, 31]]);
    assert.equal(most, 1, 'never two replays on the wire');
    assert.equal(new Set(replays(srv.received).map((f) => f.id)).size, 3);
  });

  it("rejects with the bridge's error for its id, and the next replay still runs", async () => {
    const srv = await scripted((ws, frame) => {
      if (frame.action !== 'replay') return;
      if (frame.limit === 1) {
        send(ws, [{ type: 'error', timestamp: 't', data: { code: 'replay-unavailable', message: 'alert history is off', id: frame.id } }]);
      } else {
        send(ws, [done(frame.id, 0)]);
      }
    });
    const r = client(srv.url);
    r.client.connect();
    const first = r.client.replayAlerts({ fromTime: '2026-01-19T10:00:00Z', limit: 1 });
    const second = r.client.replayAlerts({ fromTime: '2026-01-19T10:00:00Z', limit: 2 });
    await assert.rejects(first, (e) => e instanceof ServerError && e.code === 'replay-unavailable' && e.requestId === replays(srv.received)[0]!.id);
    assert.deepEqual((await second).alerts, []);
    assert.ok(r.errors.some((e) => e.code === 'replay-unavailable'), 'onError hears it too');
  });

  it('times out; the timed-out replay still running on the bridge is waited for and its alerts discarded', async () => {
    let first: ServerSocket | null = null;
    let firstId: unknown = null;
    const srv = await scripted((ws, frame) => {
      if (frame.action !== 'replay') return;
      if (firstId === null) {
        first = ws;
        firstId = frame.id; // answered late, below
      } else {
        send(ws, [alert(9, true), done(frame.id, 1)]);
      }
    });
    const r = client(srv.url);
    r.client.connect();
    await until(() => r.client.state === 'open', 'open');
    const slow = r.client.replayAlerts({ fromTime: '2026-01-19T10:00:00Z', timeoutMs: 50 });
    await assert.rejects(slow, (e) => e instanceof AnalyticsClientError && e.code === 'timeout' && !(e instanceof ConnectionError));
    const next = r.client.replayAlerts({ fromTime: '2026-01-19T10:00:00Z' });
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(replays(srv.received).length, 1, 'the next replay waits for the timed-out one to finish');
    send(first!, [alert(1, true), alert(2, true), done(firstId, 2)]);
    const result = await next;
    assert.deepEqual(result.alerts.map((a) => a.seq), [9], 'no alert of the timed-out replay');
    assert.deepEqual(r.alerts, []);
    assert.equal(r.client.stats.replayAlertsDiscarded, 2);
  });

  it('rejects with ConnectionError closed when the connection drops mid-replay; a call made meanwhile is sent after the reconnect', async () => {
    const srv = await scripted((ws, frame, n) => {
      if (frame.action !== 'replay') return;
      if (n === 0) {
        send(ws, [alert(1, true)]);
        setTimeout(() => ws.terminate(), 20);
      } else {
        send(ws, [alert(2, true), done(frame.id, 1)]);
      }
    });
    const r = new Recorder({ url: srv.url, token: TOKEN, channels: ['alerts'], backoffBaseMs: 50, backoffMaxMs: 100 });
    closers.push(() => r.client.close());
    r.client.connect();
    const dropped = r.client.replayAlerts({ fromTime: '2026-01-19T10:00:00Z' });
    await assert.rejects(dropped, (e) => e instanceof ConnectionError && e.code === 'closed' && /1 alerts received/.test(e.message));
    assert.notEqual(r.client.state, 'open');
    const later = await r.client.replayAlerts({ fromTime: '2026-01-19T10:00:00Z' });
    assert.deepEqual(later.alerts.map((a) => a.seq), [2]);
    assert.equal(srv.sockets.length, 2);
  });

  it('rejects at close(), and at once when the client was never connected', async () => {
    const srv = await scripted(() => undefined); // never answers
    const r = client(srv.url);
    await assert.rejects(r.client.replayAlerts({ fromTime: '2026-01-19T10:00:00Z' }), (e) => e instanceof ConnectionError && /connect\(\)/.test(e.message));
    r.client.connect();
    const pending: Promise<ReplayResult>[] = [1, 2].map(() => r.client.replayAlerts({ fromTime: '2026-01-19T10:00:00Z' }));
    await until(() => replays(srv.received).length === 1, 'the first replay sent');
    r.client.close();
    for (const p of pending) await assert.rejects(p, (e) => e instanceof ConnectionError && e.code === 'closed');
  });
});

describe('replay arguments', () => {
  const bad: [string, unknown][] = [
    ['no fromTime', {}],
    ['fromTime without offset', { fromTime: '2026-01-19T10:00:00' }],
    ['fromTime a date only', { fromTime: '2026-01-19' }],
    ['fromTime not a time', { fromTime: '2026-13-45T10:00:00Z' }],
    ['fromTime a number', { fromTime: 1768816800000 }],
    ['invalid Date', { fromTime: new Date('nope') }],
    ['toTime before fromTime (by a microsecond)', { fromTime: '2026-01-19T10:00:00.000002Z', toTime: '2026-01-19T10:00:00.000001Z' }],
    ['toTime before fromTime (offsets)', { fromTime: '2026-01-19T10:00:00Z', toTime: '2026-01-19T10:30:00+01:00' }],
    ['limit 0', { fromTime: '2026-01-19T10:00:00Z', limit: 0 }],
    ['limit over the bridge maximum', { fromTime: '2026-01-19T10:00:00Z', limit: 10_001 }],
    ['limit not whole', { fromTime: '2026-01-19T10:00:00Z', limit: 2.5 }],
    ['not an object', null],
  ];
  for (const [what, options] of bad) {
    it(`refuses ${what} with a ConfigError`, () => {
      assert.throws(() => replayFrame(options as never), (e) => e instanceof ConfigError && e.code === 'bad-option' && e.message.length > 20);
    });
  }

  it('accepts RFC 3339 with offsets and fractions, and Dates, keeping strings as given', () => {
    assert.deepEqual(replayFrame({ fromTime: '2026-01-19T10:00:00.123456789Z', toTime: '2026-01-19T12:00:00+01:00', limit: 10_000 }), {
      action: 'replay',
      channel: 'alerts',
      fromTime: '2026-01-19T10:00:00.123456789Z',
      toTime: '2026-01-19T12:00:00+01:00',
      limit: 10_000,
    });
    assert.deepEqual(replayFrame({ fromTime: new Date(Date.UTC(2026, 0, 19, 10)) }), { action: 'replay', channel: 'alerts', fromTime: '2026-01-19T10:00:00.000Z' });
  });

  it('refuses a bad timeoutMs synchronously, before anything is sent', () => {
    const r = client('ws://127.0.0.1:9/ws/analytics');
    for (const timeoutMs of [0, -1, NaN]) {
      assert.throws(() => r.client.replayAlerts({ fromTime: '2026-01-19T10:00:00Z', timeoutMs }), ConfigError);
    }
  });
});
