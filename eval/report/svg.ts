/**
 * Small inline SVG charts for the self-contained report: no scripts, no
 * external resources, readable when the file is opened from disk or mailed.
 * Every chart is an <svg> with `data-chart` naming what it shows.
 */

export function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** Colour-blind-safe palette (Okabe–Ito). */
export const PALETTE = ['#0072B2', '#E69F00', '#009E73', '#D55E00', '#CC79A7', '#56B4E9', '#F0E442', '#000000'];

const W = 420;
const H = 280;
const MARGIN = { left: 52, right: 16, top: 30, bottom: 42 };
const M = MARGIN;

function fmtTick(v: number): string {
  if (Math.abs(v) >= 1000) return `${+(v / 1000).toFixed(v >= 10_000 ? 0 : 1)}k`;
  if (Math.abs(v) < 1 && v !== 0) return v.toFixed(2);
  return String(+v.toFixed(1));
}

function logTicks(lo: number, hi: number): number[] {
  const out: number[] = [];
  for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) {
    for (const m of [1, 3]) {
      const v = m * 10 ** e;
      if (v >= lo * 0.999 && v <= hi * 1.001) out.push(v);
    }
  }
  return out.length >= 2 ? out : [lo, hi];
}

function linTicks(lo: number, hi: number, n = 5): number[] {
  const step = (hi - lo) / (n - 1);
  return Array.from({ length: n }, (_, i) => lo + i * step);
}

export interface ScatterSeries {
  name: string;
  color: string;
  points: Array<{ x: number; y: number; label?: string }>;
}

export interface ScatterOptions {
  id: string;
  title: string;
  xLabel: string;
  yLabel: string;
  /** Log scale on x (tokens read span three orders of magnitude). */
  xLog?: boolean;
  /** y range; default [0, 1]. */
  yRange?: [number, number];
  series: ScatterSeries[];
  /** Join each series' points with a line (in the order given). */
  connect?: boolean;
}

/** A scatter plot with a legend; points carry <title> tooltips. */
export function scatterChart(o: ScatterOptions): string {
  // The legend sits right of the plot, where it hides no point.
  const M = { ...MARGIN, right: 96 };
  const W = 480;
  const pts = o.series
    .flatMap((s) => s.points)
    .filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y) && (!o.xLog || p.x > 0));
  const xs = pts.map((p) => p.x);
  let x0 = xs.length ? Math.min(...xs) : 1;
  let x1 = xs.length ? Math.max(...xs) : 10;
  if (o.xLog) {
    x0 = 10 ** Math.floor(Math.log10(Math.max(x0, 1e-9)));
    x1 = 10 ** Math.ceil(Math.log10(Math.max(x1, x0 * 10)));
  } else if (x1 === x0) {
    x1 = x0 + 1;
  }
  const [y0, y1] = o.yRange ?? [0, 1];
  const pw = W - M.left - M.right;
  const ph = H - M.top - M.bottom;
  const sx = (x: number) =>
    M.left +
    (o.xLog ? (Math.log10(x) - Math.log10(x0)) / (Math.log10(x1) - Math.log10(x0)) : (x - x0) / (x1 - x0)) * pw;
  const sy = (y: number) => M.top + (1 - (y - y0) / (y1 - y0)) * ph;
  const parts: string[] = [];
  parts.push(`<text x="${W / 2}" y="16" text-anchor="middle" class="ct">${esc(o.title)}</text>`);
  for (const t of o.xLog ? logTicks(x0, x1) : linTicks(x0, x1)) {
    parts.push(
      `<line x1="${sx(t).toFixed(1)}" x2="${sx(t).toFixed(1)}" y1="${M.top}" y2="${M.top + ph}" class="grid"/>`,
    );
    parts.push(
      `<text x="${sx(t).toFixed(1)}" y="${M.top + ph + 14}" text-anchor="middle" class="tick">${fmtTick(t)}</text>`,
    );
  }
  for (const t of linTicks(y0, y1)) {
    parts.push(
      `<line x1="${M.left}" x2="${M.left + pw}" y1="${sy(t).toFixed(1)}" y2="${sy(t).toFixed(1)}" class="grid"/>`,
    );
    parts.push(
      `<text x="${M.left - 6}" y="${(sy(t) + 4).toFixed(1)}" text-anchor="end" class="tick">${fmtTick(t)}</text>`,
    );
  }
  parts.push(`<rect x="${M.left}" y="${M.top}" width="${pw}" height="${ph}" class="frame"/>`);
  parts.push(`<text x="${M.left + pw / 2}" y="${H - 8}" text-anchor="middle" class="axis">${esc(o.xLabel)}</text>`);
  parts.push(
    `<text x="12" y="${M.top + ph / 2}" text-anchor="middle" class="axis" transform="rotate(-90 12 ${M.top + ph / 2})">${esc(o.yLabel)}</text>`,
  );
  o.series.forEach((s, i) => {
    const ok = s.points.filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y) && (!o.xLog || p.x > 0));
    if (o.connect && ok.length > 1) {
      parts.push(
        `<polyline fill="none" stroke="${s.color}" stroke-width="1.2" stroke-opacity="0.6" points="${ok.map((p) => `${sx(p.x).toFixed(1)},${sy(p.y).toFixed(1)}`).join(' ')}"/>`,
      );
    }
    // Later series are drawn smaller, so points that coincide show as nested rings.
    const r = Math.max(2.5, 8 - 1.2 * i);
    for (const p of ok) {
      parts.push(
        `<circle cx="${sx(p.x).toFixed(1)}" cy="${sy(p.y).toFixed(1)}" r="${r.toFixed(1)}" fill="${s.color}" stroke="#fff" stroke-width="1" data-series="${esc(s.name)}"><title>${esc(`${s.name}${p.label ? ` (${p.label})` : ''}: ${fmtTick(p.x)} tokens, ${(p.y * 100).toFixed(1)}%`)}</title></circle>`,
      );
    }
    const ly = M.top + 6 + i * 14;
    parts.push(
      `<circle cx="${M.left + pw + 12}" cy="${ly}" r="4" fill="${s.color}"/><text x="${M.left + pw + 20}" y="${ly + 4}" class="legend">${esc(s.name)}</text>`,
    );
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" data-chart="${esc(o.id)}" role="img" aria-label="${esc(o.title)}">${parts.join('')}</svg>`;
}

