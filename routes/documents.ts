import { basename, extname } from 'node:path';
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import { AppError, isAppError } from '../src/errors.js';
import { decodeUtf8 } from '../src/http/utf8.js';
import { htmlToText } from '../src/core/ingest/html.js';
import { Id } from '../src/http/schemas.js';
import { EXAMPLE, Submitted } from '../src/http/views.js';
import { abortOnClientClose } from '../src/http/cancel.js';
import { assertStorableJson } from '../src/http/json-body.js';
import type { DocumentRecord } from '../src/ports/document-store.js';
import type { SubmitInput } from '../src/core/ingest/document-service.js';

const JsonDocument = Type.Object(
  {
    id: Type.Optional(Id),
    title: Type.Optional(Type.String({ maxLength: 500 })),
    text: Type.String({ description: 'The document text (UTF-8). Whitespace-only text is rejected.' }),
    metadata: Type.Optional(
      Type.Record(Type.String(), Type.Unknown(), { description: 'Free-form JSON kept with the document.' }),
    ),
  },
  { additionalProperties: false, examples: [{ id: EXAMPLE.documentId, title: EXAMPLE.title, text: EXAMPLE.text }] },
);

const FILE_TYPES: Record<string, 'text' | 'html'> = {
  '.txt': 'text',
  '.md': 'text',
  '.markdown': 'text',
  '.html': 'html',
  '.htm': 'html',
};

export function toView(d: DocumentRecord) {
  return {
    id: d.id,
    namespace: d.namespace,
    title: d.title,
    status: d.status,
    version: d.version,
    // Records from before pending sizes were kept hold the pending version's sizes at the top level.
    pending: d.pending && {
      version: d.pending.version,
      jobId: d.pending.jobId,
      chars: d.pending.chars ?? d.chars,
      tokens: d.pending.tokens ?? d.tokens,
    },
    chars: d.chars,
    tokens: d.tokens,
    chunkCount: d.chunkCount,
    metadata: d.metadata,
    source: d.source,
    error: d.error,
    createdAt: d.createdAt,
    updatedAt: d.updatedAt,
  };
}

/** Reads a multipart upload: one file (.txt, .md, .html) and optional id, title, metadata fields. */
async function readUpload(req: FastifyRequest): Promise<Omit<SubmitInput, 'namespace'>> {
  const fields: Record<string, string> = {};
  let file: { name: string; text: string } | null = null;
  try {
    for await (const part of req.parts()) {
      if (part.type === 'file') {
        if (file) throw new AppError('VALIDATION', ['upload exactly one file']);
        // Only the extension of the client's file name is used; the name itself is never a path here.
        const name = basename(part.filename.replace(/\\/g, '/')).slice(0, 200);
        const ext = extname(name).toLowerCase();
        const kind = FILE_TYPES[ext];
        if (!kind) {
          await part.toBuffer().catch(() => undefined);
          throw new AppError('UNSUPPORTED_FILE_TYPE', [ext || `(none: ${JSON.stringify(name)})`]);
        }
        const raw = decodeUtf8(await part.toBuffer());
        file = { name, text: kind === 'html' ? htmlToText(raw) : raw };
      } else {
        fields[part.fieldname] = String(part.value);
      }
    }
  } catch (err) {
    // busboy reports broken framing (no boundary, truncated parts) as plain errors: the client's fault, not ours.
    if (
      isAppError(err) ||
      (typeof (err as { code?: unknown }).code === 'string' && (err as { code: string }).code.startsWith('FST_'))
    )
      throw err;
    throw new AppError('VALIDATION', [`malformed multipart body: ${(err as Error).message}`], { cause: err });
  }
  if (!file) throw new AppError('VALIDATION', ['multipart upload needs a "file" part']);
  let metadata: Record<string, unknown> | undefined;
  if (fields.metadata !== undefined) {
    try {
      const parsed: unknown = JSON.parse(fields.metadata);
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('not an object');
      metadata = parsed as Record<string, unknown>;
    } catch {
      throw new AppError('VALIDATION', ['field "metadata" must be a JSON object']);
    }
    assertStorableJson(metadata);
  }
  const unknownField = Object.keys(fields).find((k) => !['id', 'title', 'metadata'].includes(k));
  if (unknownField) throw new AppError('VALIDATION', [`unknown field "${unknownField}"`]);
  if (fields.title !== undefined && fields.title.length > 500)
    throw new AppError('VALIDATION', ['field "title" is longer than 500 characters']);
  return {
    ...(fields.id !== undefined ? { id: fields.id } : {}),
    title: fields.title ?? file.name,
    text: file.text,
    ...(metadata ? { metadata } : {}),
    source: file.name,
  };
}

