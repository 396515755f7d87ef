-- How many live documents of a namespace hold each analysed term (level one of whole-namespace retrieval weights
-- question terms by it). version_terms keeps each version's distinct terms as a JSON array; `counted` says whether
-- they are in term_documents now (exactly while the version is live), so every change is applied once.
CREATE TABLE version_terms (
  namespace   TEXT NOT NULL,
  document_id TEXT NOT NULL,
  version     TEXT NOT NULL,
  terms       TEXT NOT NULL,
  counted     INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (namespace, document_id, version)
);

CREATE TABLE term_documents (
  namespace TEXT NOT NULL,
  term      TEXT NOT NULL,
  documents INTEGER NOT NULL,
  PRIMARY KEY (namespace, term)
) WITHOUT ROWID;

CREATE TABLE namespace_term_documents (
  namespace TEXT PRIMARY KEY,
  documents INTEGER NOT NULL
);
