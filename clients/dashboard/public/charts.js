// Canvas drawing: the exposure utilisation gauge, the A-book/B-book share over time, the
// markout curves (A-book vs B-book) and the day's utilisation and B-book P&L.
// No chart library: a few dozen lines of 2D canvas each, sized for the device pixel ratio.

const COLORS = {
  low: '#2f9e44',
  medium: '#f08c00',
  high: '#e03131',
  critical: '#a61e4d',
  track: '#2b3340',
  text: '#e9ecef',
  muted: '#8b95a5',
  abook: '#4dabf7',
  bbook: '#f59f00',
  grid: '#2b3340',
};

/** Resizes the canvas backing store to its CSS size x devicePixelRatio; returns the context. */
function prepare(canvas) {
  const ratio = globalThis.devicePixelRatio || 1;
  const width = canvas.clientWidth || canvas.width;
  const height = canvas.clientHeight || canvas.height;
  if (canvas.width !== Math.round(width * ratio) || canvas.height !== Math.round(height * ratio)) {
    canvas.width = Math.round(width * ratio);
    canvas.height = Math.round(height * ratio);
  }
  const ctx = canvas.getContext('2d');
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  ctx.clearRect(0, 0, width, height);
  return { ctx, width, height };
}

/**
 * A half-circle gauge from 0 to 120 % with the risk bands (60 / 85 / 100 %) on its rim and a
 * needle at `utilizationPct` (null: no needle).
 */
export function drawGauge(canvas, utilizationPct) {
  const { ctx, width, height } = prepare(canvas);
  const max = 120;
  const cx = width / 2;
  const cy = height * 0.9;
  const r = Math.min(width / 2, height) * 0.8;
  const angle = (p) => Math.PI + (Math.PI * Math.min(Math.max(p, 0), max)) / max;
  const bands = [
    [0, 60, COLORS.low],
    [60, 85, COLORS.medium],
    [85, 100, COLORS.high],
    [100, max, COLORS.critical],
  ];
  ctx.lineWidth = r * 0.16;
  for (const [from, to, color] of bands) {
    ctx.beginPath();
    ctx.strokeStyle = color;
    ctx.globalAlpha = 0.35;
    ctx.arc(cx, cy, r, angle(from), angle(to));
    ctx.stroke();
  }
  ctx.globalAlpha = 1;
  if (utilizationPct !== null) {
    const band = bands.find(([from, to]) => utilizationPct < to) ?? bands[bands.length - 1];
    ctx.beginPath();
    ctx.strokeStyle = band[2];
    ctx.arc(cx, cy, r, angle(0), angle(utilizationPct));
    ctx.stroke();
    const a = angle(utilizationPct);
    ctx.beginPath();
    ctx.strokeStyle = COLORS.text;
    ctx.lineWidth = 3;
    ctx.moveTo(cx, cy);
    ctx.lineTo(cx + Math.cos(a) * r * 0.95, cy + Math.sin(a) * r * 0.95);
    ctx.stroke();
    ctx.beginPath();
    ctx.fillStyle = COLORS.text;
    ctx.arc(cx, cy, 5, 0, 2 * Math.PI);
    ctx.fill();
  }
  ctx.fillStyle = COLORS.muted;
  ctx.font = '11px system-ui, sans-serif';
  ctx.textAlign = 'center';
  for (const tick of [0, 60, 85, 100, 120]) {
    const a = angle(tick);
    ctx.fillText(`${tick}`, cx + Math.cos(a) * r * 1.17, cy + Math.sin(a) * r * 1.17 + 4);
  }
}

/**
 * The A-book share (percent of decisions) over time as a filled area, B-book above it.
 * `points`: [{t (ms), abookPct, count}], oldest first.
 */
