-- Chunks of document versions with their vectors (float32, little-endian) and a full-text index, for
-- VECTOR_STORE=postgres; and the durable embedding cache. `dims` keeps embedders of different sizes apart,
-- as the embedded store's d<dims> folders and Qdrant's per-size collections do.
CREATE TABLE chunks (
  dims integer NOT NULL,
  namespace text COLLATE "C" NOT NULL,
  id text COLLATE "C" NOT NULL,
  document_id text COLLATE "C" NOT NULL,
  version text COLLATE "C" NOT NULL,
  ord integer NOT NULL,
  start_at integer NOT NULL,
  end_at integer NOT NULL,
  tokens integer NOT NULL,
  body bytea NOT NULL,
  vector bytea NOT NULL,
  lexemes tsvector NOT NULL,
  -- Lexeme occurrences in the chunk (its length for BM25's length normalisation).
  len integer NOT NULL,
  PRIMARY KEY (dims, namespace, id)
);
CREATE INDEX chunks_by_version ON chunks (dims, namespace, document_id, version, ord);
CREATE INDEX chunks_lexemes ON chunks USING gin (lexemes);

CREATE TABLE embedding_cache (
  model text COLLATE "C" NOT NULL,
  key text COLLATE "C" NOT NULL,
  vector bytea NOT NULL,
  PRIMARY KEY (model, key)
);
