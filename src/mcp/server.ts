import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import type { Container } from '../container.js';
import type { Logger } from '../ports/logger.js';
import { AppError, isAppError } from '../errors.js';
import { ID_PATTERN } from '../core/ids.js';
import { DEFAULTS } from '../core/retrieval/defaults.js';
import type { SelectionMethod } from '../core/retrieval/select.js';
import type { RequestedStrategy } from '../core/routing/query-service.js';

/** Most characters one `read` returns: a span, not a whole book per call. */
export const MAX_READ_CHARS = 100_000;
/** Documents `list_documents` returns at most. */
const MAX_LISTED = 1_000;

const documentId = z.string().regex(new RegExp(ID_PATTERN)).describe('A document id from list_documents.');
const documentIds = z
  .array(documentId)
  .min(1)
  .max(100)
  .optional()
  .describe('Documents to read; omit for the whole namespace.');

const citation = z.object({
  documentId: z.string(),
  chunkId: z.string().nullable(),
  start: z.number().int(),
  end: z.number().int(),
  text: z.string(),
});

/** A tool's failure as MCP reports it (a result with isError), naming the stable code of src/errors.ts. */
function failed(err: unknown): CallToolResult {
  const e = isAppError(err) ? err : new AppError('INTERNAL', [], { cause: err });
  return { isError: true, content: [{ type: 'text', text: `${e.code}: ${e.message}` }] };
}

function result(text: string, structured: Record<string, unknown>): CallToolResult {
  // Structured content for clients that read it, the same as JSON text for those that do not (as the MCP spec advises).
  return {
    content: [
      { type: 'text', text },
      { type: 'text', text: JSON.stringify(structured) },
    ],
    structuredContent: structured,
  };
}

/**
 * The MCP server of one request, acting in `namespace` (the API key's). Its
 * tools call the same services as the HTTP routes: list_documents, ask (the
 * router, as POST /v1/query), retrieve (Adaptive-k, as POST /v1/retrieve),
 * read (a span of a document's live text). `selection` is the configured
 * default (ADAPTIVE_K_*), as the routes resolve it.
 */
export function buildMcpServer(
  container: Container,
  namespace: string,
  opts: { selection: SelectionMethod; signal?: AbortSignal; log?: Logger },
): McpServer {
  const server = new McpServer({ name: 'adaptive-reader', version: '0.1.0' }, { capabilities: { tools: {} } });
  const t: ToolContext = {
    container,
    cfg: container.config,
    namespace,
    opts,
    signal: opts.signal ? { signal: opts.signal } : {},
    log: opts.log ? { log: opts.log } : {},
  };

  addListDocumentsTool(server, t);
  addAskTool(server, t);
  addRetrieveTool(server, t);
  addReadTool(server, t);
  return server;
}

/** What every tool reads: the services, the namespace and the request's default selection, signal and logger. */
interface ToolContext {
  container: Container;
  cfg: Container['config'];
  namespace: string;
  opts: { selection: SelectionMethod };
  /** Spread into a service call: the request's signal, if any. */
  signal: { signal?: AbortSignal };
  /** Spread into a query: the request's logger, if any. */
  log: { log?: Logger };
}

/** The `list_documents` tool. */
function addListDocumentsTool(server: McpServer, t: ToolContext): void {
  const { container, namespace } = t;
  server.registerTool(
    'list_documents',
    {
      title: 'List documents',
      description:
        'The documents of this namespace: id, title, status (only ready ones can be read), size in characters and tokens.',
      inputSchema: {},
      outputSchema: {
        documents: z.array(
          z.object({
            id: z.string(),
            title: z.string(),
            status: z.string(),
            chars: z.number().int(),
            tokens: z.number().int(),
            chunkCount: z.number().int(),
          }),
        ),
        truncated: z.boolean(),
      },
      annotations: { readOnlyHint: true },
    },
    async () => {
      try {
        const documents = [];
        let cursor: string | null = null;
        do {
          const page = await container.documentService.list(namespace, 500, cursor);
          documents.push(
            ...page.items.map((d) => ({
              id: d.id,
              title: d.title,
              status: d.status,
              chars: d.chars,
              tokens: d.tokens,
              chunkCount: d.chunkCount,
            })),
          );
          cursor = page.next;
        } while (cursor !== null && documents.length < MAX_LISTED);
        const listed = documents.slice(0, MAX_LISTED);
        const truncated = cursor !== null || documents.length > MAX_LISTED;
        const text =
          listed.length === 0
            ? 'No documents.'
            : listed.map((d) => `${d.id} (${d.status}, ${d.tokens} tokens): ${d.title}`).join('\n');
        return result(text, { documents: listed, truncated });
      } catch (err) {
        return failed(err);
      }
    },
  );
}

