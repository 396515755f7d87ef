/**
 * The score curve and the document map, drawn as plain SVG.
 *
 * Why not a charting library: the page plots one sorted curve (tens to a few
 * hundred points) plus three annotations (the Adaptive-k cut, its buffer, the
 * gap search window) and a strip of chunk cells. uPlot or Chart.js would add
 * 50–200 kB and a canvas whose marks the end-to-end test could not inspect;
 * hand-made SVG is ~200 lines, styled by the page's CSS, readable by screen
 * readers (<title> on every mark) and queryable from the DOM.
 */
import type { Citation, LibraryView, RetrieveResult } from './types.js';

const SVG = 'http://www.w3.org/2000/svg';

type Attrs = Record<string, string | number>;

function el<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Attrs = {}, text?: string): SVGElementTagNameMap[K] {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

function titled<T extends SVGElement>(node: T, title: string): T {
  node.appendChild(el('title', {}, title));
  return node;
}

/** Round tick values covering [lo, hi] (Heckbert, "Nice numbers for graph labels", Graphics Gems, 1990). */
export function niceTicks(lo: number, hi: number, count = 4): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const norm = raw / mag;
  const step = (norm < 1.5 ? 1 : norm < 3 ? 2 : norm < 7 ? 5 : 10) * mag;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Number(v.toFixed(10)));
  return out;
}

function fmt(n: number): string {
  const a = Math.abs(n);
  return a !== 0 && (a < 0.01 || a >= 1000) ? n.toExponential(1) : Number(n.toFixed(3)).toString();
}

/**
 * Which part of the curve a point falls in: read above the cut, read after it
 * (the buffer, or its own document's cut), not read; `alike` for a document
 * read because it holds the same terms as the first.
 */
export function band(
  rank: number,
  read: boolean,
  cutIndex: number | null,
  alike = false,
): 'above' | 'buffer' | 'skipped' | 'alike' {
  if (alike) return 'alike';
  if (!read) return 'skipped';
  if (cutIndex === null || rank <= cutIndex) return 'above';
  return 'buffer';
}

/** One sorted score curve, whatever its points are (chunks or documents). */
interface CurveSpec {
  /** Scores, best first, each with its tooltip and the data attributes the page's tests read. */
  points: Array<{ score: number; title: (band: string) => string; attrs: Attrs }>;
  /** Points read: the first k, unless `read` says otherwise. */
  k: number;
  /**
   * Ranks read when they are not the first k: over a whole namespace each
   * document's chunks are cut at their own gap (select.ts selectPerDocument),
   * so the read chunks are not a prefix of the pooled curve. No buffer band or
   * k line is drawn then.
   */
  read?: ReadonlySet<number>;
  /** Ranks read past the first k: documents holding the same question terms (library.picked[].by 'same-terms'). */
  alike?: ReadonlySet<number>;
  /** Rank of the last point above the largest gap; null or -1 for none. */
  cutIndex: number | null;
  /** The ranks whose gaps Adaptive-k searched, [lo, hi). */
  window: readonly [number, number] | null;
  /** Singular and plural names of a point ("chunk", "chunks"). */
  unit: readonly [string, string];
  /** What the score is, for the y axis. */
  scoreName: string | null;
  /** Extra class of the svg (besides `chart`). */
  cls: string;
  /** The chart's text alternative. */
  title: string;
}

/** The ranks in the curve of the chunks read (`selected`). */
function readRanks(r: RetrieveResult): Set<number> {
  const ids = new Set(r.selected.map((c) => c.id));
  return new Set((r.curve ?? []).flatMap((p, i) => (ids.has(p.id) ? [i] : [])));
}

/**
 * Every chunk's score, sorted best first, with the Adaptive-k cut (the largest
 * gap, Taguchi et al., EMNLP 2025) and the buffer read after it.
 */
export function renderCurve(host: HTMLElement, r: RetrieveResult): void {
  const n = r.curve?.length ?? 0;
  const read = readRanks(r);
  const prefix = [...read].every((rank) => rank < r.k);
  drawCurve(host, {
    points: (r.curve ?? []).map((p) => ({
      score: p.score,
      title: (b) => `chunk ${p.order} of ${p.documentId} · score ${fmt(p.score)} · ${b}`,
      attrs: { 'data-order': p.order },
    })),
    k: r.k,
    ...(prefix ? {} : { read }),
    cutIndex: r.cutIndex,
    window: r.adaptiveK?.window ?? null,
    unit: ['chunk', 'chunks'],
    scoreName: r.score ?? null,
    cls: 'curve',
    title: `Score curve: ${n} chunks sorted by similarity; ${r.k} read${prefix ? '' : ", each document's chunks cut at their own largest gap"}`,
  });
}

