-- The lexical search's scope test (lexical-search.ts): for each FTS5 hit it
-- reads the chunk's namespace, size, document and version by rowid. A chunk
-- row holds its vector (2 KiB at 512 dimensions), so each such read is a page
-- of the table of its own; this index holds just those columns, about sixty
-- chunks a page, and covers the join.
CREATE INDEX chunks_scope ON chunks (seq, namespace, dims, document_id, version);
