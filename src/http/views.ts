/**
 * The success responses of the reading routes (/v1/retrieve, /v1/answer,
 * /v1/query, /v1/query/batch) as JSON schemas: the OpenAPI document shows
 * them, a test validates real responses against them, and the playground's
 * types are derived from them (playground/src/types.ts). Objects admit fields
 * not listed (`additionalProperties`), so a field added to a response is never
 * dropped; the listed ones are checked.
 *
 * Pure TypeBox, no Node imports: the playground's browser build reads it.
 */
import { Type, type Static, type TSchema } from '@sinclair/typebox';

const open = { additionalProperties: true } as const;

/**
 * The examples of the API description (a test sends each and checks the
 * status): a document, then questions about it. The text is the opening of
 * H. G. Wells, The Time Machine (1895, public domain).
 */
export const EXAMPLE = {
  documentId: 'tm',
  title: 'The Time Machine',
  text:
    'The Time Traveller (for so it will be convenient to speak of him) was expounding a recondite matter to us. ' +
    'His grey eyes shone and twinkled, and his usually pale face was flushed and animated. ' +
    'The fire burned brightly, and the soft radiance of the incandescent lights in the lilies of silver caught the bubbles that flashed and passed in our glasses.\n\n' +
    '"You must follow me carefully. I shall have to controvert one or two ideas that are almost universally accepted," he said to Filby, the argumentative person with red hair, ' +
    'while the Psychologist, the Medical Man and the Provincial Mayor listened from their chairs.',
  question: 'Who is the Time Traveller talking to?',
} as const;
const Nullable = <T extends TSchema>(t: T) => Type.Union([t, Type.Null()]);
const Strategy = Type.Union([Type.Literal('rag'), Type.Literal('coa'), Type.Literal('full')]);

export const Citation = Type.Object(
  {
    documentId: Type.String(),
    chunkId: Nullable(Type.String()),
    start: Type.Integer({ description: 'Character offset into the document text.' }),
    end: Type.Integer({ description: 'Character offset just past the span.' }),
    text: Type.String(),
  },
  open,
);

export const DocumentView = Type.Object(
  {
    id: Type.String(),
    namespace: Type.String(),
    title: Type.String(),
    status: Type.Union([
      Type.Literal('pending'),
      Type.Literal('indexing'),
      Type.Literal('ready'),
      Type.Literal('failed'),
    ]),
    version: Type.Union([Type.String(), Type.Null()], { description: 'Content hash of the live, fully indexed text.' }),
    pending: Type.Union(
      [
        Type.Object({
          version: Type.String({ description: 'Content hash of the submitted text being indexed.' }),
          jobId: Type.String(),
          chars: Type.Integer({ description: 'Size of the submitted text in characters.' }),
          tokens: Type.Integer({ description: 'Size of the submitted text in cl100k tokens.' }),
        }),
        Type.Null(),
      ],
      { description: 'A newer version being indexed; it replaces the live one when its job completes.' },
    ),
    chars: Type.Integer({
      description: "Size in characters of the live version's text (of the pending one while no version is live).",
    }),
    tokens: Type.Integer({
      description: "Size in cl100k tokens of the live version's text (of the pending one while no version is live).",
    }),
    chunkCount: Type.Integer(),
    metadata: Type.Record(Type.String(), Type.Unknown()),
    source: Type.String(),
    error: Type.Union([Type.Object({ code: Type.String(), message: Type.String() }), Type.Null()]),
    createdAt: Type.String({ format: 'date-time' }),
    updatedAt: Type.String({ format: 'date-time' }),
  },
  { $id: 'Document' },
);
export type DocumentView = Static<typeof DocumentView>;

export const JobView = Type.Object(
  {
    id: Type.String(),
    name: Type.String(),
    state: Type.Union(['waiting', 'active', 'completed', 'failed', 'delayed'].map((s) => Type.Literal(s))),
    progress: Type.Number({ minimum: 0, maximum: 100 }),
    attempts: Type.Integer(),
    error: Type.Union([Type.Object({ code: Type.String(), message: Type.String() }), Type.Null()]),
    result: Type.Unknown(),
    createdAt: Type.String(),
    finishedAt: Type.Union([Type.String(), Type.Null()]),
  },
  { $id: 'Job' },
);
export type JobView = Static<typeof JobView>;

export const Submitted = Type.Object({
  document: Type.Ref('Document'),
  jobId: Type.String({ description: 'Poll GET /v1/jobs/{jobId} for progress.' }),
  unchanged: Type.Boolean({
    description: 'True when this exact content was already stored or queued: nothing new was done.',
  }),
});
/** The submission as the client reads it (the document inline). */
export type Submitted = Omit<Static<typeof Submitted>, 'document'> & { document: DocumentView };

