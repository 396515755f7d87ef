import { Api, ApiError, loadApiKey, saveApiKey, streamError } from './api.js';
import { renderCurve, renderDocMap, renderLibraryCurve } from './charts.js';
import type {
  AnswerResult,
  Citation,
  Decision,
  DocumentView,
  JobView,
  LibraryView,
  ProgressEvent,
  RetrieveResult,
  StrategyEstimate,
  Submitted,
} from './types.js';

const $ = <T extends HTMLElement = HTMLElement>(id: string): T => {
  const node = document.getElementById(id);
  if (!node) throw new Error(`#${id} is missing from the page`);
  return node as T;
};

const keyInput = $<HTMLInputElement>('api-key');
keyInput.value = loadApiKey();
const api = new Api(() => keyInput.value.trim());

const selected = new Set<string>();
let lastRetrieve: RetrieveResult | null = null;
/** The router's account of the documents a whole-namespace question read (its decision). */
let lastDecisionDocs: Decision['documents'] = null;
let lastCitations: Citation[] = [];
let askRun: AbortController | null = null;
let ingestRun = 0;

function errorText(err: unknown): string {
  if (err instanceof ApiError)
    return `${err.message}${err.code && !err.code.startsWith('HTTP_') ? ` (${err.code})` : ''}`;
  return err instanceof Error ? err.message : String(err);
}

function show(node: HTMLElement, on: boolean): void {
  node.hidden = !on;
}

function fmtInt(n: number | undefined): string {
  return n === undefined || !Number.isFinite(n) ? '–' : Math.round(n).toLocaleString('en-US');
}

