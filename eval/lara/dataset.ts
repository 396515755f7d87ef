import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Loader for a LaRA-style folder (Li et al., "LaRA: Benchmarking
 * Retrieval-Augmented Generation and Long-Context LLMs", arXiv 2502.09977):
 *   documents/{length}/{type}/FILE
 *   queries/{length}_{type}_{task}.jsonl
 *   predictions/MODEL/{full,rag}_preds_MODEL_{length}_{type}_{task}.jsonl (optional)
 * Nothing about the contents is assumed beyond this layout and the field names;
 * lines that do not fit are reported with file and line, never dropped silently.
 */

export interface LaraQuery {
  /** `${queryFile}:${line}`: stable within one copy of the dataset. */
  id: string;
  /** Document type as named by the folder: book, financial, paper... */
  type: string;
  /** The `type` field of the line (e.g. novel_fake), which may refine the folder type. */
  subtype: string;
  task: string;
  length: string;
  file: string;
  question: string;
  answer: string;
  /** Segment holding the evidence, 'full' for the whole document, null when absent (comparison). */
  contextOrder: number | 'full' | null;
  /** The two segments a comparison question compares. */
  compParts: number[] | null;
  /** Text of the evidence segment, where the file carries it. */
  context?: string;
  queryFile: string;
  line: number;
  docPath: string;
}

export interface LaraGroup {
  length: string;
  type: string;
  task: string;
  queryFile: string;
  queries: LaraQuery[];
  /**
   * Segments the document is split into for this group: the largest segment
   * index seen in the file (context_order or comp_parts) plus one.
   */
  nSegments: number;
}

export interface LoadError {
  file: string;
  /** 1-based; 0 for problems with the file as a whole. */
  line: number;
  message: string;
}

export interface LaraDataset {
  root: string;
  groups: LaraGroup[];
  errors: LoadError[];
  /** Document text, read once and cached. */
  documentText(query: Pick<LaraQuery, 'docPath'>): string;
}

export interface LoadOptions {
  lengths?: readonly string[];
  types?: readonly string[];
  tasks?: readonly string[];
}

const QUERY_FILE = /^([^_]+)_([^_]+)_([^_]+)\.jsonl$/;

function isNonEmptyString(v: unknown): v is string {
  return typeof v === 'string' && v.length > 0;
}

function isIndex(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0;
}

/** Parses one query line; returns an error message instead of throwing. */
export function parseQueryLine(
  raw: string,
  where: { queryFile: string; line: number; length: string; type: string; task: string; root: string },
): LaraQuery | string {
  let obj: unknown;
  try {
    obj = JSON.parse(raw);
  } catch (err) {
    return `not valid JSON: ${(err as Error).message}`;
  }
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) return 'not a JSON object';
  const o = obj as Record<string, unknown>;
  for (const f of ['file', 'question', 'answer'] as const) {
    if (!isNonEmptyString(o[f])) return `field "${f}" missing or not a non-empty string`;
  }
  if (o.file !== undefined && /[\\/]|^\.\.?$/.test(o.file as string))
    return `field "file" must be a bare file name, got ${JSON.stringify(o.file)}`;

  let contextOrder: LaraQuery['contextOrder'] = null;
  if (o.context_order !== undefined) {
    if (o.context_order === 'full') contextOrder = 'full';
    else if (isIndex(o.context_order)) contextOrder = o.context_order;
    else return `field "context_order" must be a segment index or "full", got ${JSON.stringify(o.context_order)}`;
  }
  let compParts: number[] | null = null;
  if (o.comp_parts !== undefined) {
    if (!Array.isArray(o.comp_parts) || o.comp_parts.length === 0 || !o.comp_parts.every(isIndex)) {
      return `field "comp_parts" must be a list of segment indices, got ${JSON.stringify(o.comp_parts)}`;
    }
    compParts = o.comp_parts as number[];
  }
  if (contextOrder === null && compParts === null)
    return 'neither "context_order" nor "comp_parts" says where the evidence is';
  if (o.context !== undefined && typeof o.context !== 'string') return 'field "context" must be a string';
  for (const [f, expected] of [
    ['level', where.task],
    ['length', where.length],
  ] as const) {
    if (o[f] !== undefined && o[f] !== expected)
      return `field "${f}" is ${JSON.stringify(o[f])} but the file name says ${expected}`;
  }

  const file = o.file as string;
  return {
    id: `${where.queryFile}:${where.line}`,
    type: where.type,
    subtype: typeof o.type === 'string' ? o.type : where.type,
    task: where.task,
    length: where.length,
    file,
    question: o.question as string,
    answer: o.answer as string,
    contextOrder,
    compParts,
    ...(typeof o.context === 'string' ? { context: o.context } : {}),
    queryFile: where.queryFile,
    line: where.line,
    docPath: join(where.root, 'documents', where.length, where.type, file),
  };
}