export const CurvePoint = Type.Object(
  { id: Type.String(), documentId: Type.String(), order: Type.Integer(), score: Type.Number() },
  open,
);

export const SelectedChunk = Type.Object(
  {
    id: Type.String(),
    documentId: Type.String(),
    order: Type.Integer(),
    start: Type.Integer(),
    end: Type.Integer(),
    tokens: Type.Integer(),
    score: Type.Number({ description: "The score selected on (RETRIEVAL_SCORE or the request's score)." }),
    dense: Nullable(
      Type.Number({
        description:
          'Cosine with the question; null when the selection did not need it (score bm25 without denseScores).',
      }),
    ),
    bm25: Type.Number(),
  },
  open,
);

export const Passage = Type.Object(
  {
    documentId: Type.String(),
    start: Type.Integer(),
    end: Type.Integer(),
    text: Type.String(),
    chunkIds: Type.Array(Type.String()),
  },
  { ...open, description: 'Selected chunks merged where they touch, in document order.' },
);

export const AdaptiveKView = Type.Object(
  {
    k: Type.Integer(),
    cutIndex: Type.Integer(),
    largestGap: Type.Number(),
    relativeGap: Type.Number(),
    topScore: Type.Number(),
    aboveCut: Type.Integer(),
    window: Type.Tuple([Type.Integer(), Type.Integer()], {
      description: 'Ranks between which the largest gap was searched.',
    }),
    flat: Type.Boolean(),
  },
  {
    ...open,
    description: 'Where Adaptive-k cut the sorted scores (the largest gap in the window) and the buffer after it.',
  },
);

export const RetrievalSignals = Type.Object(
  {
    candidates: Type.Integer(),
    k: Type.Integer(),
    cutIndex: Nullable(Type.Integer()),
    largestGap: Nullable(Type.Number()),
    relativeGap: Nullable(Type.Number()),
    topScore: Nullable(Type.Number()),
    aboveCut: Nullable(Type.Integer()),
    flat: Nullable(Type.Boolean()),
    selectedShare: Type.Number(),
    spread: Type.Number(),
  },
  open,
);

export const ScopeDocument = Type.Object(
  {
    id: Type.String(),
    title: Type.String(),
    tokens: Type.Integer(),
    chars: Type.Integer(),
    chunkCount: Type.Integer(),
  },
  open,
);

/** How a whole-namespace question picked its documents (src/core/retrieval/service.ts LibraryView). */
export const LibraryView = Type.Object(
  {
    namespaceDocuments: Type.Integer({ description: 'Ready documents in the namespace.' }),
    candidates: Type.Object(
      {
        source: Type.Union([Type.Literal('store'), Type.Literal('dense-fallback')], {
          description:
            "store: the store's lexical search (plus its dense search when the score uses dense); dense-fallback: its dense search alone, re-scored by BM25 among its hits.",
        }),
        lexical: Type.Integer(),
        dense: Type.Integer(),
      },
      open,
    ),
    fallback: Nullable(
      Type.String({ description: 'Set when the candidates came another way than asked, saying why.' }),
    ),
    termWeights: Type.Union([Type.Literal('document'), Type.Literal('chunk')]),
    aggregate: Type.Union([Type.Literal('max'), Type.Literal('top3')]),
    picked: Type.Array(
      Type.Object(
        {
          id: Type.String(),
          title: Type.String(),
          score: Type.Number(),
          tokens: Type.Integer(),
          by: Type.Union([Type.Literal('cut'), Type.Literal('same-terms')], {
            description:
              "cut: above the largest gap of the documents' curve (or the buffer); same-terms: holds every question term the first document holds, read because the terms do not single the first out (LIBRARY_READ_ALIKE).",
          }),
        },
        open,
      ),
      { description: 'The documents read, best first.' },
    ),
    curve: Type.Array(
      Type.Object(
        { documentId: Type.String(), score: Type.Number(), best: Type.Number(), chunks: Type.Integer() },
        open,
      ),
      { description: "The documents' curve, best first (documents with at least one candidate chunk)." },
    ),
    cutIndex: Type.Integer(),
    largestGap: Type.Number(),
    relativeGap: Type.Number(),
    aboveCut: Type.Integer(),
    capped: Type.Boolean({ description: 'True when the cap on documents removed some the cut would have picked.' }),
    distinction: Type.Object(
      {
        singledOut: Type.Boolean({
          description:
            "True when no other document's matching chunks hold every question term that the first document's hold: the question's terms say which document it is about. False: the first document was ranked by how often the terms occur, and the question may be about another (alsoHeldBy).",
        }),
        terms: Type.Array(Type.String(), {
          description:
            "The question's terms (analysed as BM25 analyses them) that the first document's matching chunks hold.",
        }),
        alsoHeldBy: Type.Array(Type.Object({ id: Type.String(), title: Type.String() }, open), {
          description: 'Other documents whose matching chunks hold every one of those terms, best first.',
        }),
      },
      { ...open, description: "Whether the question's terms say which document it is about." },
    ),
    readCap: Type.Object(
      {
        maxTokens: Type.Integer({
          description: 'Most tokens selected within the picked documents (LIBRARY_MAX_TOKENS; 0: no cap).',
        }),
        cut: Nullable(
          Type.Object(
            { k: Type.Integer(), tokens: Type.Integer() },
            { ...open, description: 'What the selection method had chosen before the cap cut it (chunks, tokens).' },
          ),
        ),
      },
      open,
    ),
    reasons: Type.Array(Type.String(), { description: 'Why these documents, in words.' }),
    pickMs: Type.Number(),
  },
  { ...open, description: 'Whole-namespace questions: how the documents were picked.' },
);