/** The `ask` tool. */
function addAskTool(server: McpServer, t: ToolContext): void {
  const { container, cfg, namespace, opts, signal, log } = t;
  server.registerTool(
    'ask',
    {
      title: 'Ask the documents',
      description:
        'Answers a question from the documents. With strategy auto (default) the router decides how much to read: Adaptive-k retrieval, Chain-of-Agents or the whole text. ' +
        'Returns the answer, its citations (character offsets into the documents, for read) and the decision with its reasons.',
      inputSchema: {
        question: z.string().min(1).max(cfg.MAX_QUESTION_CHARS),
        documentIds,
        strategy: z.enum(['auto', 'rag', 'coa', 'full']).optional().describe('auto (default), rag, coa or full.'),
      },
      outputSchema: {
        answer: z.string(),
        strategy: z.string(),
        extractive: z.boolean(),
        citations: z.array(citation),
        decision: z.record(z.string(), z.unknown()),
      },
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    async ({ question, documentIds: ids, strategy }) => {
      try {
        if (question.trim() === '') throw new AppError('EMPTY_QUESTION');
        const documents = await container.retrieval.resolveScope(namespace, ids ?? null);
        const r = await container.query.query({
          namespace,
          question,
          documentIds: ids ?? null,
          documents,
          strategy: (strategy ?? 'auto') as RequestedStrategy,
          selection: opts.selection,
          score: cfg.RETRIEVAL_SCORE,
          hybridAlpha: DEFAULTS.hybridAlpha,
          ...signal,
          ...log,
        });
        return result(r.answer, {
          answer: r.answer,
          strategy: r.strategy,
          extractive: r.extractive,
          citations: r.citations,
          decision: r.decision as unknown as Record<string, unknown>,
        });
      } catch (err) {
        return failed(err);
      }
    },
  );
}

/** The `retrieve` tool. */
function addRetrieveTool(server: McpServer, t: ToolContext): void {
  const { container, cfg, namespace, opts, signal } = t;
  server.registerTool(
    'retrieve',
    {
      title: 'Retrieve passages',
      description:
        'The passages a question needs, chosen by Adaptive-k (the sorted scores cut at their largest gap), in document order with their character offsets, and a summary of the cut.',
      inputSchema: { question: z.string().min(1).max(cfg.MAX_QUESTION_CHARS), documentIds },
      outputSchema: {
        passages: z.array(
          z.object({
            documentId: z.string(),
            start: z.number().int(),
            end: z.number().int(),
            text: z.string(),
            chunkIds: z.array(z.string()),
          }),
        ),
        adaptiveK: z.object({
          k: z.number().int(),
          candidates: z.number().int(),
          cutIndex: z.number().int().nullable(),
          relativeGap: z.number().nullable(),
          flat: z.boolean().nullable(),
          selectedTokens: z.number().int(),
          documentTokens: z.number().int(),
        }),
      },
      annotations: { readOnlyHint: true },
    },
    async ({ question, documentIds: ids }) => {
      try {
        if (question.trim() === '') throw new AppError('EMPTY_QUESTION');
        const r = await container.retrieval.retrieve({
          namespace,
          question,
          documentIds: ids ?? null,
          method: opts.selection,
          score: cfg.RETRIEVAL_SCORE,
          hybridAlpha: DEFAULTS.hybridAlpha,
          ...signal,
        });
        const adaptiveK = {
          k: r.signals.k,
          candidates: r.signals.candidates,
          cutIndex: r.signals.cutIndex,
          relativeGap: r.signals.relativeGap,
          flat: r.signals.flat,
          selectedTokens: r.tokens.selected,
          documentTokens: r.tokens.documents,
        };
        const text = r.passages.map((p) => `[${p.documentId} ${p.start}-${p.end}]\n${p.text}`).join('\n\n');
        return result(text, { passages: r.passages, adaptiveK });
      } catch (err) {
        return failed(err);
      }
    },
  );
}

/** The `read` tool. */
function addReadTool(server: McpServer, t: ToolContext): void {
  const { container, namespace } = t;
  server.registerTool(
    'read',
    {
      title: 'Read a span',
      description: `Characters start (inclusive) to end (exclusive) of a ready document's text, at most ${MAX_READ_CHARS} at a time; citations and passages give such offsets.`,
      inputSchema: { documentId, start: z.number().int().min(0), end: z.number().int().min(0) },
      outputSchema: {
        documentId: z.string(),
        start: z.number().int(),
        end: z.number().int(),
        chars: z.number().int(),
        text: z.string(),
      },
      annotations: { readOnlyHint: true },
    },
    async ({ documentId: id, start, end }) => {
      try {
        if (end <= start)
          throw new AppError('INVALID_PARAMETER', [`end (${end}) must be greater than start (${start})`]);
        if (end - start > MAX_READ_CHARS)
          throw new AppError('INVALID_PARAMETER', [
            `a read returns at most ${MAX_READ_CHARS} characters; asked for ${end - start}`,
          ]);
        const [doc] = await container.retrieval.resolveScope(namespace, [id]);
        const text = await container.retrieval.getText(namespace, doc!);
        if (start >= text.length)
          throw new AppError('INVALID_PARAMETER', [
            `start (${start}) is past the end of the document (${text.length} characters)`,
          ]);
        const span = text.slice(start, Math.min(end, text.length));
        return result(span, { documentId: id, start, end: start + span.length, chars: text.length, text: span });
      } catch (err) {
        return failed(err);
      }
    },
  );
}