export interface CurveOptions {
  id: string;
  title: string;
  /** Scores, best first. */
  scores: readonly number[];
  /** Adaptive-k's cut: the index of the largest gap (chunks 0..cut stand above it). */
  cutIndex: number | null;
  /** Chunks read (cut + buffer). */
  k: number;
}

/** A sorted score curve with the Adaptive-k cut and the k read marked. */
export function curveChart(o: CurveOptions): string {
  const n = o.scores.length;
  const lo = n ? Math.min(...o.scores) : 0;
  const hi = n ? Math.max(...o.scores) : 1;
  const y0 = lo;
  const y1 = hi > lo ? hi : lo + 1;
  const pw = W - M.left - M.right;
  const ph = H - M.top - M.bottom;
  const sx = (i: number) => M.left + (n > 1 ? i / (n - 1) : 0.5) * pw;
  const sy = (y: number) => M.top + (1 - (y - y0) / (y1 - y0)) * ph;
  const parts: string[] = [`<text x="${W / 2}" y="16" text-anchor="middle" class="ct">${esc(o.title)}</text>`];
  for (const t of linTicks(y0, y1)) {
    parts.push(
      `<line x1="${M.left}" x2="${M.left + pw}" y1="${sy(t).toFixed(1)}" y2="${sy(t).toFixed(1)}" class="grid"/>`,
    );
    parts.push(
      `<text x="${M.left - 6}" y="${(sy(t) + 4).toFixed(1)}" text-anchor="end" class="tick">${fmtTick(t)}</text>`,
    );
  }
  parts.push(`<rect x="${M.left}" y="${M.top}" width="${pw}" height="${ph}" class="frame"/>`);
  if (o.k > 0 && n > 0) {
    const kx = sx(Math.min(n - 1, o.k - 1) + 0.5 * (n > 1 ? 1 : 0));
    parts.push(
      `<rect x="${M.left}" y="${M.top}" width="${Math.max(0, kx - M.left).toFixed(1)}" height="${ph}" class="readzone"><title>${o.k} chunks read</title></rect>`,
    );
  }
  parts.push(
    `<polyline fill="none" stroke="${PALETTE[0]}" stroke-width="1.5" points="${o.scores.map((s, i) => `${sx(i).toFixed(1)},${sy(s).toFixed(1)}`).join(' ')}"/>`,
  );
  if (o.cutIndex !== null && n > 1) {
    const cx = (sx(o.cutIndex) + sx(Math.min(n - 1, o.cutIndex + 1))) / 2;
    parts.push(
      `<line x1="${cx.toFixed(1)}" x2="${cx.toFixed(1)}" y1="${M.top}" y2="${M.top + ph}" class="cut" data-cut="${o.cutIndex}"><title>Adaptive-k cut after rank ${o.cutIndex + 1}</title></line>`,
    );
  }
  parts.push(
    `<text x="${M.left + pw / 2}" y="${H - 8}" text-anchor="middle" class="axis">chunk rank (${n} chunks; shaded: ${o.k} read)</text>`,
  );
  parts.push(
    `<text x="12" y="${M.top + ph / 2}" text-anchor="middle" class="axis" transform="rotate(-90 12 ${M.top + ph / 2})">score</text>`,
  );
  return `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" data-chart="${esc(o.id)}" role="img" aria-label="${esc(o.title)}">${parts.join('')}</svg>`;
}

