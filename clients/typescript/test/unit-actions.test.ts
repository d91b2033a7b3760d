/**
 * Alert actions and on/off handlers against scripted servers on 127.0.0.1 (real sockets, the `ws`
 * package's server): each action resolves on its `confirmed` and rejects with the bridge's
 * code; an action not answered before the connection dropped is sent again, same actionId,
 * after the reconnect; on()/off() add and remove handlers next to the constructor's.
 */

import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, describe, it } from 'node:test';

import { AnalyticsWebSocket, ConfigError, ConnectionError, ServerError, type Envelope } from '@rtx/analytics-client';
import WebSocket, { WebSocketServer, type WebSocket as ServerSocket } from 'ws';

import { until } from './harness.js';

const TOKEN = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1bml0In0.dW5pdC10ZXN0LXNpZw';
const closers: (() => void)[] = [];
after(() => closers.forEach((close) => close()));

type Frame = Record<string, unknown>;

/** A ws server calling `script(ws, frame, connection number)` for each frame a client sends. */
async function scripted(script: (ws: ServerSocket, frame: Frame, n: number) => void) {
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await once(server, 'listening');
  const received: Frame[] = [];
  let n = 0;
  server.on('connection', (ws) => {
    const mine = n++;
    ws.on('message', (data) => {
      const frame = JSON.parse(String(data)) as Frame;
      received.push(frame);
      script(ws, frame, mine);
    });
  });
  closers.push(() => server.close());
  const port = (server.address() as { port: number }).port;
  return { url: `ws://127.0.0.1:${port}/ws/analytics`, received };
}

function client(url: string, handlers = {}): AnalyticsWebSocket {
  const c = new AnalyticsWebSocket({ url, token: TOKEN, channels: ['alerts'], WebSocket, backoffBaseMs: 20, backoffMaxMs: 50 }, handlers);
  closers.push(() => c.close());
  return c;
}

const send = (ws: ServerSocket, ...messages: unknown[]) => ws.send(JSON.stringify(messages));
const confirmed = (frame: Frame, seq: number, duplicate = false) => ({
  type: 'confirmed',
  timestamp: '2026-01-19T10:30:45.123456Z',
  data: { action: frame.action, alertId: frame.alertId, actionId: frame.actionId, actionSeq: seq, duplicate, id: frame.id },
});

describe('alert actions (scripted servers)', () => {
  it('resolves each action on its confirmed and rejects a refusal with the bridge code', async () => {
    const srv = await scripted((ws, frame) => {
      if (frame.action === 'subscribe') return;
      if (frame.action === 'resolve') {
        const data = { code: 'already-resolved', message: 'resolve: the alert is already resolved', id: frame.id, action: 'resolve', alertId: frame.alertId };
        return send(ws, { type: 'error', timestamp: '2026-01-19T10:30:45.123456Z', data });
      }
      send(ws, confirmed(frame, 7));
    });
    const c = client(srv.url).connect();
    const ack = await c.acknowledge('a-1', 'mine', { seq: 3, epoch: 'E' });
    assert.equal(ack.actionSeq, 7);
    const sent = srv.received.find((f) => f.action === 'acknowledge')!;
    assert.deepEqual({ ...sent, actionId: 'x', id: 'x' }, { action: 'acknowledge', alertId: 'a-1', seq: 3, epoch: 'E', note: 'mine', actionId: 'x', id: 'x' });
    assert.match(String(sent.actionId), /^[0-9a-f]{32}$/);
    await c.assign('a-1', 'bob');
    await c.comment('a-1', 'on it');
    await c.snooze('a-1', new Date(Date.UTC(2026, 0, 19, 11)));
    await c.reopen('a-1');
    const snooze = srv.received.find((f) => f.action === 'snooze')!;
    assert.equal(snooze.until, '2026-01-19T11:00:00.000Z');
    await assert.rejects(c.resolve('a-1', 'hedged'), (e: unknown) => e instanceof ServerError && e.code === 'already-resolved');
  });

  it('sends an unanswered action again after a reconnect, with the same actionId', async () => {
    const srv = await scripted((ws, frame, n) => {
      if (frame.action !== 'acknowledge') return;
      if (n === 0) ws.terminate(); // the bridge died before answering
      else send(ws, confirmed(frame, 4, true));
    });
    const c = client(srv.url).connect();
    const result = await c.acknowledge('a-1');
    assert.equal(result.duplicate, true);
    const sends = srv.received.filter((f) => f.action === 'acknowledge');
    assert.equal(sends.length, 2);
    assert.equal(sends[0]!.actionId, sends[1]!.actionId);
  });

  it('rejects actions when closed or never connected, and bad arguments at once', async () => {
    const srv = await scripted(() => undefined);
    const c = client(srv.url);
    await assert.rejects(c.acknowledge('a-1'), (e: unknown) => e instanceof ConnectionError && e.code === 'closed');
    assert.throws(() => c.comment('a-1', ''), ConfigError);
    assert.throws(() => c.resolve('a-1', 'x'.repeat(501)), ConfigError);
    assert.throws(() => c.snooze('a-1', 'tomorrow'), ConfigError);
    assert.throws(() => c.acknowledge('', undefined), ConfigError);
    c.connect();
    const pending = c.comment('a-1', 'waiting');
    c.close();
    await assert.rejects(pending, (e: unknown) => e instanceof ConnectionError);
  });
});

describe('on/off handlers', () => {
  it('adds handlers per type and for every message, beside the constructor handlers, and removes them', async () => {
    const state = { type: 'alert-state', timestamp: '2026-01-19T10:30:45.123456Z', data: { id: 'a-1', status: 'acknowledged' } };
    const srv = await scripted((ws, frame) => {
      if (frame.action === 'subscribe') send(ws, state, state);
    });
    const fromConstructor: string[] = [];
    const c = client(srv.url, { onAlertState: (d: { status: string }) => fromConstructor.push(d.status) });
    const typed: Envelope<'alert-state'>[] = [];
    const all: string[] = [];
    const onState = (m: Envelope<'alert-state'>) => typed.push(m);
    c.on('alert-state', onState).on('*', (m) => all.push(m.type));
    c.connect();
    await until(() => all.length === 2, 'two messages');
    assert.equal(typed.length, 2);
    assert.equal(typed[0]!.data.status, 'acknowledged');
    assert.deepEqual(fromConstructor, ['acknowledged', 'acknowledged']);
    c.off('alert-state', onState).off('*');
    c.close();
    c.connect();
    await until(() => fromConstructor.length === 4, 'the constructor handler, after off()');
    assert.equal(typed.length, 2);
    assert.equal(all.length, 2);
  });
});