function fmtMs(ms: number | undefined): string {
  if (ms === undefined || !Number.isFinite(ms)) return '–';
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(2)} s`;
}

function fmtValue(v: unknown): string {
  if (typeof v === 'number') return Number.isInteger(v) ? fmtInt(v) : Number(v.toFixed(3)).toString();
  if (v === null || v === undefined) return '–';
  if (typeof v === 'object') {
    return Object.entries(v as Record<string, unknown>)
      .map(([k, x]) => `${k} ${fmtValue(x)}`)
      .join(', ');
  }
  return String(v);
}

function fillKv(dl: HTMLElement, entries: Array<[string, string]>): void {
  dl.replaceChildren();
  for (const [k, v] of entries) {
    // <div> groups inside <dl> are valid HTML and let each pair be one grid cell.
    const pair = document.createElement('div');
    const dt = document.createElement('dt');
    dt.textContent = k;
    const dd = document.createElement('dd');
    dd.textContent = v;
    pair.append(dt, dd);
    dl.appendChild(pair);
  }
}

/** `{kind: 'adaptive-k', a: 0, b: 0.1, buffer: 5}` → `adaptive-k (a 0, b 0.1, buffer 5)`. */
function describeMethod(m: unknown): string {
  if (typeof m === 'string') return m;
  if (m && typeof m === 'object') {
    const { kind, ...params } = m as { kind?: string } & Record<string, unknown>;
    const ps = Object.entries(params).map(([k, v]) => `${k} ${fmtValue(v)}`);
    return `${kind ?? 'selection'}${ps.length ? ` (${ps.join(', ')})` : ''}`;
  }
  return 'adaptive-k';
}

// ---------------------------------------------------------------- API key

keyInput.addEventListener('change', () => {
  saveApiKey(keyInput.value.trim());
  void refreshDocuments();
});

// ---------------------------------------------------------------- documents

const tabPaste = $<HTMLButtonElement>('tab-paste');
const tabUpload = $<HTMLButtonElement>('tab-upload');
function selectTab(upload: boolean): void {
  tabPaste.setAttribute('aria-selected', String(!upload));
  tabUpload.setAttribute('aria-selected', String(upload));
  show($('paste-pane'), !upload);
  show($('upload-pane'), upload);
}
tabPaste.addEventListener('click', () => selectTab(false));
tabUpload.addEventListener('click', () => selectTab(true));

async function refreshDocuments(): Promise<void> {
  const list = $('doc-list');
  let items: DocumentView[];
  try {
    items = (await api.json<{ items: DocumentView[] }>('GET', '/v1/documents?limit=200')).items;
  } catch (err) {
    const li = document.createElement('li');
    li.className = 'error-text';
    li.textContent =
      err instanceof ApiError && err.status === 401 ? 'Enter an API key above to see your documents.' : errorText(err);
    list.replaceChildren(li);
    return;
  }
  for (const id of [...selected]) if (!items.some((d) => d.id === id)) selected.delete(id);
  list.replaceChildren();
  if (items.length === 0) {
    const li = document.createElement('li');
    li.className = 'muted';
    li.textContent = 'No documents yet: paste or upload one.';
    list.appendChild(li);
    return;
  }
  for (const d of [...items].reverse()) {
    const li = document.createElement('li');
    const label = document.createElement('label');
    const box = document.createElement('input');
    box.type = 'checkbox';
    box.checked = selected.has(d.id);
    box.dataset.id = d.id;
    box.addEventListener('change', () => {
      if (box.checked) selected.add(d.id);
      else selected.delete(d.id);
    });
    const title = document.createElement('span');
    title.className = 'doc-name';
    title.textContent = d.title || d.id;
    title.title = d.id;
    const status = document.createElement('span');
    status.className = `pill ${d.status}`;
    status.textContent = d.status;
    const size = document.createElement('span');
    size.className = 'muted small';
    size.textContent = `${fmtInt(d.tokens)} tok · ${fmtInt(d.chunkCount)} chunks`;
    label.append(box, title, status, size);
    li.appendChild(label);
    list.appendChild(li);
  }
}

function setIngest(state: 'idle' | 'running' | 'ready' | 'failed', text: string, progress?: number): void {
  const box = $('ingest-status');
  box.dataset.state = state;
  $('ingest-text').textContent = text;
  const bar = box.querySelector<HTMLElement>('.progress');
  if (bar) {
    show(bar, progress !== undefined);
    const fill = bar.querySelector<HTMLElement>('.bar');
    if (fill && progress !== undefined) fill.style.width = `${Math.max(0, Math.min(100, progress))}%`;
  }
}

async function pollJob(jobId: string, run: number): Promise<void> {
  for (;;) {
    const job = await api.json<JobView>('GET', `/v1/jobs/${encodeURIComponent(jobId)}`);
    if (run !== ingestRun) return;
    if (job.state === 'completed') {
      setIngest('running', 'Indexed: reading the document back…', 100);
      return;
    }
    if (job.state === 'failed')
      throw new ApiError(job.error?.message ?? 'Ingestion failed', job.error?.code ?? 'INGEST_FAILED', 0);
    const label =
      job.state === 'active' ? 'Chunking and embedding' : job.state === 'delayed' ? 'Retrying soon' : 'Queued';
    setIngest('running', `${label}… ${Math.round(job.progress)}%`, job.progress);
    await new Promise((r) => setTimeout(r, 300));
  }
}

$('ingest-form').addEventListener('submit', (e) => {
  e.preventDefault();
  void ingest();
});

async function ingest(): Promise<void> {
  const run = ++ingestRun;
  const title = $<HTMLInputElement>('doc-title').value.trim();
  const upload = tabUpload.getAttribute('aria-selected') === 'true';
  const button = $<HTMLButtonElement>('ingest-btn');
  try {
    let submitted: Submitted;
    if (upload) {
      const file = $<HTMLInputElement>('doc-file').files?.[0];
      if (!file) return setIngest('failed', 'Choose a .txt, .md or .html file first.');
      const form = new FormData();
      if (title) form.append('title', title);
      form.append('file', file, file.name);
      button.disabled = true;
      setIngest('running', `Uploading ${file.name}…`, 0);
      submitted = await api.json<Submitted>('POST', '/v1/documents', { form });
    } else {
      const text = $<HTMLTextAreaElement>('doc-text').value;
      if (text.trim() === '') return setIngest('failed', 'Paste some text first.');
      button.disabled = true;
      setIngest('running', 'Sending…', 0);
      submitted = await api.json<Submitted>('POST', '/v1/documents', { json: { ...(title ? { title } : {}), text } });
    }
    if (!(submitted.unchanged && submitted.document.status === 'ready')) await pollJob(submitted.jobId, run);
    if (run !== ingestRun) return;
    const doc = await api.json<DocumentView>('GET', `/v1/documents/${encodeURIComponent(submitted.document.id)}`);
    if (doc.status === 'failed')
      throw new ApiError(doc.error?.message ?? 'Ingestion failed', doc.error?.code ?? 'INGEST_FAILED', 0);
    selected.clear();
    selected.add(doc.id);
    const again = submitted.unchanged ? ' (already stored: nothing new to do)' : '';
    setIngest(
      'ready',
      `Ready${again}: “${doc.title || doc.id}”, ${fmtInt(doc.chunkCount)} chunks, ${fmtInt(doc.tokens)} tokens, ${fmtInt(doc.chars)} characters.`,
      100,
    );
    $('ingest-status').dataset.documentId = doc.id;
    await refreshDocuments();
    $<HTMLInputElement>('question').focus();
  } catch (err) {
    if (run === ingestRun) setIngest('failed', errorText(err));
  } finally {
    if (run === ingestRun) button.disabled = false;
  }
}

// ---------------------------------------------------------------- asking

function notice(text: string): void {
  const n = $('notice');
  const p = document.createElement('p');
  p.textContent = text;
  n.appendChild(p);
  show(n, true);
}

function askError(text: string | null): void {
  const e = $('ask-error');
  e.textContent = text ?? '';
  show(e, text !== null);
}

function scopeBody(question: string): { question: string; documentIds?: string[] } {
  return selected.size > 0 ? { question, documentIds: [...selected] } : { question };
}

function resetResult(): void {
  $('notice').replaceChildren();
  show($('notice'), false);
  askError(null);
  show($('result'), true);
  const badge = $('strategy-badge');
  badge.textContent = '…';
  badge.className = 'badge';
  delete badge.dataset.strategy;
  $('stage').textContent = '';
  $('reasons').replaceChildren();
  $('signals').replaceChildren();
  $('cues').replaceChildren();
  show($('estimates'), false);
  const answer = $('answer');
  answer.textContent = '';
  answer.dataset.state = 'streaming';
  answer.classList.add('cursor');
  $('metrics').replaceChildren();
  $('coa-notes').replaceChildren();
  show($('coa'), false);
  $('citations').replaceChildren();
  show($('citations-box'), false);
  show($('curve-note'), false);
  lastCitations = [];
  lastRetrieve = null;
  lastDecisionDocs = null;
  showLibrary();
}

function showStrategy(strategy: string, how: string): void {
  const b = $('strategy-badge');
  b.textContent = strategy;
  b.className = `badge s-${strategy}`;
  b.title = how;
  b.dataset.strategy = strategy;
}

/** The router's signals worth a glance; the rest stay in the JSON. */
const SIGNALS: Array<[string, string]> = [
  ['k', 'k (chunks read)'],
  ['candidates', 'chunks scored'],
  ['relativeGap', 'relative gap'],
  ['flat', 'flat curve'],
  ['selectedShare', 'share of the text read'],
  ['spread', 'spread of the chunks'],
  ['documentTokens', 'document tokens'],
  ['window', 'model window'],
  ['llm', 'reader'],
];

function isEstimate(v: unknown): v is StrategyEstimate {
  return typeof v === 'object' && v !== null && 'promptTokens' in v && 'calls' in v;
}

function showEstimates(d: Decision): void {
  const table = $<HTMLTableElement>('estimates');
  const body = table.tBodies[0]!;
  body.replaceChildren();
  for (const [name, est] of Object.entries(d.estimates ?? {})) {
    if (!isEstimate(est)) continue;
    const tr = document.createElement('tr');
    if (name === d.strategy) tr.className = 'chosen';
    const why = !est.feasible
      ? (est.reason ?? 'not feasible')
      : est.excludedBy
        ? `over the ${est.excludedBy} budget`
        : name === d.strategy
          ? 'chosen'
          : '';
    tr.append(
      cell(name + (est.segments ? ` (${est.segments} segment${est.segments === 1 ? '' : 's'})` : ''), 'strat'),
      cell(fmtInt(est.promptTokens), 'num'),
      cell(fmtInt(est.calls), 'num'),
      cell(fmtMs(est.latencyMs), 'num'),
      cell(why, est.feasible && !est.excludedBy ? 'muted' : 'error-text'),
    );
    body.appendChild(tr);
  }
  show(table, body.childElementCount > 0);
}

function showDecision(d: Decision): void {
  showStrategy(
    d.strategy,
    d.requested && d.requested !== 'auto' ? `forced by the request (${d.requested})` : 'chosen by the router',
  );
  const ul = $('reasons');
  ul.replaceChildren();
  for (const r of d.reasons ?? []) {
    const li = document.createElement('li');
    li.textContent = r;
    ul.appendChild(li);
  }
  const cues = $('cues');
  cues.replaceChildren();
  for (const c of d.cues ?? []) {
    const chip = document.createElement('span');
    chip.className = 'chip';
    chip.textContent = `${c.name}: “${c.match}”`;
    cues.appendChild(chip);
  }
  const signals: Record<string, unknown> = d.signals ?? {};
  fillKv(
    $('signals'),
    SIGNALS.filter(([k]) => signals[k] !== undefined).map(([k, label]) => [label, fmtValue(signals[k])]),
  );
  showEstimates(d);
  lastDecisionDocs = d.documents ?? null;
  showLibrary();
  if (d.escalated) {
    const by = d.selfRoute?.active ? 'Self-Route' : 'Retrieval probe';
    notice(
      `${by}: the ${d.escalated.from} answer was not kept, so the question was read again by ${d.escalated.to} (${d.escalated.reason}).`,
    );
  } else if (d.probe?.verdict?.keep) {
    notice(
      `Retrieval probe: the retrieval answer was kept (${d.probe.verdict.why === 'declined' ? 'it says the text does not hold what was asked' : `${d.probe.verdict.answerTokens} tokens, at most ${d.probe.maxAnswerTokens}`}).`,
    );
  }
}

/** One worker's note; `done` counts segments read so far (1-based, as the chain reports it). */
function addNote(done: number | undefined, total: number | undefined, note: string): void {
  show($('coa'), true);
  const li = document.createElement('li');
  const head = document.createElement('span');
  head.className = 'seg';
  head.textContent = done !== undefined ? `segment ${done}${total ? ` of ${total}` : ''}` : 'note';
  const body = document.createElement('span');
  body.textContent = note;
  li.append(head, body);
  $('coa-notes').appendChild(li);
}

function showProgress(p: ProgressEvent): void {
  const stage = $('stage');
  switch (p.stage) {
    case 'retrieve':
      stage.textContent = 'retrieving…';
      break;
    case 'read':
      stage.textContent = p.total ? `reading ${p.total} segment${p.total === 1 ? '' : 's'}…` : 'reading…';
      break;
    case 'segment':
      stage.textContent = `${p.index ?? '?'}${p.total ? ` of ${p.total}` : ''} segments read…`;
      if (p.note !== undefined) addNote(p.index, p.total, p.note);
      break;
    case 'manager':
      stage.textContent = 'the manager is writing the answer…';
      break;
    default:
      stage.textContent = `${p.stage}…`;
  }
}

/** What the result panel shows: an answer, or (retrievalOnly) the passages as one. */
type ShownResult = Omit<Partial<AnswerResult>, 'strategy'> & { answer: string; strategy: string };

function showResult(r: ShownResult, wallMs: number): void {
  if (r.decision) showDecision(r.decision);
  else if (!$('strategy-badge').dataset.strategy) showStrategy(r.strategy, 'fixed by the request');
  const answer = $('answer');
  answer.textContent = r.answer;
  answer.dataset.state = 'done';
  answer.classList.remove('cursor');
  $('stage').textContent = r.extractive ? 'extractive reader: the answer quotes the document (no generative LLM)' : '';
  const t = r.totals;
  const share =
    r.contextTokens !== undefined && r.fullContextTokens
      ? ` (${Math.round((100 * r.contextTokens) / r.fullContextTokens)}%)`
      : '';
  fillKv($('metrics'), [
    ['tokens read', fmtInt(t?.promptTokens)],
    ['context / document', `${fmtInt(r.contextTokens)} / ${fmtInt(r.fullContextTokens)}${share}`],
    ['LLM calls', fmtInt(t?.calls ?? r.calls?.length)],
    ['latency', `${fmtMs(t?.latencyMs)} LLM · ${fmtMs(wallMs)} total`],
  ]);
  if ($('coa-notes').childElementCount === 0 && r.strategy === 'coa') {
    for (const [i, n] of (r.notes ?? []).entries()) addNote(i + 1, r.notes?.length, n);
  }
  if (r.truncated) {
    const t =
      typeof r.truncated === 'object'
        ? ` (${fmtInt(r.truncated.droppedTokens)} tokens, ${Math.round(100 * r.truncated.droppedShare)}% of the text, cut from the middle)`
        : '';
    notice(`The document did not fit the model's window and was truncated${t}.`);
  }
  lastCitations = r.citations ?? [];
  const ol = $('citations');
  ol.replaceChildren();
  for (const c of lastCitations) {
    const li = document.createElement('li');
    li.textContent = `${c.documentId} [${c.start}–${c.end}]: “${c.text}”`;
    ol.appendChild(li);
  }
  show($('citations-box'), lastCitations.length > 0);
  const note = $('curve-note');
  note.textContent =
    r.strategy === 'coa' || r.strategy === 'full'
      ? `This answer read the whole text (${r.strategy}); the curve shows what retrieval would have read instead.`
      : '';
  show(note, note.textContent !== '');
  drawCharts();
}

