/**
 * Test harness: a REAL bridge (`rtx-analytics bridge`, dev mode) and the REAL broker.
 *
 * - The broker comes from `KAFKA_BOOTSTRAP_SERVERS` (make test sets it); the venv from
 *   `RTX_VENV` (default `../../.venv` relative to this package).
 * - Each test file uses its own `RTX_TOPIC_PREFIX`, applies the topics, and starts bridges as
 *   subprocesses on free ports of 127.0.0.1.
 * - Derived records are published by `test/produce_derived.py serve` (one process per file,
 *   commands as JSON lines).
 * - Tokens are minted with `rtx-analytics token` (the dev secret).
 */

import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { dirname, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** The package directory (this file compiles to build-test/test/harness.js). */
export const PKG = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const VENV = resolve(PKG, process.env.RTX_VENV ?? '../../.venv');
const CLI = resolve(VENV, 'bin', 'rtx-analytics');
const PYTHON = resolve(VENV, 'bin', 'python');

function bootstrap(): string {
  const servers = process.env.KAFKA_BOOTSTRAP_SERVERS;
  if (servers === undefined || servers.trim() === '') {
    throw new Error(
      'KAFKA_BOOTSTRAP_SERVERS is not set: these tests need a running broker ' +
        '(make test sets it; or start one: .venv/bin/rtx-analytics kafka start --port PORT)',
    );
  }
  return servers;
}

/** The environment of our subprocesses: no inherited RTX_/KAFKA_ settings but ours. */
export function envFor(prefix: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith('RTX_') && !k.startsWith('KAFKA_')) env[k] = v;
  }
  return {
    ...env,
    KAFKA_BOOTSTRAP_SERVERS: bootstrap(),
    RTX_TOPIC_PREFIX: prefix,
    RTX_BRIDGE_DEV_MODE: '1',
    ...extra,
  };
}

/** A topic prefix no other run uses. */
export function uniquePrefix(name: string): string {
  return `tsclient-${name}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}.`;
}

/** `rtx-analytics topics apply` with this prefix. */
export async function applyTopics(prefix: string): Promise<void> {
  await run(CLI, ['topics', 'apply'], { env: envFor(prefix) });
}

/** A dev-mode token from `rtx-analytics token`. */
export async function mintToken(sub: string, roles: string[], ttl = '1h'): Promise<string> {
  const { stdout } = await run(CLI, ['token', '--sub', sub, '--roles', roles.join(','), '--ttl', ttl], {
    env: envFor('unused.'),
  });
  return stdout.trim();
}

export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  server.close();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