export function drawShare(canvas, points) {
  const { ctx, width, height } = prepare(canvas);
  const pad = { left: 34, right: 8, top: 8, bottom: 18 };
  const w = width - pad.left - pad.right;
  const h = height - pad.top - pad.bottom;
  ctx.font = '11px system-ui, sans-serif';
  ctx.strokeStyle = COLORS.grid;
  ctx.fillStyle = COLORS.muted;
  ctx.lineWidth = 1;
  ctx.textAlign = 'right';
  for (const p of [0, 25, 50, 75, 100]) {
    const y = pad.top + h - (h * p) / 100;
    ctx.beginPath();
    ctx.moveTo(pad.left, y);
    ctx.lineTo(pad.left + w, y);
    ctx.stroke();
    ctx.fillText(`${p}%`, pad.left - 4, y + 4);
  }
  if (points.length === 0) {
    ctx.textAlign = 'center';
    ctx.fillText('waiting for routing data…', pad.left + w / 2, pad.top + h / 2);
    return;
  }
  const t0 = points[0].t;
  const t1 = points[points.length - 1].t;
  const span = Math.max(t1 - t0, 1);
  const x = (t) => (points.length === 1 ? pad.left + w : pad.left + (w * (t - t0)) / span);
  const y = (p) => pad.top + h - (h * p) / 100;
  // B-book: the whole band, then A-book painted over it from the bottom.
  ctx.fillStyle = COLORS.bbook;
  ctx.globalAlpha = 0.55;
  ctx.fillRect(points.length === 1 ? x(t1) - 6 : pad.left, pad.top, points.length === 1 ? 6 : w, h);
  ctx.globalAlpha = 0.85;
  ctx.fillStyle = COLORS.abook;
  ctx.beginPath();
  ctx.moveTo(x(t0), y(0));
  if (points.length === 1) {
    ctx.rect(x(t1) - 6, y(points[0].abookPct), 6, y(0) - y(points[0].abookPct));
  } else {
    for (const p of points) ctx.lineTo(x(p.t), y(p.abookPct));
    ctx.lineTo(x(t1), y(0));
    ctx.closePath();
  }
  ctx.fill();
  ctx.globalAlpha = 1;
  ctx.strokeStyle = COLORS.text;
  ctx.lineWidth = 1.5;
  ctx.beginPath();
  points.forEach((p, i) => (i === 0 ? ctx.moveTo(x(p.t), y(p.abookPct)) : ctx.lineTo(x(p.t), y(p.abookPct))));
  ctx.stroke();
  ctx.fillStyle = COLORS.muted;
  ctx.textAlign = 'left';
  ctx.fillText(clock(t0), pad.left, height - 4);
  ctx.textAlign = 'right';
  ctx.fillText(clock(t1), pad.left + w, height - 4);
}

/**
 * Markout curves: mean markout (bps, broker's side) against horizon, A-book and B-book, with a
 * zero line (below zero: the market moved the clients' way). `series`: curveSeries (markouts.js).
 */
export function drawCurves(canvas, series, label) {
  const { ctx, width, height } = prepare(canvas);
  const pad = { left: 44, right: 10, top: 10, bottom: 18 };
  const w = width - pad.left - pad.right;
  const h = height - pad.top - pad.bottom;
  ctx.font = '11px system-ui, sans-serif';
  const values = [...series.abook, ...series.bbook].filter((v) => v !== null);
  if (series.horizonsMs.length === 0 || values.length === 0) {
    ctx.fillStyle = COLORS.muted;
    ctx.textAlign = 'center';
    ctx.fillText('waiting for markouts…', pad.left + w / 2, pad.top + h / 2);
    return;
  }
  const top = Math.max(0.5, ...values.map((v) => Math.abs(v))) * 1.15;
  const x = (i) => pad.left + (series.horizonsMs.length === 1 ? w / 2 : (w * i) / (series.horizonsMs.length - 1));
  const y = (v) => pad.top + h / 2 - (h / 2) * (v / top);
  ctx.strokeStyle = COLORS.grid;
  ctx.fillStyle = COLORS.muted;
  ctx.lineWidth = 1;
  ctx.textAlign = 'right';
  for (const v of [-top, 0, top]) {
    ctx.beginPath();
    ctx.moveTo(pad.left, y(v));
    ctx.lineTo(pad.left + w, y(v));
    ctx.stroke();
    ctx.fillText(`${v >= 0 ? '+' : ''}${v.toFixed(1)}`, pad.left - 4, y(v) + 4);
  }
  ctx.textAlign = 'center';
  series.horizonsMs.forEach((ms, i) => ctx.fillText(label(ms), x(i), height - 4));
  for (const [name, color] of [['bbook', COLORS.bbook], ['abook', COLORS.abook]]) {
    ctx.strokeStyle = color;
    ctx.fillStyle = color;
    ctx.lineWidth = 2;
    ctx.beginPath();
    let drawing = false;
    series[name].forEach((v, i) => {
      if (v === null) {
        drawing = false;
        return;
      }
      if (drawing) ctx.lineTo(x(i), y(v));
      else ctx.moveTo(x(i), y(v));
      drawing = true;
    });
    ctx.stroke();
    series[name].forEach((v, i) => {
      if (v === null) return;
      ctx.beginPath();
      ctx.arc(x(i), y(v), 3, 0, 2 * Math.PI);
      ctx.fill();
    });
  }
}

