// The TypeScript client (clients/typescript/dist) as a subscriber of `alerts`, for
// tests/reliability/test_faults_bridge.py. Prints one JSON line per event on stdout:
//   {"alert": {"seq", "epoch", "id"}} | {"state": "..."} | {"gap": {...}}
// and closes the client when stdin ends or says "close".
// Env: RTX_URL (ws://...), RTX_TOKEN (never printed).
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const pkg = path.resolve(here, '../../clients/typescript');
const require = createRequire(path.join(pkg, 'package.json'));
const WebSocket = require('ws');
const { AnalyticsWebSocket } = await import(pathToFileURL(path.join(pkg, 'dist/index.js')).href);

const print = (event) => process.stdout.write(`${JSON.stringify(event)}\n`);
const client = new AnalyticsWebSocket(
  {
    url: process.env.RTX_URL,
    token: process.env.RTX_TOKEN,
    channels: ['alerts'],
    WebSocket,
    backoffBaseMs: 50,
    backoffMaxMs: 500,
    resumeFrom: { seq: -1 },
  },
  {
    onAlert: (data) => print({ alert: { seq: data.seq, epoch: data.epoch, id: data.id } }),
    onStateChange: (state) => print({ state }),
    onGap: (gap) => print({ gap }),
  },
);
client.connect();

const stop = () => {
  client.close();
  process.exit(0);
};
process.stdin.on('data', (chunk) => {
  if (chunk.toString().includes('close')) stop();
});
process.stdin.on('end', stop);