export interface BarGroup {
  label: string;
  values: Array<{ name: string; value: number }>;
}

/** Grouped vertical bars on a 0–1 scale. */
export function barChart(o: { id: string; title: string; yLabel: string; groups: BarGroup[] }): string {
  const names = [...new Set(o.groups.flatMap((g) => g.values.map((v) => v.name)))];
  const pw = W - M.left - M.right;
  const ph = H - M.top - M.bottom;
  const gw = pw / Math.max(1, o.groups.length);
  const bw = (gw * 0.8) / Math.max(1, names.length);
  const sy = (y: number) => M.top + (1 - y) * ph;
  const parts: string[] = [`<text x="${W / 2}" y="16" text-anchor="middle" class="ct">${esc(o.title)}</text>`];
  for (const t of linTicks(0, 1)) {
    parts.push(
      `<line x1="${M.left}" x2="${M.left + pw}" y1="${sy(t).toFixed(1)}" y2="${sy(t).toFixed(1)}" class="grid"/>`,
    );
    parts.push(
      `<text x="${M.left - 6}" y="${(sy(t) + 4).toFixed(1)}" text-anchor="end" class="tick">${fmtTick(t)}</text>`,
    );
  }
  o.groups.forEach((g, gi) => {
    g.values.forEach((v) => {
      if (!Number.isFinite(v.value)) return;
      const ni = names.indexOf(v.name);
      const x = M.left + gi * gw + gw * 0.1 + ni * bw;
      parts.push(
        `<rect x="${x.toFixed(1)}" y="${sy(v.value).toFixed(1)}" width="${(bw - 1).toFixed(1)}" height="${(ph * v.value).toFixed(1)}" fill="${PALETTE[ni % PALETTE.length]}"><title>${esc(`${g.label} · ${v.name}: ${(v.value * 100).toFixed(1)}%`)}</title></rect>`,
      );
    });
    parts.push(
      `<text x="${(M.left + gi * gw + gw / 2).toFixed(1)}" y="${M.top + ph + 14}" text-anchor="middle" class="tick">${esc(g.label)}</text>`,
    );
  });
  // Each legend entry as wide as its label (10px text, ~5.5px a character), so five fit in the plot's width.
  let lx = M.left + 6;
  names.forEach((n, i) => {
    parts.push(
      `<rect x="${lx.toFixed(1)}" y="${M.top + 4}" width="9" height="9" fill="${PALETTE[i % PALETTE.length]}"/><text x="${(lx + 12).toFixed(1)}" y="${M.top + 12}" class="legend">${esc(n)}</text>`,
    );
    lx += 12 + 5.5 * n.length + 10;
  });
  parts.push(`<rect x="${M.left}" y="${M.top}" width="${pw}" height="${ph}" class="frame"/>`);
  parts.push(
    `<text x="12" y="${M.top + ph / 2}" text-anchor="middle" class="axis" transform="rotate(-90 12 ${M.top + ph / 2})">${esc(o.yLabel)}</text>`,
  );
  return `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" data-chart="${esc(o.id)}" role="img" aria-label="${esc(o.title)}">${parts.join('')}</svg>`;
}
