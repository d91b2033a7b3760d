/**
 * The client's connection handling against scripted servers on 127.0.0.1 (real sockets, the
 * `ws` package's server), for what the real bridge cannot be made to do cheaply: close with
 * 4001, send a malformed frame, an unknown message type or a repeated alert, never finish a
 * handshake, or refuse connections until the client gives up.
 */

import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type Socket } from 'node:net';
import { after, describe, it } from 'node:test';

import { ConnectionError, ProtocolViolation } from '@rtx/analytics-client';
import { WebSocketServer, type WebSocket as ServerSocket } from 'ws';

import { freePort, until } from './harness.js';
import { Recorder } from './recorder.js';

const TOKEN = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1bml0In0.dW5pdC10ZXN0LXNpZw';
const closers: (() => void)[] = [];
after(() => closers.forEach((close) => close()));

/** A ws server calling `script` for each connection; returns its URL and what clients sent. */
async function scripted(script: (ws: ServerSocket, n: number, url: string | undefined) => void) {
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await once(server, 'listening');
  const received: unknown[] = [];
  const urls: string[] = [];
  let n = 0;
  server.on('connection', (ws, request) => {
    urls.push(request.url ?? '');
    ws.on('message', (data) => received.push(JSON.parse(String(data))));
    script(ws, n++, request.url);
  });
  closers.push(() => server.close());
  const port = (server.address() as { port: number }).port;
  return { url: `ws://127.0.0.1:${port}/ws/analytics`, received, urls, server };
}

const alert = (seq: number) => ({
  type: 'alert',
  timestamp: '2026-01-19T10:30:45.123456Z',
  data: { id: `a${seq}`, severity: 'info', category: 'system', title: 't', message: 'm', source: 's', actionItems: [], state: 'RAISED', resolvesId: null, seq, epoch: 'E' },
});

describe('connection handling (scripted servers)', () => {
  it('reconnects after a 4001 close, reporting token-expired, and resumes alerts with since/epoch', async () => {
    const srv = await scripted((ws, n) => {
      ws.on('message', () => {
        if (n === 0) {
          ws.send(JSON.stringify([alert(5), alert(6)]));
          setTimeout(() => ws.close(4001, 'token expired'), 20);
        } else {
          ws.send(JSON.stringify([alert(6), alert(7)])); // 6 again: the client's guard drops it
        }
      });
    });
    const r = new Recorder({ url: srv.url, token: TOKEN, channels: ['alerts'] });
    closers.push(() => r.client.close());
    r.client.connect();
    await until(() => r.alerts.length === 3, 'alerts 5, 6, 7');
    assert.deepEqual(r.alerts.map((a) => a.seq), [5, 6, 7]);
    assert.equal(r.client.stats.duplicateAlertsSkipped, 1);
    const expired = r.errors.find((e) => e.code === 'token-expired');
    assert.ok(expired instanceof ConnectionError && expired.closeCode === 4001);
    assert.deepEqual(srv.received, [
      { action: 'subscribe', channels: ['alerts'], id: 'c1' },
      { action: 'subscribe', channels: ['alerts'], id: 'c2', since: 6, epoch: 'E' },
    ]);
    assert.ok(srv.urls.every((u) => u === `/ws/analytics?token=${TOKEN}`), 'token in the query by default');
    assert.ok(r.logLines.every((l) => !l.includes(TOKEN)));
  });

  it('reports malformed frames and throwing handlers, and keeps going; unknown types reach onMessage only', async () => {
    const srv = await scripted((ws) => {
      ws.on('message', () => {
        ws.send('not json');
        ws.send(JSON.stringify([{ type: 'future-thing', timestamp: 't', data: { x: 1 } }, alert(1)]));
        ws.send(JSON.stringify([alert(2)]));
      });
    });
    const seen: string[] = [];
    const r = new Recorder({ url: srv.url, token: TOKEN, channels: ['alerts'] });
    closers.push(() => r.client.close());
    // Wrap onAlert to throw on the first alert: the second must still arrive.
    const handlers = (r.client as unknown as { handlers: Record<string, (...a: unknown[]) => void> }).handlers;
    const record = handlers.onAlert!;
    handlers.onMessage = (m) => seen.push((m as { type: string }).type);
    handlers.onAlert = (d, m) => {
      record(d, m);
      if ((d as { seq: number }).seq === 1) throw new Error('dashboard bug');
    };
    r.client.connect();
    await until(() => r.alerts.length === 2, 'both alerts');
    assert.ok(r.errors.some((e) => e instanceof ProtocolViolation && e.code === 'bad-json'));
    assert.ok(r.errors.some((e) => e.code === 'handler-failed' && /dashboard bug/.test(e.message)));
    assert.deepEqual(seen, ['future-thing', 'alert', 'alert']);
  });

  it('sends the token as a Bearer header with tokenTransport header, never in the URL', async () => {
    let auth: string | undefined;
    const srv = await scripted(() => undefined);
    srv.server.on('headers', (_h, request) => (auth = request.headers.authorization));
    const r = new Recorder({ url: srv.url, token: TOKEN, tokenTransport: 'header' });
    closers.push(() => r.client.close());
    r.client.connect();
    await until(() => r.client.state === 'open', 'open');
    assert.equal(auth, `Bearer ${TOKEN}`);
    assert.deepEqual(srv.urls, ['/ws/analytics']);
  });

  it('abandons a handshake that never completes and tries again', async () => {
    const sockets: Socket[] = [];
    const silent = createServer((s) => sockets.push(s)); // accepts TCP, never answers HTTP
    silent.listen(0, '127.0.0.1');
    await once(silent, 'listening');
    closers.push(() => {
      sockets.forEach((s) => s.destroy());
      silent.close();
    });
    const port = (silent.address() as { port: number }).port;
    const r = new Recorder({ url: `ws://127.0.0.1:${port}/ws/analytics`, token: TOKEN, connectTimeoutMs: 100, backoffBaseMs: 10, backoffMaxMs: 20 });
    closers.push(() => r.client.close());
    r.client.connect();
    await until(() => sockets.length >= 2, 'a second attempt');
    assert.ok(r.errors.some((e) => /no handshake within 100 ms/.test(e.message)));
    r.client.close();
    assert.equal(r.client.state, 'closed');
  });

  it('gives up after maxReconnectAttempts on a refused port, and close() stops everything', async () => {
    const port = await freePort(); // nothing listens there
    const r = new Recorder({ url: `ws://127.0.0.1:${port}/ws/analytics`, token: TOKEN, maxReconnectAttempts: 2, backoffBaseMs: 5, backoffMaxMs: 10 });
    r.client.connect();
    await until(() => r.client.state === 'closed' && r.errors.some((e) => e.code === 'gave-up'), 'giving up');
    assert.equal(r.states.filter((s) => s === 'connecting').length, 3, 'the first try and 2 retries');
    assert.equal(r.errors.filter((e) => e.code === 'closed').length, 3);
    assert.ok(r.errors.every((e) => e.retriable));
  });
});
