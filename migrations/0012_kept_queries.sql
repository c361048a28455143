-- Recent search queries, kept per corpus only when the operator opts in (corpora.keep_queries), so
-- that a re-embed's quality preview can ask real queries besides the documents' own text. Queries may
-- hold user data: nothing is kept by default, turning the setting off deletes a corpus's queries in
-- the same transaction, and the store keeps at most the newest 1,000 per corpus, none older than 30
-- days (trimmed by each insert).
ALTER TABLE corpora ADD COLUMN keep_queries boolean NOT NULL DEFAULT false;

CREATE TABLE corpus_queries (
    corpus_id bigint NOT NULL REFERENCES corpora (id) ON DELETE CASCADE,
    query     text NOT NULL,
    mode      text NOT NULL,
    asked_at  timestamptz NOT NULL
);
-- The newest first, and the trim's range scans.
CREATE INDEX corpus_queries_recent ON corpus_queries (corpus_id, asked_at);
