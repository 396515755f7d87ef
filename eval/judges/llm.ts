import { OpenAiChatProvider } from '../../src/adapters/llm/openai.js';
import type { ChatMessage, LlmProvider } from '../../src/ports/llm.js';
import { judgeLexical } from './lexical.js';
import type { Verdict } from '../harness/types.js';

/** What any judge sees of one answer. */
export interface JudgeInput {
  question: string;
  /** The ground-truth answer. */
  answer: string;
  prediction: string;
  /** LaRA task: location, reasoning, comp, hallu. */
  task: string;
}

export interface Judge {
  /** 'lexical-approximate' or 'llm:<model>'; recorded with every verdict and in the run manifest. */
  readonly name: string;
  /** True for judges that only approximate an LLM judge; reports say so next to their numbers. */
  readonly approximate: boolean;
  judge(input: JudgeInput, signal?: AbortSignal): Promise<Verdict>;
  close(): Promise<void>;
}

/** The approximate lexical judge (eval/judges/lexical.ts) behind the Judge interface. */
export function lexicalJudge(): Judge {
  return {
    name: 'lexical-approximate',
    approximate: true,
    async judge(input) {
      const v = judgeLexical(input);
      return { correct: v.correct, score: v.score, method: v.method, detail: v.rule };
    },
    async close() {},
  };
}

/**
 * The judge's messages, following the rules LaRA scored with (Li et al.,
 * 2025, arXiv 2502.09977; evaluation/compute_score_llm.py in its repository):
 * the judge sees question, ground truth and prediction and answers only True
 * or False; for hallucination questions the prediction is right only when it
 * agrees with the ground truth that the text does not hold the information.
 */
export function judgeMessages(input: JudgeInput): ChatMessage[] {
  const body =
    `[Question] ${input.question}\n\n[Ground truth answer] ${input.answer}\n\n[AI assistant's answer] ${input.prediction}\n\n` +
    'Reply with the single word True or False.';
  const rule =
    input.task === 'hallu'
      ? 'Decide whether the AI assistant hallucinated. Its answer is correct only if it is consistent with the ground truth answer and recognises that the text does not contain the information asked for; an answer that supplies the missing information is a hallucination and incorrect.'
      : "Decide whether the AI assistant's answer is correct, using the ground truth answer as the reference.";
  return [
    { role: 'system', content: 'You are a judge who decides whether answers to questions are correct.' },
    { role: 'user', content: `${rule}\n\n${body}` },
  ];
}

/** True/False from the judge's reply; null when it says neither. The first of the two words to appear wins. */
export function parseVerdict(reply: string): boolean | null {
  const m = /\b(true|false)\b/i.exec(reply);
  return m ? m[1]!.toLowerCase() === 'true' : null;
}

export interface LlmJudgeOptions {
  /** Base URL of an OpenAI-compatible endpoint, including /v1. */
  url: string;
  model: string;
  apiKey?: string;
  /** Deadline of one verdict, retries included. Default 120 000 ms. */
  timeoutMs?: number;
  /** Retries on 429/5xx. Default 3. */
  maxRetries?: number;
  /** A provider to use instead of building one (tests with a local server use the real one). */
  provider?: LlmProvider;
}

/**
 * An LLM judge through any OpenAI-compatible chat endpoint, at temperature 0
 * so a re-run gives the same verdicts where the server is deterministic. A
 * reply that is neither True nor False is asked once more, then counted as
 * False with the reply kept in `detail`.
 */
export function llmJudge(opts: LlmJudgeOptions): Judge {
  // The OpenAI-compatible provider itself, not the `llms` registry: the judge is no LLM_PROVIDER choice (LaRA
  // judges with a chat model at an endpoint) and is set by --judge-* flags, not the service's LLM_* settings.
  const provider =
    opts.provider ??
    new OpenAiChatProvider({
      baseUrl: opts.url,
      apiKey: opts.apiKey ?? '',
      model: opts.model,
      contextWindow: 128_000,
      timeoutMs: opts.timeoutMs ?? 120_000,
      maxRetries: opts.maxRetries ?? 3,
    });
  const name = `llm:${opts.model}`;
  return {
    name,
    approximate: false,
    async judge(input, signal) {
      const messages = judgeMessages(input);
      let reply = '';
      for (let attempt = 0; attempt < 2; attempt++) {
        const res = await provider.complete({ messages, maxTokens: 8, temperature: 0, ...(signal ? { signal } : {}) });
        reply = res.text.trim();
        const v = parseVerdict(reply);
        if (v !== null) return { correct: v, score: v ? 1 : 0, method: name, detail: reply.slice(0, 40) };
      }
      return { correct: false, score: 0, method: name, detail: `unparsed reply: ${reply.slice(0, 80)}` };
    },
    close: () => provider.close(),
  };
}
