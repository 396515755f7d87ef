import { Type, type Static } from '@sinclair/typebox';
import { ID_PATTERN } from '../core/ids.js';

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

export const DocumentView = Type.Object(
  {
    id: Type.String(),
    namespace: Type.String(),
    title: Type.String(),
    status: Type.Union([Type.Literal('pending'), Type.Literal('indexing'), Type.Literal('ready'), Type.Literal('failed')]),
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
    chars: Type.Integer({ description: "Size in characters of the live version's text (of the pending one while no version is live)." }),
    tokens: Type.Integer({ description: "Size in cl100k tokens of the live version's text (of the pending one while no version is live)." }),
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

export const errorResponses = {
  400: Type.Ref(ErrorBody),
  404: Type.Ref(ErrorBody),
} as const;
