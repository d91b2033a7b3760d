/**
 * The client against a REAL bridge and broker: every message type through its handler with the
 * contract's fields; subscribe/unsubscribe at run time; refreshToken (and the new token used
 * for the reconnect after the bridge is killed).
 */

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { ConfigError, ServerError } from '@rtx/analytics-client';

import { Bridge, Producer, applyTopics, mintToken, uniquePrefix, until } from './harness.js';
import { Recorder } from './recorder.js';

const prefix = uniquePrefix('bridge');
let bridge: Bridge;
let producer: Producer;
let adminToken: string;
const clients: Recorder[] = [];

function recorder(options: ConstructorParameters<typeof Recorder>[0]): Recorder {
  const r = new Recorder(options);
  clients.push(r);
  return r;
}

const keys = (o: object): string[] => Object.keys(o).sort();

before(async () => {
  await applyTopics(prefix);
  // alerts need the admin role: the refresh test changes roles with a new token.
  [bridge, producer, adminToken] = await Promise.all([
    Bridge.start(prefix, { RTX_BRIDGE_CHANNEL_ROLES: 'alerts=admin' }),
    Producer.start(prefix),
    mintToken('alice', ['admin']),
  ]);
});

after(async () => {
  for (const c of clients) c.client.close();
  await Promise.all([bridge?.stop(), producer?.stop()]);
});

