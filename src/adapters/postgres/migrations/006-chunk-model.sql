-- The embedding model that wrote each chunk's vector (the embedder's id), next to its size: two models of one size
-- (a rebuilt static table, two OpenAI models with `dimensions` set) would otherwise fill one space with vectors
-- that cannot be compared. A store reads only its own model's chunks; another model's versions read as absent, so
-- the start re-embeds them (DocumentService.reembedStale), and writing a version with this model deletes the
-- other's chunks of it first. Chunks written before this migration have no model recorded ('', which no
-- embedder's id is): they are re-embedded once, from the durable embedding cache where it holds their vectors.
ALTER TABLE chunks ADD COLUMN model text COLLATE "C" NOT NULL DEFAULT '';
