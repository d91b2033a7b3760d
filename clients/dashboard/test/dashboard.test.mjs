// The dashboard in headless Chromium against a real broker-backed bridge: the page, served by
// the bridge under /dashboard, connects through the TypeScript client and shows what was
// produced to the derived topics: exposure figures and bars, the LP board, the routing share,
// the alert history (time-range replay) and a live alert. Also: the token leaves the address
// bar and never reaches the bridge's log, many messages are drawn in few frames, and the page
// works under its Content-Security-Policy (no violation; an inline script or a socket to another
// host is refused).
//
// Needs KAFKA_BOOTSTRAP_SERVERS, /usr/bin/chromium, .venv and clients/typescript/dist.
// UPDATE_SCREENSHOT=1 also writes docs/dashboard.png (the README's picture).

import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import { LPS, exposure, historyAlerts, liveAlert, routingDecision, routingWindows } from './fixtures.mjs';
import { advice, curves, lpMarkout, toxicAccount } from './markout_fixtures.mjs';
import { exposureOnBasis, pnl, top } from './risk_fixtures.mjs';
import {
  REPO,
  applyTopics,
  bridgeEnv,
  checkPrerequisites,
  freePort,
  launchChromium,
  mintToken,
  startBridge,
  startProducer,
} from './harness.mjs';

const WAIT_MS = 20_000;
const OUTPUT = join(REPO, 'clients', 'dashboard', 'test-output');

let bridge;
let producer;
let browser;
let page;
let token;
let port;
let env;
let outage = false;
let probingCsp = false;
let pageResponse;
const pageProblems = [];

const usd = (v) => `${v < 0 ? '-' : ''}$${new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 }).format(Math.abs(v))}`;
const text = (selector) => page.locator(selector).first().textContent({ timeout: WAIT_MS });
const waitFor = (fn, arg) => page.waitForFunction(fn, arg, { timeout: WAIT_MS });

before(async () => {
  checkPrerequisites();
  port = await freePort();
  env = bridgeEnv(port);
  await applyTopics(env);
  token = await mintToken(env, 'dashboard-test', 'admin,risk');
  producer = startProducer(env);
  // Already in Kafka when the page opens: exposure and LP snapshots, the alert history.
  await producer.send('exposure', 'ExposureChange', exposure(3_870_000));
  for (const lp of LPS) await producer.send('lp_performance', 'LpPerformance', lp);
  for (const a of historyAlerts(Date.now())) await producer.send('alerts', 'Alert', a);
  bridge = await startBridge(env, port);
  browser = await launchChromium();
  page = await browser.context.newPage();
  page.on('pageerror', (error) => pageProblems.push(`pageerror: ${error.message}`));
  page.on('console', (message) => {
    // While the bridge is down on purpose, Chromium logs each refused reconnect attempt.
    if (outage && /WebSocket connection to .* failed/.test(message.text())) return;
    // The CSP probe below is refused on purpose.
    if (probingCsp && /Content Security Policy/.test(message.text())) return;
    if (message.type() === 'error') pageProblems.push(`console: ${message.text()}`);
  });
  // Every CSP violation the page causes (an init script runs outside the page's CSP).
  await page.addInitScript(() => {
    globalThis.cspViolations = [];
    document.addEventListener('securitypolicyviolation', (e) => {
      globalThis.cspViolations.push(`${e.effectiveDirective} ${e.blockedURI}`);
    });
  });
  console.log('# opening the dashboard');
  pageResponse = await page.goto(`http://127.0.0.1:${port}/dashboard/?token=${token}`);
  await waitFor(() => document.getElementById('conn-state')?.textContent === 'open');
});

after(async () => {
  await browser?.close();
  await producer?.stop();
  const result = await bridge?.stop();
  if (result) console.log(`# bridge stopped (${result.signal ?? result.code})`);
});

test('the token leaves the address bar and never appears in the bridge log', async () => {
  assert.equal(new URL(page.url()).search, '');
  assert.equal(await page.evaluate(() => location.href.includes('token')), false);
  const log = bridge.log();
  assert.ok(log.includes('Client connected: dashboard-test'), 'the page connected with the token');
  assert.ok(!log.includes(token), 'the whole token is not in the log');
  assert.ok(!log.includes(token.split('.')[2]), 'nor its signature');
});

