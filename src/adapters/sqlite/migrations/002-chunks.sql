-- Chunks of document versions with their vectors, the FTS5 index over their
-- texts, and the durable embedding cache (issue 15, part 2).

-- Vectors of each size are a space of their own (like Qdrant's collection per
-- size): a store opened for `dims` reads, writes and deletes only those rows.

-- One row per stored version of a document: `gen` is a fresh random number on
-- every write to the version's chunks, in the same transaction, so a process
-- holding the version's vectors in memory knows with one indexed read whether
-- they are still current (another process may have written since).
CREATE TABLE chunk_versions (
  dims        INTEGER NOT NULL,
  namespace   TEXT NOT NULL,
  document_id TEXT NOT NULL,
  version     TEXT NOT NULL,
  gen         INTEGER NOT NULL,
  PRIMARY KEY (dims, namespace, document_id, version)
) WITHOUT ROWID;

CREATE TABLE chunks (
  seq         INTEGER PRIMARY KEY,            -- rowid: the FTS index's key
  namespace   TEXT NOT NULL,
  id          TEXT NOT NULL,
  document_id TEXT NOT NULL,
  version     TEXT NOT NULL,
  ord         INTEGER NOT NULL,
  start_char  INTEGER NOT NULL,
  end_char    INTEGER NOT NULL,
  tokens      INTEGER NOT NULL,
  text        TEXT NOT NULL,
  dims        INTEGER NOT NULL,
  vector      BLOB NOT NULL                   -- dims float32, little-endian
);
CREATE UNIQUE INDEX chunks_by_id ON chunks (dims, namespace, id);
CREATE INDEX chunks_by_version ON chunks (dims, namespace, document_id, version, ord);

-- External-content FTS5 table: the index only, the texts stay in `chunks`.
-- Porter stemming over unicode61 words, diacritics folded.
CREATE VIRTUAL TABLE chunks_fts USING fts5 (
  text,
  content = 'chunks',
  content_rowid = 'seq',
  tokenize = 'porter unicode61 remove_diacritics 2'
);
CREATE TRIGGER chunks_fts_insert AFTER INSERT ON chunks BEGIN
  INSERT INTO chunks_fts (rowid, text) VALUES (new.seq, new.text);
END;
CREATE TRIGGER chunks_fts_delete AFTER DELETE ON chunks BEGIN
  INSERT INTO chunks_fts (chunks_fts, rowid, text) VALUES ('delete', old.seq, old.text);
END;
CREATE TRIGGER chunks_fts_update AFTER UPDATE OF text ON chunks BEGIN
  INSERT INTO chunks_fts (chunks_fts, rowid, text) VALUES ('delete', old.seq, old.text);
  INSERT INTO chunks_fts (rowid, text) VALUES (new.seq, new.text);
END;

-- Chunk vectors by embedding model and a digest of the chunk text.
CREATE TABLE embedding_cache (
  model  TEXT NOT NULL,
  key    TEXT NOT NULL,
  vector BLOB NOT NULL,                       -- float32, little-endian
  PRIMARY KEY (model, key)
) WITHOUT ROWID;