/** Runs one answering call as a stream; resolves once its `result` arrived. */
async function streamAnswer(path: string, body: object, signal: AbortSignal): Promise<void> {
  const started = performance.now();
  let gotResult = false;
  for await (const ev of api.stream(path, body, signal)) {
    switch (ev.event) {
      case 'decision':
        showDecision(JSON.parse(ev.data) as Decision);
        break;
      case 'progress':
        showProgress(JSON.parse(ev.data) as ProgressEvent);
        break;
      case 'token':
        $('answer').textContent += (JSON.parse(ev.data) as { text: string }).text;
        break;
      case 'result':
        showResult(JSON.parse(ev.data) as AnswerResult, performance.now() - started);
        gotResult = true;
        break;
      case 'escalate': {
        const e = JSON.parse(ev.data) as { from: string; to: string; reason: string };
        $('answer').textContent = '';
        $('stage').textContent = `escalating from ${e.from} to ${e.to}…`;
        break;
      }
      case 'error':
        throw streamError(ev.data);
      default:
        break; // `call` and future events: the totals arrive with the result
    }
  }
  if (!gotResult) throw new Error('The answer stream ended before its result.');
}

/** The last resort on a server without answering routes: the passages Adaptive-k selected. */
async function retrievalOnly(body: object): Promise<void> {
  const r =
    lastRetrieve ??
    (await api.json<RetrieveResult & { passages?: Array<{ text: string }> }>('POST', '/v1/retrieve', { json: body }));
  const passages = (r as { passages?: Array<{ text: string }> }).passages ?? [];
  showResult(
    {
      answer: passages.map((p) => p.text.trim()).join('\n\n…\n\n') || '(no passage selected)',
      strategy: 'retrieval only',
      extractive: true,
      contextTokens: r.tokens.selected,
      fullContextTokens: r.tokens.documents,
      totals: { promptTokens: 0, completionTokens: 0, calls: 0, latencyMs: 0 },
    },
    0,
  );
}

