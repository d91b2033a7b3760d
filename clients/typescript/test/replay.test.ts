/**
 * replayAlerts against a REAL bridge and broker: the alerts of a time range (from inclusive, to
 * exclusive, to the microsecond), limit and `truncated`, live alerts unaffected (neither
 * onAlert nor the live cursor see the replayed ones), and the bridge's refusals (`forbidden`,
 * `replay-unavailable`) as rejected promises.
 */

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { ServerError, type AlertData } from '@rtx/analytics-client';

import { Bridge, Producer, applyTopics, mintToken, uniquePrefix, until } from './harness.js';
import { Recorder, range } from './recorder.js';

const prefix = uniquePrefix('replay');
// Event times of the stored alerts: alert i at 10:00:00 + i s on 2026-01-19 (microseconds).
const T0_US = Date.UTC(2026, 0, 19, 10, 0, 0) * 1000;
const at = (seconds: number, micros = 0) => `2026-01-19T10:00:${String(seconds).padStart(2, '0')}.${String(micros).padStart(6, '0')}Z`;
let bridge: Bridge;
let noHistory: Bridge;
let producer: Producer;
let admin: string;
let viewer: string;
const clients: Recorder[] = [];

function recorder(options: ConstructorParameters<typeof Recorder>[0]): Recorder {
  const r = new Recorder(options);
  clients.push(r);
  return r;
}

const numbers = (ids: { id: string }[]) => ids.map((a) => Number(a.id.slice('ts-client-'.length)));

before(async () => {
  await applyTopics(prefix);
  [bridge, noHistory, producer, admin, viewer] = await Promise.all([
    Bridge.start(prefix, { RTX_BRIDGE_CHANNEL_ROLES: 'alerts=admin' }),
    Bridge.start(prefix, { RTX_BRIDGE_ALERT_HISTORY: '0' }),
    Producer.start(prefix),
    mintToken('alice', ['admin']),
    mintToken('victor', ['viewer']),
  ]);
  await producer.send({ kind: 'alerts', count: 10, start: 0, eventTimeUs: T0_US, stepUs: 1_000_000 });
  // Consumer lag 0 is not enough: the lag can read 0 before the first fetch. Wait for the log.
  const deadline = Date.now() + 20_000;
  while (((await bridge.status()).alertLog?.lastSeq ?? -1) < 9) {
    if (Date.now() > deadline) throw new Error('the bridge did not load the 10 alerts into its history');
    await new Promise((r) => setTimeout(r, 50));
  }
});

after(async () => {
  for (const c of clients) c.client.close();
  await Promise.all([bridge?.stop(), noHistory?.stop(), producer?.stop()]);
});

describe('replayAlerts against the bridge', () => {
  it('returns the alerts of [fromTime, toTime) oldest first, outside onAlert and the live cursor', async () => {
    const r = recorder({ url: bridge.url, token: admin, channels: ['alerts'] });
    r.client.connect();
    await until(() => r.subscribed.length === 1, 'the subscribed answer');
    // 10:00:01.000001 excludes alert 1; toTime 10:00:07 (exclusive) excludes alert 7.
    const { alerts, messages, done } = await r.client.replayAlerts({ fromTime: at(1, 1), toTime: new Date(Date.UTC(2026, 0, 19, 10, 0, 7)) });
    assert.deepEqual(numbers(alerts), range(2, 5));
    assert.deepEqual(messages.map((m) => m.timestamp), range(2, 5).map((s) => at(s)));
    assert.ok(messages.every((m) => m.type === 'alert' && m.replay === true));
    assert.deepEqual(alerts.map((a) => a.seq), range(alerts[0]!.seq, 5), 'log order');
    assert.equal(done.count, 5);
    assert.equal(done.truncated, false);
    assert.equal(done.complete, true);
    assert.equal(done.dropped, 0);
    assert.deepEqual(r.alerts, [], 'replayed alerts do not reach onAlert');
    assert.equal(r.client.lastAlert, null, 'nor the live cursor');

    // Live alerts still arrive once each, and the cursor follows them only.
    await producer.send({ kind: 'alerts', count: 2, start: 100 });
    await until(() => r.alerts.length === 2, 'live alerts 100 and 101');
    assert.deepEqual(r.alertNumbers(), [100, 101]);
    const last = (r.alerts as AlertData[])[1]!; // (the assertion above narrowed r.alerts to [])
    assert.deepEqual(r.client.lastAlert, { seq: last.seq, epoch: last.epoch });
    assert.deepEqual(r.errors, []);
  });

  it('stops at limit and says truncated; an open-ended range reaches the newest alert', async () => {
    const r = recorder({ url: bridge.url, token: admin, tokenTransport: 'header' });
    r.client.connect();
    const first = await r.client.replayAlerts({ fromTime: at(0), limit: 3 });
    assert.deepEqual(numbers(first.alerts), [0, 1, 2]);
    assert.equal(first.done.truncated, true);
    assert.equal(first.done.count, 3);
    const exact = await r.client.replayAlerts({ fromTime: at(0), toTime: at(10), limit: 10 });
    assert.deepEqual(numbers(exact.alerts), range(0, 10));
    assert.equal(exact.done.truncated, false, 'exactly limit matched: not truncated');
    const rest = await r.client.replayAlerts({ fromTime: at(8) });
    assert.deepEqual(numbers(rest.alerts).slice(0, 2), [8, 9], 'then anything produced later (live alerts of other tests)');
    assert.equal(rest.done.truncated, false);
    assert.deepEqual(r.errors, []);
  });

  it('rejects with the bridge error for the request: forbidden, replay-unavailable', async () => {
    const v = recorder({ url: bridge.url, token: viewer });
    v.client.connect();
    await assert.rejects(
      v.client.replayAlerts({ fromTime: at(0) }),
      (e) => e instanceof ServerError && e.code === 'forbidden' && e.requestId !== undefined && /alerts/.test(e.message),
    );
    const n = recorder({ url: noHistory.url, token: admin });
    n.client.connect();
    await assert.rejects(n.client.replayAlerts({ fromTime: at(0) }), (e) => e instanceof ServerError && e.code === 'replay-unavailable');
    // The connection stays usable: the next replay is answered (an empty history, still refused).
    await assert.rejects(n.client.replayAlerts({ fromTime: at(0) }), (e) => e instanceof ServerError && e.code === 'replay-unavailable');
    assert.equal(n.client.state, 'open');
    for (const token of [admin, viewer]) assert.ok([...v.logLines, ...n.logLines].every((l) => !l.includes(token)));
  });
});