function clock(ms) {
  return new Date(ms).toISOString().slice(11, 19);
}

/**
 * The trading day so far: exposure utilisation (%, left axis, with the 100 % limit) and the
 * broker's B-book P&L (USD, right axis, zero line) over time, from points {t, util, pnl}.
 */
export function drawDay(canvas, points) {
  const { ctx, width, height } = prepare(canvas);
  const pad = { left: 40, right: 62, top: 8, bottom: 18 };
  const w = width - pad.left - pad.right;
  const h = height - pad.top - pad.bottom;
  ctx.font = '11px system-ui, sans-serif';
  ctx.lineWidth = 1;
  if (points.length === 0) {
    ctx.fillStyle = COLORS.muted;
    ctx.textAlign = 'center';
    ctx.fillText('waiting for exposure and P&L', width / 2, height / 2);
    return;
  }
  const t0 = points[0].t;
  const span = Math.max(points.at(-1).t - t0, 60_000);
  const x = (t) => pad.left + (w * (t - t0)) / span;
  const utils = points.map((p) => p.util).filter((v) => v !== null);
  const pnls = points.map((p) => p.pnl).filter((v) => v !== null);
  const uMax = Math.max(120, ...utils);
  const pMax = Math.max(1, ...pnls.map(Math.abs));
  const yU = (v) => pad.top + h - (h * v) / uMax;
  const yP = (v) => pad.top + h / 2 - (h / 2) * (v / pMax);
  ctx.strokeStyle = COLORS.grid;
  ctx.fillStyle = COLORS.muted;
  for (const [value, y, label, align, at] of [
    [0, yU(0), '0%', 'right', pad.left - 4],
    [100, yU(100), '100%', 'right', pad.left - 4],
    [0, yP(0), '0', 'left', pad.left + w + 4],
    [pMax, yP(pMax), `+${Math.round(pMax).toLocaleString('en-US')}`, 'left', pad.left + w + 4],
    [-pMax, yP(-pMax), `-${Math.round(pMax).toLocaleString('en-US')}`, 'left', pad.left + w + 4],
  ]) {
    ctx.beginPath();
    ctx.moveTo(pad.left, y);
    ctx.lineTo(pad.left + w, y);
    ctx.stroke();
    ctx.textAlign = align;
    ctx.fillText(label, at, y + 4 - (value === pMax ? -6 : 0));
  }
  ctx.textAlign = 'left';
  ctx.fillText(clock(t0), pad.left, height - 4);
  ctx.textAlign = 'right';
  ctx.fillText(clock(points.at(-1).t), pad.left + w, height - 4);
  const line = (field, y, color) => {
    ctx.strokeStyle = color;
    ctx.lineWidth = 2;
    ctx.beginPath();
    let started = false;
    for (const p of points) {
      if (p[field] === null) continue;
      if (started) ctx.lineTo(x(p.t), y(p[field]));
      else ctx.moveTo(x(p.t), y(p[field]));
      started = true;
    }
    ctx.stroke();
  };
  line('util', yU, COLORS.medium);
  line('pnl', yP, COLORS.abook);
}