$('ask-form').addEventListener('submit', (e) => {
  e.preventDefault();
  void ask();
});

async function ask(): Promise<void> {
  const question = $<HTMLInputElement>('question').value.trim();
  if (!question) {
    askError('Type a question first.');
    return;
  }
  askRun?.abort();
  const run = new AbortController();
  askRun = run;
  resetResult();
  const strategy = $<HTMLSelectElement>('strategy').value;
  const body = scopeBody(question);
  const charts = loadCurve(body, run.signal);
  try {
    try {
      await streamAnswer('/v1/query', { ...body, strategy }, run.signal);
    } catch (err) {
      if (!(err instanceof ApiError && err.routeMissing)) throw err;
      const fallback = strategy === 'auto' ? 'rag' : strategy;
      notice(
        `This server has no /v1/query yet, so the router did not choose: asked /v1/answer with strategy “${fallback}” instead.`,
      );
      try {
        await streamAnswer('/v1/answer', { ...body, strategy: fallback }, run.signal);
      } catch (err2) {
        if (!(err2 instanceof ApiError && err2.routeMissing)) throw err2;
        notice('This server has no /v1/answer either: showing the passages Adaptive-k selected, without an LLM.');
        await charts;
        await retrievalOnly(body);
      }
    }
  } catch (err) {
    if (run.signal.aborted) return;
    askError(errorText(err));
    const answer = $('answer');
    answer.dataset.state = 'failed';
    answer.classList.remove('cursor');
    $('stage').textContent = '';
  }
  await charts;
}