test('exposure snapshot: gauge readout, figures and bars by symbol, LP and currency', async () => {
  const e = exposure(3_870_000);
  await waitFor((total) => document.getElementById('total-exposure').textContent === total, usd(e.totalExposure));
  assert.equal(await text('#util-value'), '77.4%');
  assert.equal(await text('#risk-level'), 'medium');
  assert.equal(await text('#exposure-limit'), '$5,000,000');
  assert.equal(await text('#net-exposure'), usd(e.netExposure));
  assert.equal(await text('#position-count'), '412');
  const bars = async (id) =>
    page.$$eval(`#${id} .bar-row`, (rows) => rows.map((r) => [r.dataset.name, r.querySelector('.bar-value').textContent]));
  assert.deepEqual((await bars('by-symbol'))[0], ['EURUSD', usd(e.bySymbol.EURUSD)]);
  assert.deepEqual((await bars('by-symbol')).length, 6);
  assert.deepEqual(
    (await bars('by-lp')).map(([name]) => name),
    ['LMAX', 'OANDA', 'CURRENEX'],
  );
  const currency = Object.fromEntries(await bars('by-currency'));
  assert.equal(currency.USD, usd(e.byCurrency.USD));
  assert.equal(currency.JPY, usd(e.byCurrency.JPY));
  assert.equal(await page.locator('#by-currency .bar-row[data-name="JPY"] .bar-fill.negative').count(), 1);
});

test('LP board: one row per LP with status, latency, reject rate and execution quality', async () => {
  await waitFor(() => document.querySelectorAll('#lp-body tr[data-lp]').length === 4);
  const rows = await page.$$eval('#lp-body tr[data-lp]', (trs) =>
    trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent)),
  );
  assert.deepEqual(rows.map((r) => r[0]), ['CURRENEX', 'LMAX', 'OANDA', 'PRIMEXM']);
  const lmax = rows[1];
  assert.deepEqual(lmax.slice(0, 6), ['LMAX', 'connected', '18 ms', '31 ms', '0.40%', '98.2%']);
  assert.equal(rows[3][1], 'disconnected');
  assert.equal(await page.locator('#lp-body tr[data-lp="PRIMEXM"] .lp-status.down').count(), 1);
});

test('markouts: curves A-book vs B-book, the LP markout column, the toxic accounts (admin, risk)', async () => {
  for (const c of curves()) await producer.send('markout_curves', 'MarkoutCurve', c);
  await producer.send('lp_markouts', 'LpMarkout', lpMarkout());
  await producer.send('account_toxicity', 'AccountToxicity', toxicAccount());
  await producer.send('account_toxicity', 'AccountToxicity', toxicAccount('acc-00007', 'normal', 12));
  await producer.send('routing_advice', 'RoutingAdvice', advice());
  await waitFor(() => document.getElementById('curve-bbook').textContent.startsWith('+0.21 bps at 1m'));
  assert.equal(await text('#curve-abook'), '-0.50 bps at 1m (300 trades)');
  await waitFor(() => document.querySelector('#lp-body tr[data-lp="LMAX"] .lp-markout')?.textContent.includes('bps'));
  assert.equal(await text('#lp-body tr[data-lp="LMAX"] .lp-markout'), '-0.35 bpslast look');
  assert.equal(await page.locator('#toxic-card').isVisible(), true);
  await waitFor(() => document.querySelectorAll('#toxic-body tr[data-account]').length === 1);
  const row = await page.$$eval('#toxic-body tr[data-account] td', (tds) => tds.map((td) => td.textContent));
  assert.deepEqual(row, ['acc-00042', 'toxic', '95', '113', '45.0%', '-0.49 bps', 'ABOOK']);
});