/**
 * The documents' curve of a whole-namespace question: each document's score
 * (from its best candidate chunks), best first, with the same Adaptive-k cut
 * the chunks get; the picked documents are the ones read.
 */
export function renderLibraryCurve(host: HTMLElement, lib: LibraryView): void {
  const title = new Map(lib.picked.map((d) => [d.id, d.title]));
  const sameTerms = new Set(lib.picked.filter((d) => d.by === 'same-terms').map((d) => d.id));
  const alike = new Set(lib.curve.flatMap((d, i) => (sameTerms.has(d.documentId) ? [i] : [])));
  drawCurve(host, {
    points: lib.curve.map((d) => ({
      score: d.score,
      title: (b) =>
        `${title.get(d.documentId) || d.documentId} · score ${fmt(d.score)} · best chunk ${fmt(d.best)} · ${d.chunks} candidate chunk${d.chunks === 1 ? '' : 's'} · ${b}`,
      attrs: { 'data-document': d.documentId },
    })),
    k: lib.picked.length - sameTerms.size,
    alike,
    cutIndex: lib.cutIndex,
    window: null,
    unit: ['document', 'documents'],
    scoreName: lib.aggregate,
    cls: 'doc-curve',
    title: `Documents' score curve: ${lib.curve.length} documents with matching chunks, sorted by score; ${lib.picked.length} read`,
  });
}

