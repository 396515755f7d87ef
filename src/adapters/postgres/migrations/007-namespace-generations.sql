-- A counter per namespace that every write of its documents bumps, in the same transaction as the write, whichever
-- replica or worker writes: a reader holding a namespace's listing (RetrievalService, whole-namespace questions)
-- knows with one primary-key read whether it is still current. A trigger, so no writer can forget it. Namespaces
-- written before this migration have no row (read as generation 0) until their next write. Writes of one namespace
-- take this row's lock until they commit; namespace_term_documents already serialises a namespace's live-version
-- changes the same way.
CREATE TABLE namespace_generations (
  namespace text COLLATE "C" PRIMARY KEY,
  gen bigint NOT NULL
);

-- search_path pinned to the schema the migration runs in: the trigger finds its table whatever the writing session's
-- search_path is.
CREATE FUNCTION bump_namespace_generation() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
  INSERT INTO namespace_generations (namespace, gen)
    VALUES (CASE WHEN TG_OP = 'DELETE' THEN OLD.namespace ELSE NEW.namespace END, 1)
    ON CONFLICT (namespace) DO UPDATE SET gen = namespace_generations.gen + 1;
  RETURN NULL;
END
$$;

CREATE TRIGGER documents_generation AFTER INSERT OR UPDATE OR DELETE ON documents
  FOR EACH ROW EXECUTE FUNCTION bump_namespace_generation();