async function loadCurve(body: object, signal: AbortSignal): Promise<void> {
  try {
    lastRetrieve = await api.json<RetrieveResult>('POST', '/v1/retrieve', {
      json: { ...body, includeCurve: true },
      signal,
    });
  } catch (err) {
    if (signal.aborted) return;
    lastRetrieve = null;
    $('curve-empty').textContent = `The score curve is unavailable: ${errorText(err)}`;
    show($('curve-empty'), true);
    return;
  }
  drawCharts();
  showLibrary();
}

// ---------------------------------------------------------------- the library

/**
 * How a whole-namespace question picked its documents: POST /v1/retrieve's
 * `library` in full (curve, candidates, term weights), else the router's
 * shorter account in its decision (ids, fallback, reasons). Hidden when the
 * question named its documents, since then nothing was picked.
 */
function showLibrary(): void {
  const lib = lastRetrieve?.library ?? null;
  const brief = lastDecisionDocs;
  const panel = $('library-panel');
  // What the panel last heard from retrieval, for readers (and tests) that must tell "hidden" from "not yet shown".
  if (lastRetrieve) panel.dataset.scope = lastRetrieve.scope.wholeNamespace ? 'library' : 'named';
  else delete panel.dataset.scope;
  show(panel, lib !== null || brief !== null);
  if (!lib && !brief) return;
  const namespaceDocuments = lib?.namespaceDocuments ?? brief?.namespaceDocuments ?? 0;
  // The decision's shorter account has ids only: no score, size or reason.
  const picked: Array<Omit<LibraryView['picked'][number], 'by'> & { by?: LibraryView['picked'][number]['by'] }> =
    lib?.picked ?? (brief?.picked ?? []).map((id) => ({ id, title: '', score: Number.NaN, tokens: Number.NaN }));
  const matching = lib ? ` (${fmtInt(lib.curve.length)} with matching chunks)` : '';
  let summary = `${fmtInt(picked.length)} of ${fmtInt(namespaceDocuments)} document${namespaceDocuments === 1 ? '' : 's'}${matching} read.`;
  // The two calls pick independently: say so if the library changed between them.
  if (lib && brief && brief.picked.join('\u0000') !== lib.picked.map((d) => d.id).join('\u0000'))
    summary += ` The answer read a different pick: ${brief.picked.join(', ') || 'none'}.`;
  $('library-summary').textContent = summary;

  const fallback = $('library-fallback');
  fallback.textContent = lib?.fallback ?? brief?.fallback ?? '';
  show(fallback, fallback.textContent !== '');

  const reasons = $('library-reasons');
  reasons.replaceChildren();
  for (const r of lib?.reasons ?? brief?.reasons ?? []) {
    const li = document.createElement('li');
    li.textContent = r;
    reasons.appendChild(li);
  }

  const body = $<HTMLTableElement>('library-picked').tBodies[0]!;
  body.replaceChildren();
  for (const [i, d] of picked.entries()) {
    const tr = document.createElement('tr');
    tr.dataset.document = d.id;
    const doc = cell(d.title || d.id, 'doc-cell');
    if (d.title) {
      const id = document.createElement('span');
      id.className = 'muted small doc-id';
      id.textContent = d.id;
      doc.append(' ', id);
    }
    tr.append(
      cell(String(i + 1), 'num'),
      doc,
      cell(Number.isFinite(d.score) ? fmtValue(d.score) : '–', 'num'),
      cell(fmtInt(d.tokens), 'num'),
      cell(d.by === 'same-terms' ? 'holds the same terms' : d.by === 'cut' ? 'above the cut' : '–'),
    );
    body.appendChild(tr);
  }
  if (picked.length === 0) {
    const tr = document.createElement('tr');
    const td = cell('No document was picked.', 'muted');
    td.colSpan = 5;
    tr.appendChild(td);
    body.appendChild(tr);
  }

  show($('library-legend'), lib !== null);
  if (lib) renderLibraryCurve($('library-curve'), lib);
  else $('library-curve').replaceChildren();
  fillKv(
    $('library-facts'),
    lib
      ? [
          [
            'candidate chunks',
            `${lib.candidates.source === 'store' ? "the store's search" : 'dense search only (fallback)'}: ${fmtInt(lib.candidates.lexical)} lexical, ${fmtInt(lib.candidates.dense)} dense`,
          ],
          [
            'term weights',
            lib.termWeights === 'document' ? 'by documents holding the term' : 'by chunks holding the term',
          ],
          ['document score', lib.aggregate === 'max' ? 'best chunk (max)' : 'sum of the best three chunks (top3)'],
          ['above the cut', fmtInt(lib.aboveCut)],
          ['largest gap', fmtValue(lib.largestGap)],
          ['relative gap', fmtValue(lib.relativeGap)],
          ...(lib.capped ? [['capped', 'yes: more stood out than are read'] as [string, string]] : []),
          ['time to pick', fmtMs(lib.pickMs)],
        ]
      : [],
  );
}

