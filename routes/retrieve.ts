import type { FastifyPluginAsync } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import { Id } from '../src/http/schemas.js';
import { EXAMPLE, type LibraryView, plainJson, RetrieveResult } from '../src/http/views.js';
import { AppError } from '../src/errors.js';
import type { AdaptiveKOptions } from '../src/core/retrieval/adaptive-k.js';
import type { SelectionMethod } from '../src/core/retrieval/select.js';
import type { RetrievalResult } from '../src/core/retrieval/service.js';
import type { Config } from '../src/config.js';
import { DEFAULTS } from '../src/core/retrieval/defaults.js';
import { adaptiveKSettings } from '../src/container.js';
import { isBlank } from '../src/core/text/blank.js';

/** Selection parameters shared by /v1/retrieve, /v1/answer and /v1/query. Ranges are checked by the core (INVALID_PARAMETER). */
export const SelectionParams = {
  method: Type.Optional(
    Type.Union([Type.Literal('adaptive-k'), Type.Literal('top-k'), Type.Literal('token-budget')], {
      description: 'Default adaptive-k.',
    }),
  ),
  a: Type.Optional(
    Type.Number({
      description:
        'Adaptive-k: fraction of the top skipped when looking for the largest gap, in [0,1). Default ADAPTIVE_K_A (0).',
    }),
  ),
  b: Type.Optional(
    Type.Number({
      description: 'Adaptive-k: fraction of the bottom skipped, in [0,1), a + b < 1. Default ADAPTIVE_K_B (0.1).',
    }),
  ),
  buffer: Type.Optional(
    Type.Number({
      description:
        'Adaptive-k: chunks added after the cut, integer ≥ 0. Default ADAPTIVE_K_BUFFER (5), used when ADAPTIVE_K_BUFFER_TOKENS is 0 or a request sets buffer.',
    }),
  ),
  bufferTokens: Type.Optional(
    Type.Number({
      description:
        'Adaptive-k: buffer measured in tokens instead of chunks (0 = chunks). Default ADAPTIVE_K_BUFFER_TOKENS (4000).',
    }),
  ),
  bufferMaxShare: Type.Optional(
    Type.Number({
      description:
        "Adaptive-k: caps the token buffer at this share of the candidate chunks' tokens, in [0,1] (1 = no cap). Default ADAPTIVE_K_BUFFER_MAX_SHARE (0.2). " +
        'The buffer applied is reported as adaptiveK.effectiveBufferTokens.',
    }),
  ),
  minRelativeGap: Type.Optional(
    Type.Number({ description: 'Adaptive-k: relative gap below which the curve counts as flat.' }),
  ),
  k: Type.Optional(Type.Number({ description: 'top-k: chunks to read.' })),
  tokens: Type.Optional(Type.Number({ description: 'token-budget: most tokens to read.' })),
  score: Type.Optional(
    Type.Union([Type.Literal('dense'), Type.Literal('bm25'), Type.Literal('hybrid')], {
      description: 'Scores to select on. Default RETRIEVAL_SCORE.',
    }),
  ),
  hybridAlpha: Type.Optional(
    Type.Number({
      minimum: 0,
      maximum: 1,
      description: 'Weight of dense scores in the hybrid fusion. Default 0.3 (measured on LaRA dev).',
    }),
  ),
};

export const Scope = {
  question: Type.String({ maxLength: 100_000 }),
  documentIds: Type.Optional(
    Type.Array(Id, { minItems: 1, maxItems: 100, description: 'Documents to read; omit for the whole namespace.' }),
  ),
};

const RetrieveBody = Type.Object(
  {
    ...Scope,
    ...SelectionParams,
    includeCurve: Type.Optional(Type.Boolean({ default: true })),
    denseScores: Type.Optional(
      Type.Boolean({
        description:
          "Also embed the question to report every chunk's cosine (`selected[].dense`) when the selection does not use it (score bm25). " +
          'Default false: a BM25 selection never waits for the question to be embedded, and `dense` is null. Dense and hybrid selections always have it.',
      }),
    ),
  },
  { additionalProperties: false, examples: [{ question: EXAMPLE.question, documentIds: [EXAMPLE.documentId] }] },
);
/** The selection fields of a request body: a method, its top-k / token-budget size, and Adaptive-k's own options. */
type SelectionInput = AdaptiveKOptions & { method?: string; k?: number; tokens?: number };

