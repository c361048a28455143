-- Search beyond vectors: metadata filters, full-text (keyword) search and hybrid search.

-- The text search configuration a corpus's documents are parsed with (pg_ts_config's cfgname),
-- chosen when the corpus is created.
ALTER TABLE corpora ADD COLUMN language text NOT NULL DEFAULT 'english';

-- tsv is to_tsvector(the corpus's language, text), maintained by the store on every write (a
-- generated column cannot read the corpus's language). NULL (a row written by an older release) matches no
-- keyword search until the document is written again.
ALTER TABLE documents ADD COLUMN tsv tsvector;
UPDATE documents SET tsv = to_tsvector('english', text);
CREATE INDEX documents_tsv ON documents USING gin (tsv);

-- Metadata filters are containment (metadata @> '{"field": value}'), which jsonb_path_ops serves.
CREATE INDEX documents_metadata ON documents USING gin (metadata jsonb_path_ops);