export const RetrieveResult = Type.Object(
  {
    scope: Type.Object({ documents: Type.Array(ScopeDocument), wholeNamespace: Type.Boolean() }, open),
    library: Nullable(LibraryView),
    method: Type.Object(
      { kind: Type.String() },
      {
        ...open,
        description:
          'The selection used: {kind: adaptive-k, a, b, buffer, …}, {kind: top-k, k} or {kind: token-budget, tokens}.',
      },
    ),
    score: Type.String(),
    k: Type.Integer({ description: 'Chunks selected.' }),
    cutIndex: Nullable(Type.Integer()),
    selected: Type.Array(SelectedChunk),
    passages: Type.Array(Passage),
    curve: Type.Optional(Type.Array(CurvePoint, { description: 'Every candidate chunk, best first (includeCurve).' })),
    adaptiveK: Nullable(AdaptiveKView),
    signals: RetrievalSignals,
    tokens: Type.Object({ selected: Type.Integer(), documents: Type.Integer() }, open),
    timings: Type.Object({ embedMs: Type.Number(), scoreMs: Type.Number(), selectMs: Type.Number() }, open),
  },
  { ...open, description: 'Selected passages, the score curve and the Adaptive-k cut.' },
);

export const LlmCall = Type.Object(
  {
    role: Type.String({ description: 'answer, coa-worker or coa-manager.' }),
    index: Nullable(Type.Integer()),
    promptTokens: Type.Integer(),
    completionTokens: Type.Integer(),
    estimated: Type.Boolean(),
    latencyMs: Type.Number(),
    finishReason: Type.String(),
  },
  open,
);

const AnswerFields = {
  answer: Type.String(),
  strategy: Strategy,
  extractive: Type.Boolean({
    description: 'True when the extractive reader answered: the answer quotes sentences, no model wrote it.',
  }),
  citations: Type.Array(Citation),
  calls: Type.Array(LlmCall),
  totals: Type.Object(
    { promptTokens: Type.Integer(), completionTokens: Type.Integer(), calls: Type.Integer(), latencyMs: Type.Number() },
    open,
  ),
  fullContextTokens: Type.Integer({
    description: 'Tokens of the full-context prompt, untruncated: the cost being saved.',
  }),
  contextTokens: Type.Integer({ description: 'Document tokens given to the reader.' }),
  truncated: Nullable(
    Type.Object({ keptTokens: Type.Integer(), droppedTokens: Type.Integer(), droppedShare: Type.Number() }, open),
  ),
  segments: Nullable(Type.Object({ count: Type.Integer(), tokensPerSegment: Type.Array(Type.Integer()) }, open)),
  notes: Type.Array(Type.String(), { description: 'Chain-of-Agents worker notes, in order.' }),
  retrieval: Nullable(
    Type.Object(
      {
        method: Type.Unknown(),
        score: Type.String(),
        signals: RetrievalSignals,
        tokens: Type.Unknown(),
        adaptiveK: Type.Unknown(),
      },
      open,
    ),
  ),
};

export const AnswerResult = Type.Object(AnswerFields, {
  ...open,
  description:
    'The answer with its citations, every LLM call and its tokens, and what reading the whole text would have cost.',
});

export const StrategyEstimate = Type.Object(
  {
    feasible: Type.Boolean(),
    reason: Type.Optional(Type.String()),
    promptTokens: Type.Integer(),
    calls: Type.Integer(),
    contextTokens: Type.Integer(),
    latencyMs: Type.Number(),
    excludedBy: Nullable(Type.String()),
  },
  open,
);

const Escalation = { requested: Type.Boolean(), active: Type.Boolean(), note: Nullable(Type.String()) };