export function selectionFrom(body: SelectionInput, cfg: Config): SelectionMethod {
  switch (body.method ?? 'adaptive-k') {
    case 'top-k':
      if (body.k === undefined) throw new AppError('INVALID_PARAMETER', ['method top-k needs k']);
      return { kind: 'top-k', k: body.k };
    case 'token-budget':
      if (body.tokens === undefined) throw new AppError('INVALID_PARAMETER', ['method token-budget needs tokens']);
      return { kind: 'token-budget', tokens: body.tokens };
    default: {
      const d = adaptiveKSettings(cfg);
      return {
        kind: 'adaptive-k',
        a: body.a ?? d.a,
        b: body.b ?? d.b,
        buffer: body.buffer ?? d.buffer,
        // A request that sets a chunk buffer means chunks: the configured token buffer then stands aside.
        bufferTokens: body.bufferTokens ?? (body.buffer !== undefined ? 0 : d.bufferTokens),
        bufferMaxShare: body.bufferMaxShare ?? d.bufferMaxShare,
        ...(body.minRelativeGap !== undefined ? { minRelativeGap: body.minRelativeGap } : {}),
      };
    }
  }
}

export function checkQuestion(question: string, cfg: Config): string {
  if (isBlank(question)) throw new AppError('EMPTY_QUESTION');
  if (question.length > cfg.MAX_QUESTION_CHARS)
    throw new AppError('QUESTION_TOO_LONG', [question.length, cfg.MAX_QUESTION_CHARS]);
  return question;
}

export function retrievalView(r: RetrievalResult, includeCurve = true) {
  return {
    scope: r.scope,
    // The schema describes what the service returns: a change to either fails to compile here.
    library: r.library satisfies LibraryView | null,
    method: r.method,
    score: r.score,
    k: r.signals.k,
    cutIndex: r.signals.cutIndex,
    selected: r.selected.map(({ text: _t, ...c }) => c),
    passages: r.passages,
    ...(includeCurve ? { curve: r.curve } : {}),
    adaptiveK: r.adaptiveK,
    signals: r.signals,
    tokens: r.tokens,
    timings: r.timings,
  };
}

const routes: FastifyPluginAsync = async (app) => {
  const cfg = app.container.config;
  app.post(
    '/retrieve',
    {
      schema: {
        tags: ['retrieval'],
        summary: 'Select the passages a question needs (Adaptive-k by default) and show why',
        description:
          'Scores every chunk of the documents in scope, selects with Adaptive-k, fixed top-k or a token budget, ' +
          "and over the whole namespace (no documentIds) first picks the documents: the store's best NAMESPACE_CANDIDATES chunks score the documents, and Adaptive-k cuts their curve (`library` says which and why); " +
          'and returns the passages in document order, the whole sorted score curve, the cut, and signals describing the distribution. ' +
          "adaptiveK.effectiveBufferTokens is the token buffer applied after the cut: bufferTokens, capped at bufferMaxShare of the candidates' tokens (adaptiveK.bufferCapped).",
        body: RetrieveBody,
        response: {
          200: RetrieveResult,
          400: Type.Ref('ErrorBody'),
          404: Type.Ref('ErrorBody'),
          409: Type.Ref('ErrorBody'),
          422: Type.Ref('ErrorBody'),
        },
      },
      ...plainJson,
    },
    async (req) => {
      const body = req.body as Static<typeof RetrieveBody>;
      const r = await app.container.retrieval.retrieve({
        namespace: req.namespace,
        question: checkQuestion(body.question, cfg),
        documentIds: body.documentIds ?? null,
        method: selectionFrom(body, cfg),
        score: body.score ?? cfg.RETRIEVAL_SCORE,
        hybridAlpha: body.hybridAlpha ?? DEFAULTS.hybridAlpha,
        denseScores: body.denseScores ?? false,
      });
      return retrievalView(r, body.includeCurve ?? true);
    },
  );
};

export default routes;
