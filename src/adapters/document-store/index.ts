import type { DocumentStore } from '../../ports/document-store.js';
import type { StoreDeps } from '../connections.js';
import { PostgresDocumentStore } from '../postgres/document-store.js';
import type { Registry } from '../registry.js';
import { SqliteDocumentStore } from '../sqlite/document-store.js';

/** The document stores (catalogue, versions, texts) by database; one line per adapter. */
export const documentStores: Registry<'embedded' | 'postgres', StoreDeps, DocumentStore> = Object.freeze({
  embedded: ({ connections }) => new SqliteDocumentStore({ db: connections.sqlite() }),
  postgres: ({ connections }) => new PostgresDocumentStore({ db: connections.postgres() }),
});
