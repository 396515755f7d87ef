import type { OutgoingHttpHeaders } from 'node:http';
import type { FastifyPluginAsync } from 'fastify';
import { Type } from '@sinclair/typebox';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { buildMcpServer } from '../src/mcp/server.js';
import { abortOnClientClose } from '../src/http/cancel.js';
import { selectionFrom } from './retrieve.js';

const routes: FastifyPluginAsync = async (app) => {
  const cfg = app.container.config;
  const selection = selectionFrom({}, cfg);

  app.post(
    '/mcp',
    {
      schema: {
        tags: ['mcp'],
        summary: 'Model Context Protocol server (Streamable HTTP): tools list_documents, ask, retrieve, read',
        description:
          'For agents that speak MCP. Stateless Streamable HTTP (JSON responses, no session): every POST carries JSON-RPC messages, behind the same API keys as the rest of the API; ' +
          "the tools act in the key's namespace. ask({question, documentIds?, strategy?}) runs the router and returns the answer, citations and decision; " +
          'retrieve({question, documentIds?}) the Adaptive-k passages with offsets and a summary of the cut; read({documentId, start, end}) a span of a document; list_documents({}). ' +
          'A tool that fails returns isError with the stable code first ("DOCUMENTS_NOT_FOUND: …").',
        body: Type.Unknown({ description: 'A JSON-RPC 2.0 message or batch (MCP).' }),
        response: { 200: Type.Unknown({ description: 'JSON-RPC responses.' }), 401: Type.Ref('ErrorBody') },
      },
    },
    async (req, reply) => {
      const signal = abortOnClientClose(reply);
      const server = buildMcpServer(app.container, req.namespace, { selection, signal, log: req.log });
      // Stateless: one server and transport per request, so no session outlives it (or crosses tenants).
      const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
      reply.raw.on('close', () => {
        void transport.close();
        void server.close();
      });
      await server.connect(transport);
      // The transport writes the response itself; headers set so far (request id, CORS) go with it.
      for (const [name, value] of Object.entries(reply.getHeaders() as OutgoingHttpHeaders))
        if (value !== undefined) reply.raw.setHeader(name, value);
      reply.hijack();
      await transport.handleRequest(req.raw, reply.raw, req.body);
      return reply;
    },
  );

  // Stateless: no server-initiated stream to open (GET) and no session to end (DELETE).
  for (const method of ['GET', 'DELETE'] as const) {
    app.route({
      method,
      url: '/mcp',
      // Not in the API description: these only say 405.
      schema: { hide: true },
      handler: async (_req, reply) =>
        reply
          .status(405)
          .header('allow', 'POST')
          .send({
            jsonrpc: '2.0',
            error: { code: -32000, message: 'Method not allowed: this MCP server is stateless, use POST' },
            id: null,
          }),
    });
  }
};

export default routes;
