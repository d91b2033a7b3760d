// Draws the broker's own risk (risk.js): the B-book P&L panel, the B-book net position by
// symbol (long/short bars), the day chart and the top accounts (only when the token's roles
// allow account-risk). Text goes in with textContent only.

import { drawDay } from './charts.js';
import { bars } from './render.js';
import { TOP_LISTS, netRows, pnlBySymbol, topRows, units } from './risk.js';
import { usd } from './state.js';

const $ = (id) => document.getElementById(id);

function cell(text, className) {
  const td = document.createElement('td');
  td.textContent = text;
  if (className) td.className = className;
  return td;
}

/** The risk panels; returns the part's name. */
export function renderRisk(state) {
  const r = state.risk;
  renderPnl(r);
  renderNet(r.exposure);
  drawDay($('day-chart'), r.day);
  renderTop(r);
  return 'risk';
}

function signClass(value) {
  return value === null || value === undefined ? '' : value < 0 ? 'loss' : 'gain';
}

function renderPnl(r) {
  const p = r.pnl;
  for (const [id, value] of [
    ['pnl-total', p?.total],
    ['pnl-floating', p?.floating],
    ['pnl-realized', p?.realizedToday],
  ]) {
    $(id).textContent = usd(value);
    $(id).className = signClass(value);
  }
  $('pnl-day').textContent = p ? `trading day ${p.tradingDay}, ${p.positionCount} B-book positions` : 'no P&L yet';
  const clients = p?.clientsByBook?.ABOOK?.total;
  $('pnl-abook').textContent = clients === undefined ? '–' : usd(clients);
  const notes = [];
  if (p?.markedAtMid?.length) notes.push(`marked at mid: ${p.markedAtMid.join(', ')}`);
  if (p?.unmarked?.length) notes.push(`no quote: ${p.unmarked.join(', ')}`);
  if (p?.unconverted?.length) notes.push(`no USD rate: ${p.unconverted.join(', ')}`);
  $('pnl-notes').textContent = notes.join('; ');
  bars($('pnl-by-symbol'), pnlBySymbol(p), true);
}

/** Long bars to the right (green), short to the left (red), around a zero line. */
function renderNet(exposure) {
  const container = $('net-by-symbol');
  const rows = netRows(exposure);
  container.replaceChildren();
  $('net-basis').textContent = exposure?.basis ? `basis ${exposure.basis}` : '';
  if (rows.length === 0) {
    const empty = document.createElement('div');
    empty.className = 'empty';
    empty.textContent = exposure?.basis ? 'flat' : 'no B-book net figures (the worker sends them with its basis)';
    container.append(empty);
    return;
  }
  const max = Math.max(...rows.map((row) => Math.abs(row.usd)), 1);
  for (const row of rows) {
    const line = document.createElement('div');
    line.className = `bar-row net-${row.side}`;
    line.dataset.name = row.symbol;
    line.dataset.side = row.side;
    const name = document.createElement('span');
    name.className = 'bar-name';
    name.textContent = row.symbol;
    const track = document.createElement('span');
    track.className = 'bar-track signed';
    const fill = document.createElement('span');
    fill.className = `bar-fill ${row.side}`;
    const width = (50 * Math.abs(row.usd)) / max;
    fill.style.width = `${width}%`;
    fill.style.left = row.side === 'short' ? `${50 - width}%` : '50%';
    track.append(fill);
    const value = document.createElement('span');
    value.className = 'bar-value';
    value.textContent = `${row.side} ${units(Math.abs(row.volume))} · ${usd(Math.abs(row.usd))}`;
    line.append(name, track, value);
    container.append(line);
  }
}

function renderTop(r) {
  const card = $('top-card');
  card.hidden = r.topAllowed !== true;
  if (card.hidden) return;
  $('top-list').textContent = TOP_LISTS[r.topList];
  $('top-count').textContent = r.top ? `${r.top.accounts} accounts, basis ${r.top.basis}` : '';
  const body = $('top-body');
  body.replaceChildren();
  for (const row of topRows(r)) {
    const tr = document.createElement('tr');
    tr.dataset.account = row.accountId;
    tr.append(
      cell(row.accountId),
      cell(String(row.openPositions)),
      cell(usd(row.exposure)),
      cell(usd(row.floatingPnl), signClass(row.floatingPnl)),
      cell(usd(row.realizedToday), signClass(row.realizedToday)),
      cell(usd(row.pnlToday), signClass(row.pnlToday)),
      cell(row.largest, 'muted'),
    );
    body.append(tr);
  }
}
