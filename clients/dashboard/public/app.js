// The dashboard's entry: token handling, the TypeScript client (served by the bridge under
// /dashboard/client/), the alert history (the client's replayAlerts), and the render loop.
//
// Handlers only fold messages into `state` (state.js) and ask for a frame; render.js draws what
// changed at most once per requestAnimationFrame, however many messages arrived in between.

import { applyAccountToxicity, applyCurve, applyLpMarkout, applyRoutingAdvice, createMarkouts } from './markouts.js';
import { render } from './render.js';
import { applyExposurePoint, applyPnl, applyTop, createRisk } from './risk.js';
import { renderRisk } from './risk_render.js';
import {
  applyAlert,
  applyAlertState,
  applyExposure,
  applyGap,
  applyLp,
  applyRoutingDecision,
  applyRoutingSummary,
  createState,
  exposureStale,
  setAllowedActions,
} from './state.js';

// flow-toxicity and account-risk are client data: a token without their roles gets
// `forbidden` and their tables hide.
const CHANNELS = [
  'exposure-updates',
  'lp-performance',
  'routing-metrics',
  'alerts',
  'markouts',
  'flow-toxicity',
  'pnl-updates',
  'account-risk',
];
const RESTRICTED = ['flow-toxicity', 'account-risk'];
const HISTORY_HOURS = 24;
const HISTORY_LIMIT = 500;

const state = createState();
state.markouts = createMarkouts();
state.risk = createRisk();
const stats = { renders: 0, frames: 0 };
let client = null;
let framePending = false;

// For the browser test and for curious operators (no token in here).
globalThis.rtxDashboard = { state, stats };

function frame() {
  framePending = false;
  stats.frames += 1;
  if (state.dirty.size === 0) return;
  const d = state.dirty;
  if (d.has('all') || d.has('risk') || d.has('exposure')) renderRisk(state);
  render(state);
  stats.renders += 1;
}

function scheduleRender(part) {
  state.dirty.add(part);
  state.dirty.add('status');
  if (!framePending) {
    framePending = true;
    requestAnimationFrame(frame);
  }
}

function markouts(apply, data) {
  state.messages += 1;
  apply(state.markouts, data);
  scheduleRender('markouts');
}

function noteError(text) {
  state.errors.push(`${new Date().toISOString().slice(11, 19)} ${text}`);
  if (state.errors.length > 20) state.errors.shift();
  scheduleRender('status');
}

/** Reads `?token=` (and `?url=`) once, then removes them from the address bar and history. */
function takeUrlParams() {
  const params = new URLSearchParams(location.search);
  const token = params.get('token');
  const url = params.get('url');
  if (token !== null || url !== null) {
    params.delete('token');
    const rest = params.toString();
    replaceUrl(`${location.pathname}${rest ? `?${rest}` : ''}${location.hash}`);
  }
  return { token, url };
}

function replaceUrl(path) {
  globalThis.history.replaceState(null, '', path);
}

