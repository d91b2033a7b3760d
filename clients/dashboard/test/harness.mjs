// The browser test's real pieces: topics applied with a unique prefix, a dev-mode bridge
// subprocess on a free port, the Python producer of derived records, and Debian's Chromium
// driven by playwright-core. Every failure names its cause (missing Chromium, unbuilt client,
// no broker) instead of timing out.

import { spawn, execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const here = dirname(fileURLToPath(import.meta.url));
export const REPO = resolve(here, '..', '..', '..');
export const CHROMIUM = process.env.RTX_CHROMIUM ?? '/usr/bin/chromium';
const VENV = resolve(process.env.RTX_VENV ?? join(REPO, '.venv'));
const RTX = join(VENV, 'bin', 'rtx-analytics');
const PYTHON = join(VENV, 'bin', 'python');

/** Fails early, with the fix, when something the test needs is not installed. */
export function checkPrerequisites() {
  const missing = [];
  if (!process.env.KAFKA_BOOTSTRAP_SERVERS) {
    missing.push('KAFKA_BOOTSTRAP_SERVERS is not set (make test sets it; or start a broker: .venv/bin/rtx-analytics kafka start)');
  }
  if (!existsSync(CHROMIUM)) missing.push(`no Chromium at ${CHROMIUM}: apt-get install -y chromium (or set RTX_CHROMIUM)`);
  if (!existsSync(RTX)) missing.push(`no ${RTX}: make install (or set RTX_VENV)`);
  if (!existsSync(join(REPO, 'clients', 'typescript', 'dist', 'index.js'))) {
    missing.push('clients/typescript/dist/index.js is missing: (cd clients/typescript && npm ci && npm run build)');
  }
  if (missing.length > 0) throw new Error(`dashboard browser test cannot run:\n - ${missing.join('\n - ')}`);
}

/** The environment of our subprocesses: none of the caller's RTX_/KAFKA_ settings leak in. */
export function childEnv(extra) {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith('RTX_') && !k.startsWith('KAFKA_')) env[k] = v;
  }
  return { ...env, KAFKA_BOOTSTRAP_SERVERS: process.env.KAFKA_BOOTSTRAP_SERVERS, ...extra };
}

/** A dev-mode bridge's environment on 127.0.0.1:`port`, topics of a fresh prefix; the page is
 * served by the bridge itself, so its own origin is the one to allow. */
export function bridgeEnv(port) {
  return childEnv({
    RTX_TOPIC_PREFIX: uniquePrefix(),
    RTX_BRIDGE_DEV_MODE: '1',
    RTX_BRIDGE_HOST: '127.0.0.1',
    RTX_BRIDGE_PORT: String(port),
    RTX_BRIDGE_ALLOWED_ORIGINS: `http://127.0.0.1:${port}`,
  });
}

export function uniquePrefix() {
  return `dash${randomBytes(5).toString('hex')}.`;
}

export async function freePort() {
  return new Promise((ok, fail) => {
    const server = createServer();
    server.unref();
    server.on('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => ok(port));
    });
  });
}

export async function applyTopics(env) {
  console.log(`# applying topics with prefix ${env.RTX_TOPIC_PREFIX}`);
  await run(RTX, ['topics', 'apply'], { env, cwd: REPO, timeout: 60_000 });
}

export async function mintToken(env, sub, roles) {
  const { stdout } = await run(RTX, ['token', '--sub', sub, '--roles', roles, '--ttl', '1h'], { env, cwd: REPO });
  return stdout.trim();
}

/** `rtx-analytics bridge` in dev mode; resolves once /readyz answers 200. */
export async function startBridge(env, port) {
  console.log(`# starting the bridge on 127.0.0.1:${port}`);
  const child = spawn(RTX, ['bridge'], { env, cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
  const log = [];
  child.stdout.setEncoding('utf8').on('data', (chunk) => log.push(chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk) => log.push(chunk));
  const exited = new Promise((ok) => child.on('exit', (code, signal) => ok({ code, signal })));
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`bridge exited with ${child.exitCode}:\n${log.join('')}`);
    try {
      const response = await fetch(`http://127.0.0.1:${port}/readyz`);
      if (response.status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`bridge not ready within 60 s:\n${log.join('')}`);
    }
    await new Promise((ok) => setTimeout(ok, 200));
  }
  return {
    child,
    log: () => log.join(''),
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      const result = await exited;
      clearTimeout(timer);
      return result;
    },
  };
}

/** The Python helper (produce_derived.py): `send(topic, schema, record)` resolves once acked. */
export function startProducer(env) {
  const child = spawn(PYTHON, [join(here, 'produce_derived.py')], {
    env: { ...env, PYTHONPATH: REPO },
    cwd: REPO,
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const waiting = [];
  createInterface({ input: child.stdout }).on('line', (line) => {
    const next = waiting.shift();
    if (next) next(JSON.parse(line));
  });
  const exited = new Promise((ok) => child.on('exit', ok));
  const ask = (command) =>
    new Promise((ok, fail) => {
      waiting.push((answer) => (answer.ok ? ok(answer) : fail(new Error(`produce ${command.schema}: ${answer.error}`))));
      child.stdin.write(`${JSON.stringify(command)}\n`);
    });
  return {
    send(topic, schema, record) {
      return ask({ topic, schema, record });
    },
    /** A burst: all records queued at once, resolved when all are acknowledged. */
    sendMany(topic, schema, records) {
      return ask({ topic, schema, records });
    },
    async stop() {
      child.stdin.end();
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Debian's Chromium, headless, with a fresh profile that is removed on close. */
export async function launchChromium() {
  const { chromium } = await import('playwright-core');
  const profile = mkdtempSync(join(tmpdir(), 'rtx-dashboard-chromium-'));
  console.log(`# launching ${CHROMIUM} (profile ${profile})`);
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1440, height: 1000 },
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  return {
    context,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
