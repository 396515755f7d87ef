-- The embedding model that wrote each version's vectors (the embedder's id), next to their size: two models of
-- one size (a rebuilt static table, two OpenAI models with `dimensions` set) fill one space with vectors that
-- cannot be compared. A store reads only its own model's versions; another model's read as absent, so the start
-- re-embeds them (DocumentService.reembedStale), and writing a version with this model replaces the other's.
-- Versions written before this migration have no model recorded ('', which no embedder's id is): they are
-- re-embedded once, from the durable embedding cache where it holds their vectors.
ALTER TABLE chunk_versions ADD COLUMN model TEXT NOT NULL DEFAULT '';
