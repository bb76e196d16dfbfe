-- Education content review (docs/patient.md, "Education content"): a professional with a reviewer
-- role for the article's program approves one version of it, named by the SHA-256 of its file.
-- An article is shown to patients only while a review matches its current hash; a change to the
-- file makes it a draft again. Reviews are kept (who, when, which version) and audited.
CREATE TABLE content_reviews (
  id            bigserial PRIMARY KEY,
  article_id    text NOT NULL,
  content_hash  text NOT NULL CHECK (content_hash ~ '^[0-9a-f]{64}$'),
  reviewed_by   text NOT NULL REFERENCES professionals(id),
  reviewer_role text NOT NULL,
  reviewed_at   timestamptz NOT NULL,
  UNIQUE (article_id, content_hash, reviewed_by)
);
CREATE INDEX content_reviews_version ON content_reviews (article_id, content_hash, reviewed_at);
