-- The order texts were stored in (issue 15): a version going live drops, in its
-- transaction, the texts of its document stored before it (DocumentStore
-- UpdateOptions.dropTextsStoredBefore). A text stored again takes a new number.
ALTER TABLE document_texts ADD COLUMN seq bigserial;