const routes: FastifyPluginAsync = async (app) => {
  const service = app.container.documentService;
  // Only JSON and multipart are accepted; plain text would skip validation.
  app.removeContentTypeParser('text/plain');

  app.post(
    '/documents',
    {
      schema: {
        tags: ['documents'],
        summary: 'Submit a document for ingestion',
        description:
          'JSON ({id?, title?, text, metadata?}) or a multipart upload of one .txt, .md or .html file (HTML is reduced to its text). ' +
          'Answers 202 with the ingestion job; the same content again is a no-op (200, unchanged: true); the same id with new content replaces the document once the new version is indexed.',
        body: {
          content: {
            'application/json': { schema: JsonDocument },
            'multipart/form-data': {
              schema: {
                description: 'Parts: file (required), id, title, metadata (a JSON object as text).',
                properties: {
                  file: { type: 'string', format: 'binary' },
                  id: { type: 'string' },
                  title: { type: 'string' },
                  metadata: { type: 'string' },
                },
              },
            },
          },
        },
        response: {
          200: Submitted,
          202: Submitted,
          400: Type.Ref('ErrorBody'),
          413: Type.Ref('ErrorBody'),
          415: Type.Ref('ErrorBody'),
          422: Type.Ref('ErrorBody'),
        },
      },
    },
    async (req, reply) => {
      // Without a content type fastify has nothing to validate the body against.
      if (!req.isMultipart() && (typeof req.body !== 'object' || req.body === null))
        throw new AppError('VALIDATION', ['send the document as a JSON object or a multipart upload']);
      const input = req.isMultipart()
        ? await readUpload(req)
        : { ...(req.body as Static<typeof JsonDocument>), source: 'json' };
      const result = await service.submit({
        ...input,
        namespace: req.namespace,
        signal: abortOnClientClose(reply),
        log: req.log,
      });
      return reply
        .status(result.unchanged ? 200 : 202)
        .send({ document: toView(result.document), jobId: result.jobId, unchanged: result.unchanged });
    },
  );

  app.get(
    '/documents',
    {
      schema: {
        tags: ['documents'],
        summary: 'List documents of the namespace, oldest first',
        querystring: Type.Object({
          limit: Type.Integer({ minimum: 1, maximum: 500, default: 50 }),
          cursor: Type.Optional(Type.String({ maxLength: 512 })),
        }),
        response: {
          200: Type.Object({
            items: Type.Array(Type.Ref('Document')),
            next: Type.Union([Type.String(), Type.Null()]),
            total: Type.Integer(),
          }),
        },
      },
    },
    async (req) => {
      const q = req.query as { limit: number; cursor?: string };
      const page = await service.list(req.namespace, q.limit, q.cursor ?? null);
      return { items: page.items.map(toView), next: page.next, total: page.total };
    },
  );

  app.get(
    '/documents/:id',
    {
      schema: {
        tags: ['documents'],
        summary: 'A document: title, status, size in characters and tokens, chunk count, timestamps',
        params: Type.Object({ id: Type.String({ maxLength: 200, examples: [EXAMPLE.documentId] }) }),
        response: { 200: Type.Ref('Document'), 404: Type.Ref('ErrorBody') },
      },
    },
    async (req) => toView(await service.get(req.namespace, (req.params as { id: string }).id)),
  );

  app.delete(
    '/documents/:id',
    {
      schema: {
        tags: ['documents'],
        summary: 'Delete a document and all its chunks',
        params: Type.Object({ id: Type.String({ maxLength: 200 }) }),
        response: { 204: Type.Null(), 404: Type.Ref('ErrorBody') },
      },
    },
    async (req, reply) => {
      await service.delete(req.namespace, (req.params as { id: string }).id);
      return reply.status(204).send();
    },
  );
};

export default routes;
