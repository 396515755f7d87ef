-- The catalogue: one row per document (the DocumentRecord as JSON), the texts of its versions, and API keys
-- (the ApiKeyRecord as JSON, its lookup fields as columns).
CREATE TABLE documents (
  namespace text COLLATE "C" NOT NULL,
  id text COLLATE "C" NOT NULL,
  created_at text COLLATE "C" NOT NULL,
  record text NOT NULL,
  PRIMARY KEY (namespace, id)
);
CREATE INDEX documents_by_created ON documents (namespace, created_at, id);

CREATE TABLE document_texts (
  namespace text COLLATE "C" NOT NULL,
  id text COLLATE "C" NOT NULL,
  version text COLLATE "C" NOT NULL,
  body bytea NOT NULL,
  PRIMARY KEY (namespace, id, version)
);

CREATE TABLE api_keys (
  hash text COLLATE "C" PRIMARY KEY,
  id text COLLATE "C" NOT NULL UNIQUE,
  namespace text COLLATE "C" NOT NULL,
  created_at text COLLATE "C" NOT NULL,
  record text NOT NULL
);