test('the broker\'s risk: B-book P&L, net by symbol, the day chart, top accounts (admin, risk)', async () => {
  await producer.send('exposure', 'ExposureChange', exposureOnBasis(exposure(3_870_000)));
  await producer.send('pnl', 'PnlChange', pnl(-4752));
  await producer.send('account_risk_top', 'AccountRiskTop', top());
  await waitFor(() => document.getElementById('pnl-total').textContent === '-$4,752');
  assert.equal(await text('#pnl-floating'), '-$4,120');
  assert.equal(await text('#pnl-realized'), '-$632');
  assert.equal(await text('#pnl-abook'), '$1,960');
  assert.match(await page.getAttribute('#pnl-total', 'class'), /loss/);
  assert.match(await text('#pnl-day'), /^trading day 2026-01-20, 4 B-book positions/);
  await waitFor(() => document.querySelectorAll('#net-by-symbol .bar-row').length === 3);
  const net = await page.$$eval('#net-by-symbol .bar-row', (rows) => rows.map((r) => [r.dataset.name, r.dataset.side]));
  assert.deepEqual(net, [['EURUSD', 'short'], ['USDJPY', 'short'], ['EURGBP', 'long']]);
  assert.equal(await text('#net-by-symbol .bar-row[data-name="EURGBP"] .bar-value'), 'long 30K · $33,000');
  assert.equal(await text('#net-basis'), 'basis bbook-net');
  await waitFor(() => document.querySelectorAll('#top-body tr[data-account]').length === 3);
  assert.equal(await page.locator('#top-card').isVisible(), true);
  const rows = await page.$$eval('#top-body tr[data-account] td', (tds) => tds.map((td) => td.textContent));
  assert.deepEqual(rows.slice(0, 7), ['acc-A', '2', '$66,000', '$4,307', '$600', '$4,907', 'EURUSD BUY BBOOK']);
  const later = pnl(-5200);
  await producer.send('pnl', 'PnlChange', later);
  await waitFor(() => document.getElementById('pnl-total').textContent === '-$5,200');
  const painted = await page.evaluate(() => {
    const canvas = document.getElementById('day-chart');
    const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
    let lit = 0;
    for (let i = 0; i < data.length; i += 4) if (data[i + 3] > 0) lit += 1;
    return lit;
  });
  assert.ok(painted > 100, `the day chart was drawn (${painted} px)`);
});

test('a viewer\'s page shows the P&L but not the top accounts, and no error', async () => {
  const viewerToken = await mintToken(env, 'dashboard-viewer', 'viewer');
  const viewer = await browser.context.newPage();
  try {
    await viewer.goto(`http://127.0.0.1:${port}/dashboard/?token=${viewerToken}`);
    await viewer.waitForFunction(() => document.getElementById('pnl-total').textContent.startsWith('-$'), null, { timeout: WAIT_MS });
    await viewer.waitForFunction(() => globalThis.rtxDashboard.state.risk.topAllowed === false, null, { timeout: WAIT_MS });
    assert.equal(await viewer.locator('#top-card').isVisible(), false);
    assert.equal(await viewer.locator('#last-error').first().textContent(), '');
  } finally {
    await viewer.close();
  }
});

test('alert history is loaded by replay, newest first, marked as history', async () => {
  const history = historyAlerts(Date.now());
  await waitFor((n) => document.querySelectorAll('#alert-list li.alert').length >= n, history.length);
  await waitFor((n) => document.getElementById('history-status').textContent.startsWith(`history: ${n} alerts`), history.length);
  const ids = await page.$$eval('#alert-list li.alert', (items) => items.map((li) => li.dataset.id));
  assert.deepEqual(ids, history.map((a) => a.id).reverse());
  assert.equal(await page.locator('#alert-list li.sev-error .tag', { hasText: 'history' }).count(), 1);
  const silent = page.locator('#alert-list li.alert[data-id="hist-lp-silent-primexm"]');
  assert.equal(await silent.locator('.tag', { hasText: 'resolved' }).count(), 1, 'resolved by a later alert');
  const connections = bridge.log().match(/Client connected: dashboard-test/g) ?? [];
  assert.equal(connections.length, 1, 'the history came over the client\'s own connection (replayAlerts), no second socket');
});

