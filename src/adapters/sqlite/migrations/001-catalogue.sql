-- The catalogue of documents, the texts of their versions, API keys and the
-- in-process queue's jobs (issue 15, part 1).

-- One row per document: the DocumentRecord of src/ports/document-store.ts.
-- `pending`, `metadata` and `error` are JSON; the rest are columns.
CREATE TABLE documents (
  namespace   TEXT NOT NULL,
  id          TEXT NOT NULL,
  title       TEXT NOT NULL,
  status      TEXT NOT NULL,
  version     TEXT,
  pending     TEXT,
  chars       INTEGER NOT NULL,
  tokens      INTEGER NOT NULL,
  chunk_count INTEGER NOT NULL,
  metadata    TEXT NOT NULL,
  source      TEXT NOT NULL,
  error       TEXT,
  created_at  TEXT NOT NULL,
  updated_at  TEXT NOT NULL,
  PRIMARY KEY (namespace, id)
) WITHOUT ROWID;
-- The listing order: a page is a range scan of this index after the cursor.
CREATE INDEX documents_by_created ON documents (namespace, created_at, id);

-- The original text of each stored version. `seq` grows with every putText
-- (a re-stored text gets a new one), so "stored before version V" is
-- `seq < seq(V)`: what a version going live drops in the same transaction.
CREATE TABLE document_versions (
  seq         INTEGER PRIMARY KEY AUTOINCREMENT,
  namespace   TEXT NOT NULL,
  document_id TEXT NOT NULL,
  version     TEXT NOT NULL,
  text        TEXT NOT NULL,
  stored_at   TEXT NOT NULL
);
CREATE UNIQUE INDEX document_versions_by_version ON document_versions (namespace, document_id, version);

-- API keys: the sha256 of the secret only, never the secret.
CREATE TABLE api_keys (
  id         TEXT PRIMARY KEY,
  hash       TEXT NOT NULL UNIQUE,
  namespace  TEXT NOT NULL,
  name       TEXT NOT NULL,
  created_at TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX api_keys_by_namespace ON api_keys (namespace, created_at);

-- Jobs of the in-process queue (src/ports/job-store.ts). A job is run by the
-- process whose `owner` id holds an unexpired lease (`lease_until`, epoch ms);
-- `run_at` (epoch ms) is when a waiting or delayed job is due. `seq` keeps
-- the order jobs were accepted in.
CREATE TABLE jobs (
  seq          INTEGER PRIMARY KEY AUTOINCREMENT,
  id           TEXT NOT NULL UNIQUE,
  name         TEXT NOT NULL,
  data         TEXT NOT NULL,
  state        TEXT NOT NULL CHECK (state IN ('waiting', 'active', 'completed', 'failed', 'delayed')),
  attempts     INTEGER NOT NULL,
  max_attempts INTEGER NOT NULL,
  progress     INTEGER NOT NULL,
  result       TEXT,
  error        TEXT,
  created_at   TEXT NOT NULL,
  finished_at  TEXT,
  run_at       INTEGER NOT NULL,
  owner        TEXT,
  lease_until  INTEGER
);
-- What claim looks at: due jobs in order, and runs whose lease ran out.
CREATE INDEX jobs_due ON jobs (state, run_at, seq);
CREATE INDEX jobs_finished ON jobs (finished_at) WHERE finished_at IS NOT NULL;

-- Imports of data written by earlier releases (src/adapters/sqlite/import-0.1.ts):
-- one row once an import has finished, so it runs once.
CREATE TABLE data_imports (
  name        TEXT PRIMARY KEY,
  finished_at TEXT NOT NULL,
  summary     TEXT NOT NULL
) WITHOUT ROWID;