/** Poll `check` every 20 ms until it holds; fail naming `what` after `timeoutMs` (a deadline, not a measurement). */
export async function until(check: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** One `rtx-analytics bridge` subprocess; `restart()` starts a new one on the same port. */
export class Bridge {
  private proc: ChildProcess | null = null;
  readonly stderr: string[] = [];

  private constructor(
    readonly prefix: string,
    readonly port: number,
    private readonly extraEnv: Record<string, string>,
  ) {}

  static async start(prefix: string, extraEnv: Record<string, string> = {}): Promise<Bridge> {
    const bridge = new Bridge(prefix, await freePort(), extraEnv);
    await bridge.launch();
    return bridge;
  }

  get url(): string {
    return `ws://127.0.0.1:${this.port}/ws/analytics`;
  }

  private statusToken: Promise<string> | null = null;

  /** GET /api/analytics/status with an admin token: the consumer, the alert log and the client list are for the status role only. */
  async status(): Promise<{ consumer: Record<string, { lag: number }>; alertLog: { lastSeq: number } | null; clients: number }> {
    this.statusToken ??= mintToken('status-reader', ['admin']);
    const headers = { Authorization: `Bearer ${await this.statusToken}` };
    const response = await fetch(`http://127.0.0.1:${this.port}/api/analytics/status`, { headers });
    return (await response.json()) as never;
  }

  /** Wait until the bridge consumed everything produced so far on every topic. */
  async caughtUp(): Promise<void> {
    let done = false;
    const deadline = Date.now() + 20_000;
    while (!done) {
      const lags = Object.values((await this.status()).consumer).map((c) => c.lag);
      done = lags.length > 0 && lags.every((lag) => lag === 0);
      if (!done && Date.now() > deadline) throw new Error('bridge did not catch up with the topics');
      if (!done) await new Promise((r) => setTimeout(r, 50));
    }
  }

  private async launch(): Promise<void> {
    const env = envFor(this.prefix, {
      RTX_BRIDGE_HOST: '127.0.0.1',
      RTX_BRIDGE_PORT: String(this.port),
      ...this.extraEnv,
    });
    const proc = spawn(CLI, ['bridge'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc = proc;
    createInterface({ input: proc.stderr! }).on('line', (line) => this.stderr.push(line));
    const lines = createInterface({ input: proc.stdout! });
    const [first] = (await Promise.race([
      once(lines, 'line'),
      once(proc, 'exit').then(() => {
        throw new Error(`bridge exited at start:\n${this.stderr.join('\n')}`);
      }),
    ])) as [string];
    if (!first.startsWith('bridge: ws://')) throw new Error(`unexpected first line from the bridge: ${first}`);
    const deadline = Date.now() + 30_000;
    for (;;) {
      try {
        if ((await fetch(`http://127.0.0.1:${this.port}/readyz`)).status === 200) return;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) throw new Error(`bridge not ready in time:\n${this.stderr.join('\n')}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** SIGKILL: no goodbye to the clients (they see an abnormal close, 1006). */
  async kill(): Promise<void> {
    const proc = this.proc;
    this.proc = null;
    if (proc === null || proc.exitCode !== null) return;
    const exited = once(proc, 'exit');
    proc.kill('SIGKILL');
    await exited;
  }

  async restart(): Promise<void> {
    await this.kill();
    await this.launch();
  }

  /** SIGTERM and wait (the bridge closes its clients with 1001). */
  async stop(): Promise<void> {
    const proc = this.proc;
    this.proc = null;
    if (proc === null || proc.exitCode !== null) return;
    const exited = once(proc, 'exit');
    proc.kill('SIGTERM');
    await exited;
  }
}

export interface ProduceAnswer {
  ok: boolean;
  error?: string;
  ids?: string[];
  offsets?: number[];
  offset?: number;
}

/** `produce_derived.py serve`: one command at a time, each answered after the broker's ack. */
export class Producer {
  private readonly answers: string[] = [];
  private waiting: { resolve: (line: string) => void; reject: (error: Error) => void } | null = null;
  private chain: Promise<unknown> = Promise.resolve();

  private constructor(private readonly proc: ChildProcess) {
    createInterface({ input: proc.stdout! }).on('line', (line) => {
      const w = this.waiting;
      this.waiting = null;
      if (w !== null) w.resolve(line);
      else this.answers.push(line);
    });
    proc.on('exit', (code) => {
      const w = this.waiting;
      this.waiting = null;
      if (w !== null) w.reject(new Error(`produce_derived.py exited (${code})`));
    });
  }

  static async start(prefix: string): Promise<Producer> {
    const script = resolve(PKG, 'test', 'produce_derived.py');
    const proc = spawn(PYTHON, [script, 'serve'], { env: envFor(prefix), stdio: ['pipe', 'pipe', 'inherit'] });
    const producer = new Producer(proc);
    const ready = JSON.parse(await producer.next()) as { ready?: boolean };
    if (ready.ready !== true) throw new Error('produce_derived.py did not start');
    return producer;
  }

  private next(): Promise<string> {
    const line = this.answers.shift();
    if (line !== undefined) return Promise.resolve(line);
    if (this.proc.exitCode !== null) return Promise.reject(new Error('produce_derived.py is not running'));
    return new Promise((resolveLine, reject) => {
      this.waiting = { resolve: resolveLine, reject };
    });
  }

  /** Send one command, e.g. `{kind: 'alerts', count: 3, start: 0}`; rejects on an error answer. */
  send(command: Record<string, unknown>): Promise<ProduceAnswer> {
    const result = this.chain.then(async () => {
      this.proc.stdin!.write(`${JSON.stringify(command)}\n`);
      const answer = JSON.parse(await this.next()) as ProduceAnswer;
      if (!answer.ok) throw new Error(`produce_derived.py: ${answer.error}`);
      return answer;
    });
    this.chain = result.catch(() => undefined);
    return result;
  }

  async stop(): Promise<void> {
    if (this.proc.exitCode !== null) return;
    const exited = once(this.proc, 'exit');
    this.proc.stdin!.end();
    await exited;
  }
}