test('live: routing windows and decisions draw the A/B share; a new exposure and an alert appear', async () => {
  const windows = routingWindows(Date.now(), 30);
  await producer.sendMany('routing_metrics', 'RoutingSummary', windows);
  await waitFor((n) => globalThis.rtxDashboard.state.windows.length === n, windows.length);
  // State changes at once, the DOM at the next animation frame: wait for the drawn text.
  await waitFor((n) => document.getElementById('share-source').textContent === `${n} routing windows`, windows.length);
  const last = windows.at(-1);
  assert.equal(await text('#abook-share'), `${last.abookShareByCountPct.toFixed(1)}%`);
  assert.equal(await text('#share-source'), '30 routing windows');
  // The chart was drawn: some pixels of the canvas are A-book blue.
  const painted = await page.evaluate(() => {
    const canvas = document.getElementById('share-chart');
    const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
    let blue = 0;
    for (let i = 0; i < data.length; i += 4) if (data[i + 2] > 200 && data[i] < 120) blue += 1;
    return blue;
  });
  assert.ok(painted > 100, `A-book area painted (${painted} px)`);

  await producer.sendMany('routing_metrics', 'RoutingDecision', Array.from({ length: 25 }, (_, n) => routingDecision(1000 + n)));
  await waitFor(() => globalThis.rtxDashboard.state.decisions.total === 25);
  await waitFor(() => document.getElementById('decision-count').textContent.startsWith('25 decisions'));
  assert.match(await text('#decision-count'), /^25 decisions \(10 A \/ 15 B\)/);

  const higher = exposureOnBasis(exposure(4_615_000, { positions: 437 }));
  await producer.send('exposure', 'ExposureChange', higher);
  await waitFor((total) => document.getElementById('total-exposure').textContent === total, usd(higher.totalExposure));
  assert.equal(await text('#util-value'), '92.3%');
  assert.equal(await text('#risk-level'), 'high');

  const alert = liveAlert();
  await producer.send('alerts', 'Alert', alert);
  const item = page.locator(`#alert-list li.alert[data-id="${alert.id}"]`);
  await item.waitFor({ timeout: WAIT_MS });
  assert.match(await item.getAttribute('class'), /sev-critical/);
  assert.equal(await item.locator('.alert-title').textContent(), 'Exposure Limit Approaching');
  assert.equal(await item.locator('.tag').count(), 0, 'a live alert is not marked history');
  const first = await page.$eval('#alert-list li.alert', (li) => li.dataset.id);
  assert.equal(first, alert.id, 'the newest alert is on top');
});

test('screenshot with realistic data', async () => {
  mkdirSync(OUTPUT, { recursive: true });
  const path = join(OUTPUT, 'dashboard.png');
  await page.evaluate(() => new Promise((ok) => requestAnimationFrame(() => requestAnimationFrame(ok))));
  await page.screenshot({ path, fullPage: true });
  const spilled = await page.$$eval('main .card', (cards) =>
    cards
      .filter((card) => !card.hidden && card.scrollWidth > card.clientWidth + 1)
      .map((card) => `${card.querySelector('h2')?.textContent}: ${card.scrollWidth} > ${card.clientWidth}`));
  assert.deepEqual(spilled, [], 'nothing spills out of its card at 1440 px');
  if (process.env.UPDATE_SCREENSHOT === '1') {
    copyFileSync(path, join(REPO, 'docs', 'dashboard.png'));
    console.log('# wrote docs/dashboard.png');
  }
  assert.equal(await text('#last-error'), '', 'nothing went wrong on the page so far');
});

test('text from the wire is shown as text, never run as HTML', async () => {
  const hostile = {
    ...liveAlert(),
    id: `hostile-${Date.now()}`,
    severity: 'info',
    title: '<img src=x onerror="globalThis.pwned=1">',
    message: '<script>globalThis.pwned=2</script>',
    actionItems: ['<b>bold?</b>'],
  };
  await producer.send('alerts', 'Alert', hostile);
  const item = page.locator(`#alert-list li.alert[data-id="${hostile.id}"]`);
  await item.waitFor({ timeout: WAIT_MS });
  assert.equal(await item.locator('.alert-title').textContent(), hostile.title);
  assert.equal(await item.locator('.alert-message').textContent(), hostile.message);
  assert.equal(await item.locator('img, script, b').count(), 0);
  assert.equal(await page.evaluate(() => globalThis.pwned), undefined);
});

test('a burst of decisions is folded into state and drawn in far fewer frames', async () => {
  const snapshot = () =>
    page.evaluate(() => {
      const { state, stats } = globalThis.rtxDashboard;
      return { ...stats, messages: state.messages, decisions: state.decisions.total, dropped: state.dropped['routing-metrics'] ?? 0 };
    });
  const before = await snapshot();
  const burst = 400;
  const decisions = Array.from({ length: burst }, (_, n) => routingDecision(n));
  await producer.sendMany('routing_metrics', 'RoutingDecision', decisions);
  // Every decision arrives, or is counted in a gap message (the bridge's queue holds 256).
  await waitFor((n) => {
    const { state } = globalThis.rtxDashboard;
    return state.decisions.total + (state.dropped['routing-metrics'] ?? 0) === n;
  }, before.decisions + before.dropped + burst).catch(async (error) => {
    throw new Error(`${error.message}; page saw ${JSON.stringify(await snapshot())}`);
  });
  const afterBurst = await snapshot();
  const received = afterBurst.decisions - before.decisions;
  const renders = afterBurst.renders - before.renders;
  const frames = afterBurst.frames - before.frames;
  console.log(`# ${received} decisions received, ${afterBurst.dropped} dropped by the bridge, drawn in ${renders} renders (${frames} animation frames)`);
  assert.ok(received >= 50, `most of the burst arrived (${received})`);
  assert.ok(renders <= frames, 'at most one render per animation frame');
  assert.ok(renders * 4 < received, `messages are batched into frames (${renders} renders for ${received})`);
  assert.match(await text('#decision-count'), new RegExp(`^${afterBurst.decisions} decisions \\(`));
});