function drawCurve(host: HTMLElement, c: CurveSpec): void {
  host.replaceChildren();
  const curve = c.points;
  const n = curve.length;
  const [one, many] = c.unit;
  // Drawn at the host's pixel width, so text keeps its CSS size at any window width.
  const W = Math.max(360, Math.round(host.clientWidth || 760));
  const H = 290;
  const m = { l: 56, r: 20, t: 30, b: 46 };
  const cut = c.cutIndex !== null && c.cutIndex >= 0 ? c.cutIndex : null;
  const svg = el('svg', {
    viewBox: `0 0 ${W} ${H}`,
    class: `chart ${c.cls}`,
    role: 'img',
    'data-points': n,
    'data-k': c.k,
    'data-cut': cut ?? -1,
  });
  titled(svg, c.title);
  host.appendChild(svg);
  if (n === 0) {
    svg.appendChild(
      el('text', { x: W / 2, y: H / 2, class: 'empty', 'text-anchor': 'middle' }, `No ${many} were scored.`),
    );
    return;
  }
  const scores = curve.map((p) => p.score);
  let hi = Math.max(...scores);
  let lo = Math.min(...scores);
  if (hi === lo) {
    hi += 0.5;
    lo -= 0.5;
  }
  const pad = (hi - lo) * 0.06;
  hi += pad;
  lo -= pad;
  const pw = W - m.l - m.r;
  const ph = H - m.t - m.b;
  const x = (i: number) => m.l + (n === 1 ? pw / 2 : (i / (n - 1)) * pw);
  const y = (s: number) => m.t + ((hi - s) / (hi - lo)) * ph;
  const step = n === 1 ? pw : pw / (n - 1);

  const axes = el('g', { class: 'axes' });
  for (const t of niceTicks(lo, hi)) {
    axes.appendChild(el('line', { x1: m.l, x2: W - m.r, y1: y(t), y2: y(t), class: 'grid' }));
    axes.appendChild(el('text', { x: m.l - 8, y: y(t) + 4, 'text-anchor': 'end' }, fmt(t)));
  }
  for (const t of niceTicks(1, n, Math.min(8, n - 1 || 1)).filter((v) => Number.isInteger(v) && v >= 1 && v <= n)) {
    axes.appendChild(el('text', { x: x(t - 1), y: H - m.b + 18, 'text-anchor': 'middle' }, String(t)));
  }
  axes.appendChild(el('line', { x1: m.l, x2: W - m.r, y1: H - m.b, y2: H - m.b, class: 'axis' }));
  axes.appendChild(
    el(
      'text',
      { x: m.l + pw / 2, y: H - 8, 'text-anchor': 'middle', class: 'axis-label' },
      `rank (${many} sorted by score, best first)`,
    ),
  );
  axes.appendChild(
    el(
      'text',
      {
        x: 14,
        y: m.t + ph / 2,
        'text-anchor': 'middle',
        class: 'axis-label',
        transform: `rotate(-90 14 ${m.t + ph / 2})`,
      },
      `score${c.scoreName ? ` (${c.scoreName})` : ''}`,
    ),
  );
  svg.appendChild(axes);

  const win = c.window;
  if (win && win[1] > win[0]) {
    // The gaps Adaptive-k searched: between ranks lo..hi (the b tail is skipped).
    const wx1 = x(win[0]);
    const wx2 = x(Math.min(n - 1, win[1]));
    svg.appendChild(
      titled(
        el('rect', { x: wx1, y: H - m.b + 1, width: Math.max(1, wx2 - wx1), height: 4, class: 'window' }),
        `Gap search window: gaps ${win[0]}–${win[1] - 1}`,
      ),
    );
  }
  if (!c.read && cut !== null && c.k > cut + 1) {
    const bx1 = x(cut) + step / 2;
    const bx2 = Math.min(W - m.r, x(c.k - 1) + step / 2);
    const extra = c.k - cut - 1;
    svg.appendChild(
      titled(
        el('rect', { x: bx1, y: m.t, width: Math.max(1, bx2 - bx1), height: ph, class: 'buffer-band' }),
        `Buffer: ${extra} ${extra === 1 ? one : many} read after the cut`,
      ),
    );
    svg.appendChild(
      el(
        'text',
        { x: (bx1 + bx2) / 2, y: m.t + 14, 'text-anchor': 'middle', class: 'buffer-label' },
        `buffer +${extra}`,
      ),
    );
  }

  const line = curve.map((p, i) => `${x(i).toFixed(1)},${y(p.score).toFixed(1)}`).join(' ');
  svg.appendChild(el('polyline', { points: line, class: 'curve-line' }));

  const dots = el('g', { class: 'points' });
  const radius = n > 300 ? 1.6 : n > 80 ? 2.6 : 3.6;
  curve.forEach((p, i) => {
    const b = band(i, c.read ? c.read.has(i) : i < c.k, cut, c.alike?.has(i));
    const what =
      b === 'skipped'
        ? 'not read'
        : b === 'buffer'
          ? c.read
            ? "read (after the pooled cut, within its document's own)"
            : 'read (buffer)'
          : b === 'alike'
            ? 'read (holds the same terms)'
            : 'read';
    dots.appendChild(
      titled(
        el('circle', { cx: x(i), cy: y(p.score), r: radius, class: `pt ${b}`, 'data-rank': i, ...p.attrs }),
        `#${i + 1} · ${p.title(what)}`,
      ),
    );
  });
  svg.appendChild(dots);

  if (cut !== null && cut < n - 1) {
    const cx = x(cut) + step / 2;
    const g = el('g', { class: 'cut-marker', 'data-cut': cut });
    g.appendChild(el('line', { x1: cx, x2: cx, y1: m.t - 6, y2: H - m.b, class: 'cut' }));
    g.appendChild(
      titled(
        el('line', { x1: cx, x2: cx, y1: y(curve[cut]!.score), y2: y(curve[cut + 1]!.score), class: 'gap' }),
        `Largest gap: ${fmt(curve[cut]!.score - curve[cut + 1]!.score)}`,
      ),
    );
    const anchor = cx > W - 160 ? 'end' : 'start';
    g.appendChild(
      el(
        'text',
        { x: cx + (anchor === 'start' ? 6 : -6), y: m.t - 10, 'text-anchor': anchor, class: 'cut-label' },
        `cut after #${cut + 1} (largest gap)`,
      ),
    );
    svg.appendChild(g);
  }
  if (!c.read && c.k > 0 && c.k < n && (cut === null || c.k > cut + 1)) {
    const kx = x(c.k - 1) + step / 2;
    svg.appendChild(el('line', { x1: kx, x2: kx, y1: m.t, y2: H - m.b, class: 'k-line' }));
  }
}

