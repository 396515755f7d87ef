-- How many live documents of a namespace hold each analysed term (level one of whole-namespace retrieval weights
-- question terms by it). version_terms keeps each version's distinct terms, sorted; `counted` says whether they are
-- in term_documents now (exactly while the version is live), so every change is applied once. Terms are updated in
-- their sorted order, so two flips touching the same terms take the row locks in the same order.
CREATE TABLE version_terms (
  namespace   text COLLATE "C" NOT NULL,
  document_id text COLLATE "C" NOT NULL,
  version     text COLLATE "C" NOT NULL,
  terms       text[] NOT NULL,
  counted     boolean NOT NULL DEFAULT false,
  PRIMARY KEY (namespace, document_id, version)
);

CREATE TABLE term_documents (
  namespace text COLLATE "C" NOT NULL,
  term      text COLLATE "C" NOT NULL,
  documents integer NOT NULL,
  PRIMARY KEY (namespace, term)
);

CREATE TABLE namespace_term_documents (
  namespace text COLLATE "C" PRIMARY KEY,
  documents integer NOT NULL
);
