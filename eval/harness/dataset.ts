import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { sha256 } from '../../src/core/ids.js';
import { loadLara, type LaraDataset, type LaraGroup, type LaraQuery } from '../lara/dataset.js';
import { goldSpans, segmentSpans, type Span } from '../lara/evidence.js';
import { stratifiedSample } from './sample.js';
import type { BrokenInput, EvalQuestion } from './types.js';

/**
 * The document id a LaRA document gets in the service: `${length}_${type}_${file}`
 * made a valid id. The same scheme as eval/lara/ingest.ts, so both find the
 * documents the other ingested in a shared data dir.
 */
export function laraDocumentId(q: Pick<LaraQuery, 'length' | 'type' | 'file'>): string {
  const base = `${q.length}_${q.type}_${q.file}`.replace(/[^A-Za-z0-9._-]/g, '_').replace(/^[^A-Za-z0-9_]+/, '');
  return base.length <= 100 ? base : `${base.slice(0, 80)}_${sha256(base).slice(0, 16)}`;
}

export interface SelectionFilters {
  lengths?: readonly string[];
  types?: readonly string[];
  tasks?: readonly string[];
}

/** What the evidence metrics need of a question, computed once. */
export interface QuestionEvidence {
  gold: Span[] | 'full';
  /** The document's segments, for whole-document questions. */
  segments: Span[] | undefined;
  nSegments: number;
}

export interface Selection {
  dataset: LaraDataset;
  /** In the seeded order. */
  questions: EvalQuestion[];
  evidence: Map<string, QuestionEvidence>;
  /** Lines that could not be used, with file and line; never run, never counted as answered. */
  broken: BrokenInput[];
  /** Questions in the filtered dataset before the limit (broken ones excluded). */
  available: number;
}

/**
 * Loads a LaRA-style folder, checks every selected question against its
 * document (the evidence segment must exist), and picks the seeded sample.
 * Missing folders throw with the path; bad lines and bad references are
 * returned in `broken` with file and line.
 */
export function selectQuestions(root: string, filters: SelectionFilters, seed: number, limit = Infinity): Selection {
  if (!existsSync(root)) throw new Error(`dataset folder not found: ${root}`);
  if (!existsSync(join(root, 'queries'))) throw new Error(`no queries/ folder in ${root}`);
  if (!existsSync(join(root, 'documents'))) throw new Error(`no documents/ folder in ${root}`);
  const opts = {
    ...(filters.lengths ? { lengths: filters.lengths } : {}),
    ...(filters.types ? { types: filters.types } : {}),
    ...(filters.tasks ? { tasks: filters.tasks } : {}),
  };
  const dataset = loadLara(root, opts);
  const broken: BrokenInput[] = dataset.errors.map((e) => ({
    file: `queries/${e.file}`,
    line: e.line,
    message: e.message,
  }));
  const evidence = new Map<string, QuestionEvidence>();

  const usable = (g: LaraGroup): LaraQuery[] =>
    g.queries.filter((q) => {
      let text: string;
      try {
        text = dataset.documentText(q);
      } catch (err) {
        broken.push({
          file: `queries/${q.queryFile}`,
          line: q.line,
          message: `document unreadable: ${(err as Error).message}`,
        });
        return false;
      }
      try {
        const gold = goldSpans(q, text, g.nSegments);
        evidence.set(q.id, {
          gold,
          segments: gold === 'full' ? segmentSpans(q.type, text, g.nSegments) : undefined,
          nSegments: g.nSegments,
        });
        return true;
      } catch (err) {
        broken.push({
          file: `queries/${q.queryFile}`,
          line: q.line,
          message: `evidence: ${(err as Error).message} in documents/${q.length}/${q.type}/${q.file}`,
        });
        return false;
      }
    });
  const groups = dataset.groups.map(usable);
  const picked = stratifiedSample(groups, seed, limit);
  const questions: EvalQuestion[] = picked.map((q, order) => ({
    id: q.id,
    length: q.length,
    type: q.type,
    task: q.task,
    file: q.file,
    documentId: laraDocumentId(q),
    question: q.question,
    answer: q.answer,
    queryFile: q.queryFile,
    line: q.line,
    order,
  }));
  broken.sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : a.line - b.line));
  return { dataset, questions, evidence, broken, available: groups.reduce((n, g) => n + g.length, 0) };
}

/** The document text of a question. */
export function documentPath(root: string, q: Pick<EvalQuestion, 'length' | 'type' | 'file'>): string {
  return join(root, 'documents', q.length, q.type, q.file);
}
