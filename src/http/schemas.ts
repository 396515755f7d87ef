import { Type, type Static } from '@sinclair/typebox';
import { ID_PATTERN } from '../core/ids.js';
import { QueryDecision } from './views.js';

export const ErrorBody = Type.Object(
  {
    error: Type.Object({
      code: Type.String({ description: 'Stable error code (see the error catalogue in the README).' }),
      message: Type.String(),
      details: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
    }),
    requestId: Type.String(),
  },
  { $id: 'ErrorBody', description: 'Every error the API returns has this shape.' },
);

export const Id = Type.String({ pattern: ID_PATTERN, description: 'Letters, digits, . _ - : (1–128 characters).' });

// The document and job views live with the other response schemas the playground is typed from.
export { DocumentView, JobView } from './views.js';

export const errorResponses = {
  400: Type.Ref(ErrorBody),
  404: Type.Ref(ErrorBody),
} as const;

/** OpenAI's error object; `code` is the stable code of the error catalogue (src/errors.ts). */
export const OpenAiError = Type.Object({
  message: Type.String(),
  type: Type.String({
    description:
      'invalid_request_error, authentication_error, permission_error, not_found_error, rate_limit_error, api_error.',
  }),
  param: Type.Union([Type.String(), Type.Null()]),
  code: Type.String({ description: 'Stable error code (see the error catalogue in the README).' }),
  details: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
});
export type OpenAiError = Static<typeof OpenAiError>;

export const OpenAiErrorBody = Type.Object(
  { error: OpenAiError, requestId: Type.String() },
  {
    $id: 'OpenAiErrorBody',
    description: "Errors of the OpenAI-compatible routes: OpenAI's shape, which extends the service's own.",
  },
);

export const OpenAiModel = Type.Object({
  id: Type.String(),
  object: Type.Literal('model'),
  created: Type.Integer(),
  owned_by: Type.String(),
  description: Type.String(),
});

export const OpenAiModelList = Type.Object({ object: Type.Literal('list'), data: Type.Array(OpenAiModel) });

const DocumentCitation = Type.Object({
  type: Type.Literal('document_citation'),
  document_citation: Type.Object({
    document_id: Type.String(),
    chunk_id: Type.Union([Type.String(), Type.Null()]),
    start: Type.Integer({ description: 'Character offset of the span in the document text.' }),
    end: Type.Integer({ description: 'Character offset just past the span.' }),
    text: Type.String(),
  }),
});

export const ChatCompletion = Type.Object({
  id: Type.String(),
  object: Type.Literal('chat.completion'),
  created: Type.Integer(),
  model: Type.String(),
  choices: Type.Array(
    Type.Object({
      index: Type.Integer(),
      message: Type.Object({
        role: Type.Literal('assistant'),
        content: Type.String(),
        refusal: Type.Null(),
        annotations: Type.Array(DocumentCitation, {
          description: 'The spans the answer rests on, as in /v1/query citations.',
        }),
      }),
      logprobs: Type.Null(),
      finish_reason: Type.Union([Type.Literal('stop'), Type.Literal('length')]),
    }),
  ),
  usage: Type.Object(
    { prompt_tokens: Type.Integer(), completion_tokens: Type.Integer(), total_tokens: Type.Integer() },
    {
      description:
        'Tokens of every call to the reader: the prompts it was sent (document text and instructions) and what it wrote.',
    },
  ),
  decision: QueryDecision,
  conversation: Type.Object({
    question: Type.String({ description: 'The question the router read.' }),
    asked: Type.String({ description: 'The last user message.' }),
    history: Type.Union([Type.Literal('none'), Type.Literal('rewritten'), Type.Literal('context')], {
      description:
        'How earlier turns were used: none; rewritten (a generative reader made the question stand alone); context (extractive fallback: earlier user messages appended).',
    }),
    turns: Type.Integer({ description: 'Earlier user and assistant turns used.' }),
    note: Type.Union([Type.String(), Type.Null()]),
  }),
  reading: Type.Object({
    strategy: Type.String(),
    extractive: Type.Boolean(),
    contextTokens: Type.Integer({ description: 'Document tokens given to the reader.' }),
    fullContextTokens: Type.Integer({ description: 'Tokens of reading the documents whole.' }),
    calls: Type.Integer(),
  }),
});
