-- A counter per namespace that every write of its documents bumps, in the
-- same transaction, whichever process or connection writes: a reader holding
-- a namespace's listing (RetrievalService, whole-namespace questions) knows
-- with one indexed read whether it is still current. Triggers, so no writer
-- can forget it. Namespaces written before this migration have no row (read
-- as generation 0) until their next write.
CREATE TABLE namespace_generations (
  namespace TEXT PRIMARY KEY,
  gen       INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TRIGGER documents_generation_insert AFTER INSERT ON documents BEGIN
  INSERT INTO namespace_generations (namespace, gen) VALUES (new.namespace, 1)
    ON CONFLICT (namespace) DO UPDATE SET gen = gen + 1;
END;
CREATE TRIGGER documents_generation_update AFTER UPDATE ON documents BEGIN
  INSERT INTO namespace_generations (namespace, gen) VALUES (new.namespace, 1)
    ON CONFLICT (namespace) DO UPDATE SET gen = gen + 1;
END;
CREATE TRIGGER documents_generation_delete AFTER DELETE ON documents BEGIN
  INSERT INTO namespace_generations (namespace, gen) VALUES (old.namespace, 1)
    ON CONFLICT (namespace) DO UPDATE SET gen = gen + 1;
END;
