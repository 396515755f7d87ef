import { judgeProbe, type ProbeVerdict } from '../../src/core/routing/probe.js';
import type { LaraPrediction } from '../lara/dataset.js';
import type { Judge } from '../judges/llm.js';
import type { Verdict } from '../harness/types.js';

/** Key that ties a prediction to its question. */
export function predictionKey(p: {
  length: string;
  type: string;
  task: string;
  file?: string | undefined;
  question: string;
}): string {
  return `${p.length}|${p.type}|${p.task}|${p.file ?? ''}|${p.question}`;
}

export interface JudgedPair {
  rag?: Verdict;
  full?: Verdict;
  /** The probe's verdict on the recorded RAG answer with no length limit (whether it declines or is empty, and its length); see keptAt. */
  probe?: ProbeVerdict;
}

/** One model's two recorded answers to one question, judged. */
export interface Answered {
  rag: boolean;
  full: boolean;
  /** judgeProbe(recorded RAG answer, no limit). */
  verdict: ProbeVerdict;
}

/** Judges every recorded answer of `model`; keyed by predictionKey (and, as a fallback, without the file). */
export async function judgePredictions(
  predictions: readonly LaraPrediction[],
  model: string,
  judge: Judge,
  concurrency = 4,
): Promise<Map<string, JudgedPair>> {
  const mine = predictions.filter((p) => p.model === model);
  const out = new Map<string, JudgedPair>();
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < mine.length) {
      const p = mine[next++]!;
      const v = await judge.judge({
        question: p.question,
        answer: p.groundTruth,
        prediction: p.prediction,
        task: p.task,
      });
      const probe = p.mode === 'rag' ? judgeProbe(p.prediction, Infinity) : undefined;
      for (const key of [predictionKey(p), predictionKey({ ...p, file: undefined })]) {
        const e = out.get(key) ?? {};
        e[p.mode] = v;
        if (p.mode === 'rag') e.probe = probe;
        out.set(key, e);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, concurrency) }, worker));
  return out;
}

/** The judged pair of a question, when both answers were recorded. */
export function answeredFor(
  judged: Map<string, JudgedPair>,
  q: { length: string; type: string; task: string; file: string; question: string },
): Answered | null {
  const e = judged.get(predictionKey(q)) ?? judged.get(predictionKey({ ...q, file: undefined }));
  if (!e?.rag || !e.full || !e.probe) return null;
  return { rag: e.rag.correct, full: e.full.correct, verdict: e.probe };
}