function drawCharts(): void {
  const r = lastRetrieve;
  if (!r) return;
  show($('curve-empty'), false);
  show($('legend'), true);
  renderCurve($('curve'), r);
  renderDocMap($('docmap'), r, lastCitations);
  if (r.library && !$('library-panel').hidden) renderLibraryCurve($('library-curve'), r.library);
  const ak = r.adaptiveK;
  const facts: Array<[string, string]> = [
    ['method', describeMethod(r.method)],
    ['scores', r.score ?? 'default'],
    ['chunks scored', fmtInt(r.curve?.length)],
    ['k (read)', fmtInt(r.k)],
    ['tokens selected', `${fmtInt(r.tokens.selected)} of ${fmtInt(r.tokens.documents)}`],
  ];
  if (ak) {
    facts.push(
      ['above the cut', fmtInt(ak.aboveCut)],
      ['largest gap', fmtValue(ak.largestGap)],
      ['relative gap', fmtValue(ak.relativeGap)],
    );
    if (ak.flat) facts.push(['curve', 'flat: no chunk stands out']);
  }
  fillKv($('curve-facts'), facts);
}

// ---------------------------------------------------------------- comparing

$('compare-btn').addEventListener('click', () => void compare());

function cell(text: string, cls?: string): HTMLTableCellElement {
  const td = document.createElement('td');
  td.textContent = text;
  if (cls) td.className = cls;
  return td;
}

