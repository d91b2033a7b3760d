/**
 * Reconnect and alert resume against a REAL bridge and broker: the bridge is SIGKILLed, alerts
 * are produced while it is down, a new bridge starts; the client reconnects by itself and
 * delivers every alert exactly once, in order. With a bridge history too short to cover the
 * outage, the client reports the lost alerts through onGap instead.
 */

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { Bridge, Producer, applyTopics, mintToken, uniquePrefix, until } from './harness.js';
import { Recorder, range } from './recorder.js';

const prefix = uniquePrefix('resume');
let producer: Producer;
let token: string;
const bridges: Bridge[] = [];
const clients: Recorder[] = [];

before(async () => {
  await applyTopics(prefix);
  [producer, token] = await Promise.all([Producer.start(prefix), mintToken('alice', ['admin'])]);
});

after(async () => {
  for (const c of clients) c.client.close();
  await Promise.all([...bridges.map((b) => b.stop()), producer?.stop()]);
});

async function startBridge(env: Record<string, string> = {}): Promise<Bridge> {
  const bridge = await Bridge.start(prefix, env);
  bridges.push(bridge);
  return bridge;
}

describe('reconnect and alert resume', () => {
  it('delivers every alert exactly once and in order across a SIGKILL of the bridge', async () => {
    const bridge = await startBridge();
    const r = new Recorder({ url: bridge.url, token, channels: ['alerts', 'exposure-updates'] });
    clients.push(r);
    r.client.connect();
    await until(() => r.subscribed.length === 1, 'the subscribe answer');
    await producer.send({ kind: 'alerts', count: 5, start: 0 });
    await until(() => r.alerts.length === 5, 'alerts 0-4');

    await bridge.kill();
    await until(() => r.states.includes('reconnecting'), 'the client to notice');
    await producer.send({ kind: 'alerts', count: 15, start: 5 }); // while the bridge is down
    await bridge.restart();
    await producer.send({ kind: 'alerts', count: 5, start: 20 }); // while the client may still wait
    await until(() => r.alerts.length >= 25, 'alerts 0-24', 30_000);
    await producer.send({ kind: 'alerts', count: 1, start: 25 }); // live after the resume
    await until(() => r.alerts.length >= 26, 'alert 25');

    assert.deepEqual(r.alertNumbers(), range(0, 26), 'each alert once, in order');
    const seqs = r.alerts.map((a) => a.seq);
    assert.deepEqual(seqs, range(seqs[0]!, 26), 'seqs consecutive');
    assert.equal(new Set(r.alerts.map((a) => a.epoch)).size, 1);
    const resumed = r.subscribed[1]!;
    assert.equal(resumed.recovered, true);
    assert.equal(resumed.resumeAfter, seqs[4], 'resumed after the last alert seen before the kill');
    assert.deepEqual(r.gaps, []);
    assert.ok(r.errors.some((e) => e.code === 'closed' && e.retriable), 'the drop was reported');
    assert.deepEqual(r.states.slice(0, 4), ['connecting', 'open', 'reconnecting', 'connecting']);
    assert.equal(r.client.state, 'open');
    assert.ok(r.client.stats.reconnects >= 1);
  });

  it('reports alerts the bridge no longer holds through onGap, then delivers the rest once', async () => {
    const bridge = await startBridge({ RTX_BRIDGE_ALERT_HISTORY: '3' });
    const r = new Recorder({ url: bridge.url, token, channels: ['alerts'] });
    clients.push(r);
    r.client.connect();
    await until(() => r.subscribed.length === 1, 'the subscribe answer');
    await producer.send({ kind: 'alerts', count: 1, start: 100 });
    await until(() => r.alerts.length === 1, 'alert 100');
    const before = r.alerts[0]!.seq;

    await bridge.kill();
    await producer.send({ kind: 'alerts', count: 10, start: 101 }); // more than the 3 held
    await bridge.restart();
    await until(() => r.gaps.length === 1 && r.alerts.length === 4, 'the gap and the 3 held alerts', 30_000);

    const gap = r.gaps[0]!;
    assert.equal(gap.reason, 'not-recovered');
    assert.equal(gap.channel, 'alerts');
    assert.deepEqual([gap.firstSeq, gap.lastSeq, gap.dropped], [before + 1, before + 7, 7]);
    assert.deepEqual(r.alertNumbers(), [100, 108, 109, 110]);
    assert.equal(r.subscribed[1]!.recovered, false);
    await producer.send({ kind: 'alerts', count: 1, start: 111 });
    await until(() => r.alerts.length === 5, 'alert 111');
    assert.deepEqual(r.alertNumbers(), [100, 108, 109, 110, 111]);
  });
});