function defaultBridgeUrl() {
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${location.host}/ws/analytics`;
}

async function loadClient() {
  try {
    return await import('./client/index.js');
  } catch (error) {
    noteError(
      'TypeScript client not found at /dashboard/client/index.js: run `npm ci && npm run build` in clients/typescript',
    );
    throw error;
  }
}

/**
 * Alert history by the client's time-range replay (`replayAlerts`): the alerts of the last
 * HISTORY_HOURS (at most HISTORY_LIMIT), merged into the feed marked `history`; live alerts that
 * arrived meanwhile are deduplicated by epoch:seq (state.js). Loaded when the connection first
 * opens; a load cut short by a dropped connection or a timeout is tried again at the next open.
 */
async function loadHistory(current) {
  const fromTime = new Date(Date.now() - HISTORY_HOURS * 3600_000).toISOString();
  state.history = { status: 'loading', count: 0, complete: true, truncated: false, error: null, retry: false };
  scheduleRender('alerts');
  let result = null;
  let failure = null;
  try {
    result = await current.replayAlerts({ fromTime, limit: HISTORY_LIMIT });
  } catch (error) {
    failure = error;
  }
  if (current !== client) return; // disconnected (or connected again with another token) meanwhile
  if (result !== null) {
    const { messages, done } = result;
    for (const m of messages) applyAlert(state, m.data, { timestamp: m.timestamp, replay: true });
    state.history = { status: 'done', count: messages.length, complete: done.complete !== false, truncated: Boolean(done.truncated), error: null, retry: false };
  } else {
    // ServerError (forbidden, replay-unavailable): final. ConnectionError or timeout: again at the next open.
    const retry = failure?.retriable === true || failure?.code === 'timeout';
    state.history = { status: 'failed', count: 0, complete: true, truncated: false, error: failure?.code ?? String(failure), retry };
  }
  scheduleRender('alerts');
}

async function connect(url, token) {
  disconnect();
  const { AnalyticsWebSocket } = await loadClient();
  const now = () => Date.now();
  client = new AnalyticsWebSocket(
    { url, token, channels: CHANNELS, debug: false },
    {
      onExposureUpdate: (data, message) => {
        applyExposure(state, data, now());
        applyExposurePoint(state.risk, data, message?.timestamp);
        scheduleRender('exposure');
      },
      onPnlUpdate: (data, message) => {
        state.messages += 1;
        applyPnl(state.risk, data, message?.timestamp);
        scheduleRender('risk');
      },
      onAccountRisk: (data) => {
        state.messages += 1;
        applyTop(state.risk, data);
        scheduleRender('risk');
      },
      onLPPerformance: (data) => {
        applyLp(state, data, now());
        scheduleRender('lps');
      },
      onRoutingMetrics: (data) => {
        applyRoutingDecision(state, data, now());
        scheduleRender('routing');
      },
      onRoutingSummary: (data) => {
        applyRoutingSummary(state, data);
        scheduleRender('routing');
      },
      onAlert: (data, message) => {
        applyAlert(state, data, { timestamp: message?.timestamp ?? null, replay: false });
        scheduleRender('alerts');
      },
      onAlertState: (data) => {
        applyAlertState(state, data);
        scheduleRender('alerts');
      },
      onLpMarkout: (data) => markouts(applyLpMarkout, data),
      onMarkoutCurve: (data) => markouts(applyCurve, data),
      onAccountToxicity: (data) => markouts(applyAccountToxicity, data),
      onRoutingAdvice: (data) => markouts(applyRoutingAdvice, data),
      // The bridge says which alert actions this token may take: only those get buttons; and
      // whether its roles allow flow-toxicity (the toxic-accounts table).
      onSubscribed: (data) => {
        if (data.channels.includes('alerts')) setAllowedActions(state, data.actions);
        state.markouts.flowAllowed = data.channels.includes('flow-toxicity');
        state.risk.topAllowed = data.channels.includes('account-risk');
        scheduleRender('alerts');
        scheduleRender('markouts');
        scheduleRender('risk');
      },
      onGap: (gap) => {
        applyGap(state, gap);
        noteError(`gap on ${gap.channel}: ${gap.dropped} messages dropped`);
      },
      onError: (error) => {
        // Not a problem: a token without the risk roles just does not see the client data.
        if (error.code === 'forbidden' && RESTRICTED.includes(error.channel)) return;
        noteError(error.message);
      },
      onStateChange: (next) => {
        state.connection = next;
        scheduleRender('status');
        const h = state.history;
        if (next === 'open' && (h.status === 'none' || (h.status === 'failed' && h.retry))) loadHistory(client);
      },
    },
  );
  client.connect();
}

/** Snooze length of the snooze button. */
const SNOOZE_MS = 15 * 60_000;

/**
 * One alert action from a button (event delegation on the feed: no inline handlers, the page's
 * CSP allows none). The note field gives the comment, the assignee or the resolve's reason.
 * The bridge answers with `confirmed` (the state then arrives as alert-state, on every
 * dashboard) or an error, shown in the footer.
 */
async function runAction(button) {
  const current = client;
  if (current === null) return;
  const { action, id, seq, epoch } = button.dataset;
  const noteInput = document.getElementById('action-note');
  const note = noteInput.value.trim() || undefined;
  const pin = { ...(seq === undefined ? {} : { seq: Number(seq) }), ...(epoch === undefined ? {} : { epoch }) };
  const needs = { assign: 'an assignee', comment: 'a comment', resolve: 'a reason' }[action];
  if (needs !== undefined && note === undefined) {
    noteError(`${action}: type ${needs} in the note field first`);
    return;
  }
  button.disabled = true;
  try {
    if (action === 'acknowledge') await current.acknowledge(id, note, pin);
    else if (action === 'assign') await current.assign(id, note, undefined, pin);
    else if (action === 'comment') await current.comment(id, note, pin);
    else if (action === 'snooze') await current.snooze(id, new Date(Date.now() + SNOOZE_MS), note, pin);
    else if (action === 'resolve') await current.resolve(id, note, pin);
    else if (action === 'reopen') await current.reopen(id, note, pin);
    noteInput.value = '';
  } catch (error) {
    noteError(`${action} ${id}: ${error.code ?? 'failed'}: ${error.message ?? error}`);
  } finally {
    button.disabled = false;
  }
}

function watchAlertFeed() {
  const list = document.getElementById('alert-list');
  list.addEventListener('click', (event) => {
    const button = event.target.closest('button[data-action]');
    if (button !== null) runAction(button);
  });
  // A timeline stays open across redraws ('toggle' does not bubble: listen while capturing).
  list.addEventListener(
    'toggle',
    (event) => {
      const details = event.target;
      if (!(details instanceof HTMLDetailsElement) || !details.dataset.id) return;
      if (details.open) state.openTimelines.add(details.dataset.id);
      else state.openTimelines.delete(details.dataset.id);
    },
    true,
  );
  document.getElementById('unacked-only').addEventListener('change', (event) => {
    state.unacknowledgedOnly = event.target.checked;
    scheduleRender('alerts');
  });
}

function disconnect() {
  if (client) client.close();
  client = null;
}

function main() {
  const form = document.getElementById('connect-form');
  const tokenInput = document.getElementById('token');
  const urlInput = document.getElementById('bridge-url');
  const params = takeUrlParams();
  urlInput.value = params.url ?? defaultBridgeUrl();
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const token = tokenInput.value.trim();
    if (token === '') {
      noteError('paste a token first (rtx-analytics token --sub USER --roles ROLES)');
      return;
    }
    state.history.status = 'none';
    connect(urlInput.value.trim(), token).catch((error) => noteError(String(error.message ?? error)));
  });
  document.getElementById('disconnect').addEventListener('click', () => {
    disconnect();
    state.connection = 'closed';
    scheduleRender('status');
  });
  watchAlertFeed();
  scheduleRender('all');
  // The only timer: flag the exposure stale when its heartbeats stop (redrawn on change only).
  setInterval(() => {
    const stale = exposureStale(state, Date.now());
    if (stale !== state.exposureStale) {
      state.exposureStale = stale;
      scheduleRender('exposure');
    }
  }, 1000);
  if (params.token) {
    tokenInput.value = params.token;
    form.requestSubmit();
  }
}

main();