async function compare(): Promise<void> {
  const question = $<HTMLInputElement>('question').value.trim();
  if (!question) {
    askError('Type a question first.');
    return;
  }
  askError(null);
  show($('compare-panel'), true);
  const tbody = $('compare').querySelector('tbody')!;
  tbody.replaceChildren();
  const body = scopeBody(question);
  const button = $<HTMLButtonElement>('compare-btn');
  button.disabled = true;
  const runs: Array<{ label: string; path: string; strategy: string }> = [
    { label: 'auto', path: '/v1/query', strategy: 'auto' },
    { label: 'rag', path: '/v1/answer', strategy: 'rag' },
    { label: 'coa', path: '/v1/answer', strategy: 'coa' },
    { label: 'full', path: '/v1/answer', strategy: 'full' },
  ];
  // One after another: on a small machine parallel runs would distort each other's latency.
  for (const run of runs) {
    const tr = document.createElement('tr');
    tr.dataset.strategy = run.label;
    tr.append(cell(run.label, 'strat'), cell('running…', 'muted'));
    tbody.appendChild(tr);
    const started = performance.now();
    try {
      const r = await api.json<AnswerResult>('POST', run.path, { json: { ...body, strategy: run.strategy } });
      const wall = performance.now() - started;
      const chosen = run.label === 'auto' && r.decision ? `auto → ${r.decision.strategy}` : run.label;
      tr.replaceChildren(
        cell(chosen, 'strat'),
        cell(fmtInt(r.totals?.promptTokens), 'num'),
        cell(`${fmtInt(r.contextTokens)} / ${fmtInt(r.fullContextTokens)}`, 'num'),
        cell(fmtInt(r.totals?.calls ?? r.calls?.length), 'num'),
        cell(fmtMs(r.totals?.latencyMs ?? wall), 'num'),
        cell(r.answer, 'answer-cell'),
      );
    } catch (err) {
      const missing = err instanceof ApiError && err.routeMissing;
      const td = cell(
        missing ? `${run.path} is not available on this server yet.` : errorText(err),
        missing ? 'muted' : 'error-text',
      );
      td.colSpan = 5;
      tr.replaceChildren(cell(run.label, 'strat'), td);
    }
  }
  button.disabled = false;
}

let resizeTimer: ReturnType<typeof setTimeout> | undefined;
window.addEventListener('resize', () => {
  clearTimeout(resizeTimer);
  resizeTimer = setTimeout(drawCharts, 120);
});

void refreshDocuments();