/** Reads every query file under `root/queries` (optionally filtered). */
export function loadLara(root: string, opts: LoadOptions = {}): LaraDataset {
  const errors: LoadError[] = [];
  const groups: LaraGroup[] = [];
  const qdir = join(root, 'queries');
  if (!existsSync(qdir)) throw new Error(`no queries/ folder under ${root}`);

  for (const queryFile of readdirSync(qdir).sort()) {
    if (!queryFile.endsWith('.jsonl')) continue;
    const m = QUERY_FILE.exec(queryFile);
    if (!m) {
      errors.push({ file: queryFile, line: 0, message: 'file name is not {length}_{type}_{task}.jsonl' });
      continue;
    }
    const [, length, type, task] = m as unknown as [string, string, string, string];
    if (opts.lengths && !opts.lengths.includes(length)) continue;
    if (opts.types && !opts.types.includes(type)) continue;
    if (opts.tasks && !opts.tasks.includes(task)) continue;

    const lines = readFileSync(join(qdir, queryFile), 'utf8').split('\n');
    const queries: LaraQuery[] = [];
    let maxIndex = -1;
    lines.forEach((raw, i) => {
      if (raw.trim() === '') return;
      const q = parseQueryLine(raw, { queryFile, line: i + 1, length, type, task, root });
      if (typeof q === 'string') {
        errors.push({ file: queryFile, line: i + 1, message: q });
        return;
      }
      if (!existsSync(q.docPath)) {
        errors.push({
          file: queryFile,
          line: i + 1,
          message: `document not found: documents/${length}/${type}/${q.file}`,
        });
        return;
      }
      if (typeof q.contextOrder === 'number') maxIndex = Math.max(maxIndex, q.contextOrder);
      for (const p of q.compParts ?? []) maxIndex = Math.max(maxIndex, p);
      queries.push(q);
    });
    groups.push({ length, type, task, queryFile, queries, nSegments: Math.max(1, maxIndex + 1) });
  }

  const cache = new Map<string, string>();
  return {
    root,
    groups,
    errors,
    documentText(query) {
      let text = cache.get(query.docPath);
      if (text === undefined) {
        text = readFileSync(query.docPath, 'utf8');
        cache.set(query.docPath, text);
      }
      return text;
    },
  };
}

export interface LaraPrediction {
  model: string;
  mode: 'full' | 'rag';
  length: string;
  type: string;
  task: string;
  question: string;
  prediction: string;
  groundTruth: string;
  file?: string;
  line: number;
  predictionFile: string;
}

const PREDICTION_FILE = /^(full|rag)_preds_(.+)_([^_]+)_([^_]+)_([^_]+)\.jsonl$/;

/** Reads `predictions/MODEL/*.jsonl` when present (an empty list otherwise). */
export function loadPredictions(root: string): { predictions: LaraPrediction[]; errors: LoadError[] } {
  const predictions: LaraPrediction[] = [];
  const errors: LoadError[] = [];
  const pdir = join(root, 'predictions');
  if (!existsSync(pdir)) return { predictions, errors };
  for (const model of readdirSync(pdir).sort()) {
    const mdir = join(pdir, model);
    let files: string[];
    try {
      files = readdirSync(mdir).sort();
    } catch {
      continue;
    }
    for (const f of files) {
      if (!f.endsWith('.jsonl')) continue;
      const predictionFile = `${model}/${f}`;
      const m = PREDICTION_FILE.exec(f);
      if (!m) {
        errors.push({
          file: predictionFile,
          line: 0,
          message: 'file name is not {full,rag}_preds_MODEL_{length}_{type}_{task}.jsonl',
        });
        continue;
      }
      const [, mode, , length, type, task] = m as unknown as [string, 'full' | 'rag', string, string, string, string];
      readFileSync(join(mdir, f), 'utf8')
        .split('\n')
        .forEach((raw, i) => {
          if (raw.trim() === '') return;
          let o: Record<string, unknown>;
          try {
            o = JSON.parse(raw) as Record<string, unknown>;
          } catch (err) {
            errors.push({ file: predictionFile, line: i + 1, message: `not valid JSON: ${(err as Error).message}` });
            return;
          }
          if (
            typeof o !== 'object' ||
            o === null ||
            typeof o.question !== 'string' ||
            typeof o.prediction !== 'string'
          ) {
            errors.push({
              file: predictionFile,
              line: i + 1,
              message: 'needs string fields "question" and "prediction"',
            });
            return;
          }
          predictions.push({
            model,
            mode,
            length,
            type,
            task,
            question: o.question,
            prediction: o.prediction,
            groundTruth: typeof o.ground_truth === 'string' ? o.ground_truth : '',
            ...(typeof o.file === 'string' ? { file: o.file } : {}),
            line: i + 1,
            predictionFile,
          });
        });
    }
  }
  return { predictions, errors };
}