test('the bridge is killed and restarted: the page reconnects and shows the alert it missed, once', async () => {
  outage = true;
  const firstLog = bridge.log();
  bridge.child.kill('SIGKILL');
  await bridge.stop();
  await waitFor(() => ['reconnecting', 'connecting'].includes(document.getElementById('conn-state').textContent));
  const missed = { ...liveAlert(), id: `missed-while-down-${Date.now()}`, severity: 'error', title: 'Produced While The Bridge Was Down' };
  await producer.send('alerts', 'Alert', missed);
  bridge = await startBridge(env, port);
  // The client's backoff (full jitter, 500 ms base) decides when it comes back: allow a minute.
  await page.waitForFunction(() => document.getElementById('conn-state').textContent === 'open', null, { timeout: 60_000 });
  const item = page.locator(`#alert-list li.alert[data-id="${missed.id}"]`);
  await item.waitFor({ timeout: WAIT_MS });
  outage = false;
  assert.equal(await page.locator(`#alert-list li.alert[data-id="${missed.id}"]`).count(), 1);
  assert.equal(await item.locator('.tag').count(), 0, 'resumed live, not history');
  const ids = await page.$$eval('#alert-list li.alert', (items) => items.map((li) => li.dataset.id));
  assert.equal(new Set(ids).size, ids.length, 'no alert shown twice after the resume');
  assert.equal(ids[0], missed.id);
  for (const log of [firstLog, bridge.log()]) assert.ok(!log.includes(token.split('.')[2]), 'token not logged');
});

test('the page works under its Content-Security-Policy: no violation, and the policy is enforced', async () => {
  const headers = pageResponse.headers();
  const csp = headers['content-security-policy'];
  assert.match(csp, /(^|; )default-src 'self';/);
  assert.match(csp, /; script-src 'self';/, 'scripts from this origin only, no inline script');
  assert.match(csp, /; style-src 'self';/);
  assert.ok(csp.includes(`; connect-src 'self' ws://127.0.0.1:${port} wss://127.0.0.1:${port};`), csp);
  assert.match(csp, /frame-ancestors 'none'/);
  assert.ok(!csp.includes('unsafe'), csp);
  assert.equal(headers['referrer-policy'], 'no-referrer');
  assert.equal(headers['x-content-type-options'], 'nosniff');
  assert.deepEqual(await page.evaluate(() => globalThis.cspViolations), [], 'the page broke none of its rules');
  // Enforced, not only sent: an inline script and a socket to another host are refused.
  probingCsp = true;
  const probe = await page.evaluate(async (otherPort) => {
    const script = document.createElement('script');
    script.textContent = 'globalThis.inlineRan = true;';
    document.head.append(script);
    const socket = new WebSocket(`ws://localhost:${otherPort}/ws/analytics`);
    socket.onerror = () => {};
    // Violation events are queued as tasks: wait for both.
    for (let i = 0; i < 100 && globalThis.cspViolations.length < 2; i += 1) await new Promise((ok) => setTimeout(ok, 20));
    return { inlineRan: globalThis.inlineRan === true, violations: globalThis.cspViolations.map((v) => v.split(' ')[0]) };
  }, port);
  // probingCsp stays set: Chromium's console lines for these two may arrive after the answer.
  // Every violation before the probe was checked above (cspViolations was empty).
  assert.equal(probe.inlineRan, false, 'an inline script does not run');
  assert.ok(probe.violations.some((d) => d.startsWith('script-src')), JSON.stringify(probe));
  assert.ok(probe.violations.includes('connect-src'), JSON.stringify(probe));
  await page.evaluate(() => globalThis.cspViolations.splice(0));
});

test('no page errors or console errors', () => {
  assert.deepEqual(pageProblems, []);
});