describe('AnalyticsWebSocket against the bridge', () => {
  it('delivers every message type to its handler with the fields the bridge documents', async () => {
    const r = recorder({
      url: bridge.url,
      token: adminToken,
      tokenTransport: 'header',
      channels: ['routing-metrics', 'lp-performance', 'exposure-updates', 'alerts'],
    });
    r.client.connect();
    await until(() => r.subscribed.length === 1, 'the subscribed answer');
    assert.deepEqual(r.subscribed[0]!.channels, ['routing-metrics', 'lp-performance', 'exposure-updates', 'alerts']);
    for (const kind of ['exposure', 'lp', 'routing', 'summary']) await producer.send({ kind });
    await producer.send({ kind: 'alerts', count: 2, start: 0 });
    await until(
      () => r.exposure.length > 0 && r.lp.length > 0 && r.routing.length > 0 && r.summaries.length > 0 && r.alerts.length === 2,
      'one message of every type',
    );
    assert.deepEqual(keys(r.routing[0]!), keys({ symbol: 0, side: 0, volume: 0, routingDecision: 0, lpSelected: 0, executionTimeMs: 0, spread: 0, slippage: 0 }));
    assert.equal(r.routing[0]!.lpSelected, 'OANDA');
    assert.equal(r.routing[0]!.side, 'BUY');
    const contractLp = ['lpName', 'status', 'avgSpread', 'executionQuality', 'latencyMs', 'quotesPerSecond', 'rejectRate', 'uptime'];
    const extraLp = ['statusTransitions', 'observedUptimePct', 'rollingRejectRate', 'fillLatencyP50Ms', 'fillLatencyP95Ms', 'fillLatencyP99Ms'];
    assert.deepEqual(keys(r.lp[0]!), [...contractLp, ...extraLp].sort());
    assert.equal(r.lp[0]!.fillLatencyP99Ms, null);
    assert.equal(r.lp[0]!.statusTransitions, 2);
    const contractExposure = ['totalExposure', 'netExposure', 'exposureLimit', 'utilizationPct', 'riskLevel', 'bySymbol', 'byLP'];
    assert.deepEqual(keys(r.exposure[0]!), [...contractExposure, 'byBook', 'byCurrency', 'positionCount'].sort());
    assert.equal(r.exposure[0]!.utilizationPct.toFixed(1), '80.0');
    assert.deepEqual(r.exposure[0]!.bySymbol, { EURUSD: 50000, GBPUSD: 30000 });
    const summary = r.summaries[0]!;
    assert.equal(keys(summary).length, 16);
    assert.match(summary.windowStart, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    assert.deepEqual(summary.byLP, { OANDA: 3, LMAX: 1 });
    const contractAlert = ['id', 'severity', 'category', 'title', 'message', 'source', 'actionItems'];
    assert.deepEqual(keys(r.alerts[0]!), [...contractAlert, 'state', 'resolvesId', 'seq', 'epoch'].sort());
    assert.deepEqual(r.alertNumbers(), [0, 1]);
    assert.equal(r.alerts[1]!.seq, r.alerts[0]!.seq + 1);
    assert.equal(r.alerts[0]!.state, 'RAISED');
    assert.deepEqual(r.client.lastAlert, { seq: r.alerts[1]!.seq, epoch: r.alerts[1]!.epoch });
    assert.deepEqual(r.errors, []);
    r.client.close();
    assert.equal(r.client.state, 'closed');
    assert.deepEqual(r.states, ['connecting', 'open', 'closed']);
    assert.ok(r.logLines.length > 0 && r.logLines.every((l) => !l.includes(adminToken)), 'debug lines never carry the token');
  });

  it('subscribes and unsubscribes at run time', async () => {
    const r = recorder({ url: bridge.url, token: adminToken, channels: [] });
    // A second client stays on routing-metrics: when it has a message, the bridge dispatched it.
    const probe = recorder({ url: bridge.url, token: adminToken, channels: ['routing-metrics'] });
    r.client.connect();
    probe.client.connect();
    await until(() => r.client.state === 'open' && probe.subscribed.length === 1, 'both clients open');
    assert.throws(() => r.client.subscribe(['nope' as never]), ConfigError);

    r.client.subscribe(['routing-metrics']);
    await until(() => r.subscribed.length === 1, 'the subscribe answer');
    await producer.send({ kind: 'routing', volume: 1 });
    await until(() => r.routing.length === 1, 'decision 1');

    r.client.unsubscribe(['routing-metrics']);
    await until(() => r.unsubscribed.length === 1, 'the unsubscribe answer');
    assert.deepEqual(r.unsubscribed[0]!.channels, []);
    assert.deepEqual(r.client.channels, []);
    await producer.send({ kind: 'routing', volume: 2 });
    await until(() => probe.routing.some((d) => d.volume === 2), 'the probe to get decision 2');

    r.client.subscribe(['routing-metrics']);
    await until(() => r.subscribed.length === 2, 'the second subscribe answer');
    await producer.send({ kind: 'routing', volume: 3 });
    await until(() => r.routing.length === 2, 'decision 3');
    assert.deepEqual(r.routing.map((d) => d.volume), [1, 3], 'nothing while unsubscribed');
    assert.deepEqual(r.errors, []);
  });

  it('refreshes its token on the connection and reconnects with the new one after the bridge is killed', async () => {
    const viewer = await mintToken('alice', ['viewer'], '1h');
    const [stranger, admin] = await Promise.all([mintToken('mallory', ['admin'], '2h'), mintToken('alice', ['admin'], '2h')]);
    const r = recorder({ url: bridge.url, token: viewer, channels: ['exposure-updates'] });
    r.client.connect();
    await until(() => r.subscribed.length === 1, 'the subscribe answer');

    r.client.subscribe(['alerts']);
    // The bridge answers a subscribe with an id even when it refuses a channel.
    await until(() => r.errors.length === 1 && r.subscribed.length === 2, 'the forbidden error');
    assert.deepEqual(r.subscribed[1]!.channels, ['exposure-updates']);
    assert.ok(r.errors[0] instanceof ServerError && r.errors[0].code === 'forbidden');
    assert.deepEqual(r.client.channels, ['exposure-updates'], 'a forbidden channel is not asked for again');

    await assert.rejects(r.client.refreshToken(stranger), (e) => e instanceof ServerError && e.code === 'refresh-failed');
    const refreshed = await r.client.refreshToken(admin);
    assert.ok(refreshed !== null && Date.parse(refreshed.expiresAt) > Date.now() + 3_600_000);

    r.client.subscribe(['alerts']);
    await until(() => r.subscribed.length === 3, 'the alerts subscribe answer');
    assert.deepEqual(r.subscribed[2]!.channels, ['exposure-updates', 'alerts']);
    await producer.send({ kind: 'alerts', count: 1, start: 100 });
    await until(() => r.alerts.length === 1, 'alert 100');

    await bridge.restart(); // SIGKILL, then a new bridge on the same port
    await until(() => r.subscribed.length === 4, 'the subscribe answer after the reconnect', 30_000);
    assert.deepEqual(r.subscribed[3]!.channels, ['exposure-updates', 'alerts'], 'alerts allowed: the admin token was used');
    assert.equal(r.subscribed[3]!.recovered, true);
    assert.ok(r.states.includes('reconnecting'));
    await producer.send({ kind: 'alerts', count: 1, start: 101 });
    await until(() => r.alerts.length === 2, 'alert 101');
    assert.deepEqual(r.alertNumbers(), [100, 101]);
    const forbidden = r.errors.filter((e) => e.code === 'forbidden' || e.code === 'refresh-failed');
    assert.equal(forbidden.length, 2, 'only the two refusals provoked above');
    for (const token of [viewer, admin, stranger]) {
      assert.ok(r.logLines.every((l) => !l.includes(token)));
      assert.ok(r.errors.every((e) => !e.message.includes(token)));
      assert.ok(bridge.stderr.every((l) => !l.includes(token)), 'the bridge never logs a token');
    }
  });
});