export const QueryDecision = Type.Object(
  {
    strategy: Strategy,
    requested: Type.String({ description: 'auto, rag, coa or full.' }),
    reasons: Type.Array(Type.String(), { description: 'Why, in words.' }),
    documents: Nullable(
      Type.Object(
        {
          picked: Type.Array(Type.String(), {
            description:
              "The documents read, best first: those above the documents' cut, then, when the question's terms do not single out the first, those of alsoHeldBy (the retrieval's library.picked).",
          }),
          namespaceDocuments: Type.Integer(),
          fallback: Nullable(Type.String()),
          singledOut: Type.Boolean({
            description:
              "Whether the question's terms single out the first picked document (the retrieval's library.distinction).",
          }),
          alsoHeldBy: Type.Array(Type.String(), {
            description: 'Other documents that hold every question term the first picked one holds.',
          }),
          reasons: Type.Array(Type.String()),
        },
        open,
      ),
    ),
    signals: Type.Object(
      {
        k: Type.Integer(),
        candidates: Type.Integer(),
        cutIndex: Nullable(Type.Integer()),
        largestGap: Nullable(Type.Number()),
        relativeGap: Nullable(Type.Number()),
        aboveCut: Nullable(Type.Integer()),
        flat: Nullable(Type.Boolean()),
        topScore: Nullable(Type.Number()),
        selectedShare: Type.Number(),
        spread: Type.Number(),
        selectedTokens: Type.Integer(),
        documentTokens: Type.Integer(),
        window: Type.Integer({ description: 'Context window of the reader minus its answer reserve.' }),
        llm: Type.String(),
      },
      open,
    ),
    cues: Type.Array(Type.Object({ name: Type.String(), match: Type.String() }, open)),
    estimates: Type.Object(
      {
        rag: StrategyEstimate,
        coa: Type.Intersect([StrategyEstimate, Type.Object({ segments: Type.Integer() }, open)]),
        full: Type.Intersect([StrategyEstimate, Type.Object({ truncated: Type.Boolean() }, open)]),
      },
      { ...open, description: 'The estimated cost of each alternative.' },
    ),
    budgets: Type.Object(
      {
        maxPromptTokens: Type.Optional(Type.Number()),
        maxCalls: Type.Optional(Type.Number()),
        maxLatencyMs: Type.Optional(Type.Number()),
      },
      open,
    ),
    selfRoute: Type.Object(Escalation, open),
    probe: Type.Object(
      {
        ...Escalation,
        maxAnswerTokens: Type.Integer(),
        fallback: Nullable(Strategy),
        verdict: Nullable(
          Type.Object({ keep: Type.Boolean(), why: Type.String(), answerTokens: Type.Integer() }, open),
        ),
      },
      open,
    ),
    escalated: Nullable(
      Type.Object(
        {
          from: Type.Literal('rag'),
          to: Strategy,
          reason: Type.String(),
          firstAttempt: Type.Object(AnswerFields, open),
        },
        { ...open, description: 'Both attempts when the first was read again.' },
      ),
    ),
  },
  { ...open, description: 'Why the question was read the way it was.' },
);

export const QueryResult = Type.Object(
  { ...AnswerFields, decision: QueryDecision },
  { ...open, description: 'The answer (as POST /v1/answer) and the decision.' },
);

export const BatchResult = Type.Object(
  {
    jobId: Type.Null({ description: 'Null: answered inline.' }),
    items: Type.Array(
      Type.Union([
        Type.Object({ id: Type.String(), question: Type.String(), ok: Type.Literal(true), result: QueryResult }, open),
        Type.Object(
          {
            id: Type.String(),
            question: Type.String(),
            ok: Type.Literal(false),
            error: Type.Object({ code: Type.String(), message: Type.String() }, open),
          },
          open,
        ),
      ]),
    ),
    summary: Type.Object(
      {
        questions: Type.Integer(),
        answered: Type.Integer(),
        failed: Type.Integer(),
        strategies: Type.Record(Type.String(), Type.Integer()),
        escalated: Type.Integer(),
        promptTokens: Type.Integer(),
      },
      open,
    ),
  },
  { ...open, description: 'One item per question, in order: its result, or its error.' },
);

/**
 * Serialises a route's responses with JSON.stringify: the route's response
 * schema documents them (a test validates real responses against it) but
 * never reshapes them, so a field it does not list still reaches the client.
 */
export const plainJson = { serializerCompiler: () => (data: unknown) => JSON.stringify(data) } as const;

export type Citation = Static<typeof Citation>;
export type CurvePoint = Static<typeof CurvePoint>;
export type SelectedChunk = Static<typeof SelectedChunk>;
export type AdaptiveKView = Static<typeof AdaptiveKView>;
export type ScopeDocument = Static<typeof ScopeDocument>;
export type LibraryView = Static<typeof LibraryView>;
export type RetrieveResult = Static<typeof RetrieveResult>;
export type LlmCall = Static<typeof LlmCall>;
export type AnswerResult = Static<typeof AnswerResult>;
export type StrategyEstimate = Static<typeof StrategyEstimate>;
export type QueryDecision = Static<typeof QueryDecision>;
export type QueryResult = Static<typeof QueryResult>;