/**
 * Where the read chunks sit in each document: one cell per chunk in document
 * order, shaded by score, the read ones coloured as in the curve; the
 * answer's citations are marked above by character position.
 */
export function renderDocMap(host: HTMLElement, r: RetrieveResult, citations: Citation[] = []): void {
  host.replaceChildren();
  const curve = r.curve ?? [];
  const rank = new Map<string, { rank: number; score: number }>();
  for (const [i, p] of curve.entries()) rank.set(`${p.documentId}\u0000${p.order}`, { rank: i, score: p.score });
  const read = readRanks(r);
  const best = new Map<string, number>();
  for (const p of curve) if (!best.has(p.documentId)) best.set(p.documentId, p.score);
  // Most relevant documents first; a namespace-wide question may span many.
  const docs = [...r.scope.documents]
    .sort((a, b) => (best.get(b.id) ?? -Infinity) - (best.get(a.id) ?? -Infinity))
    .slice(0, 8);
  const hidden = r.scope.documents.length - docs.length;
  const scores = curve.map((p) => p.score);
  const hi = scores.length ? Math.max(...scores) : 1;
  const lo = scores.length ? Math.min(...scores) : 0;

  const W = Math.max(360, Math.round(host.clientWidth || 760));
  const rowH = 54;
  const m = { l: 190, r: 20, t: 8 };
  const H = m.t + docs.length * rowH + (hidden > 0 ? 18 : 4);
  const svg = el('svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart docmap', role: 'img' });
  titled(svg, 'Document map: where the read chunks sit in each document');
  host.appendChild(svg);
  const bw = W - m.l - m.r;

  docs.forEach((d, row) => {
    const top = m.t + row * rowH + 14;
    const g = el('g', { class: 'doc-row', 'data-document': d.id });
    const label = d.title.length > 26 ? `${d.title.slice(0, 25)}…` : d.title;
    g.appendChild(
      titled(
        el('text', { x: m.l - 10, y: top + 13, 'text-anchor': 'end', class: 'doc-title' }, label || d.id),
        `${d.title} (${d.id})`,
      ),
    );
    g.appendChild(
      el(
        'text',
        { x: m.l - 10, y: top + 27, 'text-anchor': 'end', class: 'doc-sub' },
        `${d.chunkCount} chunks · ${d.tokens} tok`,
      ),
    );
    const count = Math.max(1, d.chunkCount);
    const cw = bw / count;
    g.appendChild(el('rect', { x: m.l, y: top, width: bw, height: 20, class: 'doc-bar' }));
    for (let order = 0; order < d.chunkCount; order++) {
      const hit = rank.get(`${d.id}\u0000${order}`);
      const b = hit ? band(hit.rank, read.has(hit.rank), r.cutIndex) : 'none';
      const cell = el('rect', {
        x: m.l + order * cw,
        y: top,
        width: Math.max(0.6, cw - (cw > 3 ? 1 : 0)),
        height: 20,
        class: `cell ${b}`,
        'data-order': order,
      });
      if (hit && b === 'skipped')
        cell.setAttribute('fill-opacity', (0.15 + 0.75 * ((hit.score - lo) / (hi - lo || 1))).toFixed(2));
      g.appendChild(
        titled(
          cell,
          hit
            ? `chunk ${order} · rank #${hit.rank + 1} · score ${fmt(hit.score)}${b === 'skipped' ? '' : ' · read'}`
            : `chunk ${order} · not scored`,
        ),
      );
    }
    for (const c of citations.filter((c) => c.documentId === d.id)) {
      const cx = m.l + (d.chars > 0 ? (c.start / d.chars) * bw : 0);
      g.appendChild(
        titled(
          el('path', { d: `M${cx - 5},${top - 9} L${cx + 5},${top - 9} L${cx},${top - 1} Z`, class: 'citation' }),
          `cited: “${c.text.slice(0, 120)}”`,
        ),
      );
    }
    g.appendChild(el('text', { x: m.l, y: top + 33, class: 'doc-sub' }, 'start'));
    g.appendChild(el('text', { x: W - m.r, y: top + 33, 'text-anchor': 'end', class: 'doc-sub' }, 'end'));
    svg.appendChild(g);
  });
  if (hidden > 0)
    svg.appendChild(el('text', { x: m.l, y: H - 4, class: 'doc-sub' }, `+ ${hidden} more documents in scope`));
}
