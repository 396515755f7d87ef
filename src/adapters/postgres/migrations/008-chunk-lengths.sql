-- Per document version (and embedding model), how many chunks it has and their summed lengths (lexeme occurrences):
-- BM25's N and average length over a whole namespace are then a sum over its versions, not a scan of every chunk in
-- scope (at 100k chunks that scan was most of a whole-namespace search). Kept by statement-level triggers with
-- transition tables, in the writing statement's transaction, so they always equal count(*) and sum(len) of chunks.
-- Keys are added and subtracted in key order, so two statements touching the same versions lock them in one order.
CREATE TABLE chunk_lengths (
  dims integer NOT NULL,
  namespace text COLLATE "C" NOT NULL,
  document_id text COLLATE "C" NOT NULL,
  version text COLLATE "C" NOT NULL,
  model text COLLATE "C" NOT NULL,
  chunks bigint NOT NULL,
  len bigint NOT NULL,
  PRIMARY KEY (dims, namespace, document_id, version, model)
);

INSERT INTO chunk_lengths
  SELECT dims, namespace, document_id, version, model, count(*), sum(len) FROM chunks GROUP BY 1, 2, 3, 4, 5;

-- search_path pinned to the schema the migration runs in, as bump_namespace_generation (007). The change is read from
-- the statement's transition tables (an upsert that replaced chunks fires UPDATE, with both); the net change per key
-- is applied in key order, then keys left with no chunks go.
CREATE FUNCTION chunk_lengths_changed() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
  delta text := CASE TG_OP
    WHEN 'INSERT' THEN 'SELECT dims, namespace, document_id, version, model, 1 AS chunks, len FROM added'
    WHEN 'DELETE' THEN 'SELECT dims, namespace, document_id, version, model, -1 AS chunks, -len AS len FROM removed'
    ELSE 'SELECT dims, namespace, document_id, version, model, 1 AS chunks, len FROM added UNION ALL '
      'SELECT dims, namespace, document_id, version, model, -1, -len FROM removed'
  END;
BEGIN
  EXECUTE format(
    'INSERT INTO chunk_lengths AS t (dims, namespace, document_id, version, model, chunks, len)
       SELECT dims, namespace, document_id, version, model, sum(chunks), sum(len) FROM (%s) d
       GROUP BY dims, namespace, document_id, version, model ORDER BY dims, namespace, document_id, version, model
       ON CONFLICT (dims, namespace, document_id, version, model)
       DO UPDATE SET chunks = t.chunks + EXCLUDED.chunks, len = t.len + EXCLUDED.len', delta);
  EXECUTE format(
    'DELETE FROM chunk_lengths t USING (SELECT DISTINCT dims, namespace, document_id, version, model FROM (%s) d) g
       WHERE (t.dims, t.namespace, t.document_id, t.version, t.model) = (g.dims, g.namespace, g.document_id, g.version, g.model)
         AND t.chunks = 0', delta);
  RETURN NULL;
END
$$;

CREATE TRIGGER chunks_lengths_insert AFTER INSERT ON chunks REFERENCING NEW TABLE AS added
  FOR EACH STATEMENT EXECUTE FUNCTION chunk_lengths_changed();
CREATE TRIGGER chunks_lengths_update AFTER UPDATE ON chunks REFERENCING OLD TABLE AS removed NEW TABLE AS added
  FOR EACH STATEMENT EXECUTE FUNCTION chunk_lengths_changed();
CREATE TRIGGER chunks_lengths_delete AFTER DELETE ON chunks REFERENCING OLD TABLE AS removed
  FOR EACH STATEMENT EXECUTE FUNCTION chunk_lengths_changed();
