-- One FTS5 index per namespace and vector size instead of one for the file.
-- FTS5's bm25() reads its statistics (row count, average length, each
-- phrase's row count) from the whole table it searches, so with one table a
-- namespace's ranking depended on every other namespace in the file: on the
-- LaRA dev half split in two namespaces, 16% of one's questions read other
-- documents once the other was loaded (docs/library.md). The tables are
-- contentless (the texts stay in `chunks`) with contentless_delete, so a row
-- is removed by its rowid alone. Their names depend on the namespace, which a
-- trigger cannot choose, so the store writes them in the transaction that
-- writes the chunks (SqliteVectorStore, fts-tables.ts) and this registry maps
-- each (dims, namespace) to its table `chunks_fts_<tbl>`. The rows indexed
-- before are indexed again by the store when it opens the file
-- (indexUnindexed), one namespace at a time.
CREATE TABLE chunk_fts_tables (
  dims      INTEGER NOT NULL,
  namespace TEXT NOT NULL,
  tbl       INTEGER NOT NULL UNIQUE,
  PRIMARY KEY (dims, namespace)
) WITHOUT ROWID;
DROP TRIGGER chunks_fts_insert;
DROP TRIGGER chunks_fts_delete;
DROP TRIGGER chunks_fts_update;
DROP TABLE chunks_fts;
