// The alert workflow in headless Chromium, three dashboards on one real broker-backed bridge: a
// dealer acknowledges a critical alert with the button; a second dashboard shows it
// acknowledged (badge, timeline) and can hide it with the unacknowledged filter; a viewer sees
// the alert but no buttons. All under the page's Content-Security-Policy (no violation).
//
// Needs KAFKA_BOOTSTRAP_SERVERS, /usr/bin/chromium, .venv and clients/typescript/dist.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { liveAlert } from './fixtures.mjs';
import {
  applyTopics,
  bridgeEnv,
  checkPrerequisites,
  childEnv,
  freePort,
  launchChromium,
  mintToken,
  startBridge,
  startProducer,
} from './harness.mjs';

const WAIT_MS = 20_000;
const alert = { ...liveAlert(), id: `workflow-critical-${Date.now()}` };
let bridge;
let producer;
let browser;
let port;
const pages = {};
const problems = [];

async function open(name, user, roles) {
  const env = childEnv({ RTX_BRIDGE_DEV_MODE: '1' });
  const token = await mintToken(env, user, roles);
  const page = await browser.context.newPage();
  page.on('pageerror', (error) => problems.push(`${name} pageerror: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(`${name} console: ${message.text()}`);
  });
  await page.addInitScript(() => {
    globalThis.cspViolations = [];
    document.addEventListener('securitypolicyviolation', (e) => globalThis.cspViolations.push(`${e.effectiveDirective} ${e.blockedURI}`));
  });
  await page.goto(`http://127.0.0.1:${port}/dashboard/?token=${token}`);
  await page.waitForFunction(() => document.getElementById('conn-state')?.textContent === 'open', null, { timeout: WAIT_MS });
  pages[name] = page;
  return page;
}

const item = (page) => page.locator(`#alert-list li.alert[data-id="${alert.id}"]`);

before(async () => {
  checkPrerequisites();
  port = await freePort();
  const env = bridgeEnv(port);
  await applyTopics(env);
  producer = startProducer(env);
  await producer.send('alerts', 'Alert', alert);
  bridge = await startBridge(env, port);
  browser = await launchChromium();
  await open('dealer', 'dealer-dana', 'dealer');
  await open('desk', 'risk-rita', 'risk');
  await open('viewer', 'viewer-vic', 'viewer');
  for (const page of Object.values(pages)) await item(page).waitFor({ timeout: WAIT_MS });
});

after(async () => {
  await browser?.close();
  await producer?.stop();
  await bridge?.stop();
});

test('a viewer sees the alert and no buttons; a dealer sees the buttons its role allows', async () => {
  assert.equal(await item(pages.viewer).locator('button.act').count(), 0);
  // nor the toxic accounts: flow-toxicity is for the roles risk and admin (docs/bridge.md)
  await pages.viewer.waitForFunction(() => globalThis.rtxDashboard.state.markouts.flowAllowed === false);
  assert.equal(await pages.viewer.locator('#toxic-card').isVisible(), false);
  const buttons = await item(pages.dealer).locator('button.act').allTextContents();
  assert.deepEqual(buttons, ['acknowledge', 'assign', 'comment', 'snooze', 'resolve']);
  assert.equal(await item(pages.desk).getAttribute('data-status'), 'open');
});

test('a dealer acknowledges; the second dashboard shows it acknowledged, with its timeline', async () => {
  await pages.dealer.fill('#action-note', 'mine, hedging');
  await item(pages.dealer).locator('button.act-acknowledge').click();
  const desk = item(pages.desk);
  await pages.desk.waitForFunction(
    (id) => document.querySelector(`#alert-list li.alert[data-id="${id}"]`)?.dataset.status === 'acknowledged',
    alert.id,
    { timeout: WAIT_MS },
  );
  assert.equal(await desk.locator('.badge', { hasText: 'acknowledged by dealer-dana' }).count(), 1);
  await desk.locator('details.timeline summary').click();
  const steps = await desk.locator('details.timeline li').allTextContents();
  assert.equal(steps.length, 2);
  assert.match(steps[0], /raised by ExposureMonitor/);
  assert.match(steps[1], /acknowledge by dealer-dana: mine, hedging/);
  // the dealer's own page re-renders when its copy of the state arrives, which may come after the desk's
  await pages.dealer.waitForFunction(
    (id) => document.querySelector(`#alert-list li.alert[data-id="${id}"]`)?.dataset.status === 'acknowledged',
    alert.id,
    { timeout: WAIT_MS },
  );
  assert.deepEqual(await item(pages.dealer).locator('button.act').allTextContents(), ['assign', 'comment', 'snooze', 'resolve']);
  await pages.viewer.waitForFunction(
    (id) => document.querySelector(`#alert-list li.alert[data-id="${id}"]`)?.dataset.status === 'acknowledged',
    alert.id,
    { timeout: WAIT_MS },
  );
  assert.equal(await item(pages.viewer).locator('button.act').count(), 0);
});

test('the unacknowledged filter hides the acknowledged alert', async () => {
  await pages.desk.check('#unacked-only');
  await item(pages.desk).waitFor({ state: 'detached', timeout: WAIT_MS });
  await pages.desk.uncheck('#unacked-only');
  await item(pages.desk).waitFor({ timeout: WAIT_MS });
});

test('no page error and no CSP violation on any dashboard', async () => {
  for (const [name, page] of Object.entries(pages)) {
    assert.deepEqual(await page.evaluate(() => globalThis.cspViolations), [], `${name}: CSP violations`);
  }
  assert.deepEqual(problems, []);
});
