-- Chunked uploads of large files. One chunk_uploads row per (push, file SHA-1) and one push_chunks
-- row per chunk. On Postgres the chunk bytes live in the row (any gateway instance can assemble);
-- with embedded PGlite they live in files under the data directory (data NULL), since the
-- embedded database is a single process anyway and should not carry gigabytes. Chunks are kept
-- until the file is assembled and sent to Netlify, and at most `expires_at` (48 h) otherwise.

CREATE TABLE chunk_uploads (
  push_id      text NOT NULL REFERENCES pushes(id) ON DELETE CASCADE,
  sha1         text NOT NULL,
  path         text NOT NULL,
  chunk_count  integer NOT NULL CHECK (chunk_count BETWEEN 1 AND 10000),
  file_size    bigint NOT NULL,
  state        text NOT NULL DEFAULT 'receiving'
               CHECK (state IN ('receiving', 'assembling', 'uploaded', 'failed', 'expired')),
  error        text,
  created_at   timestamptz NOT NULL DEFAULT now(),
  updated_at   timestamptz NOT NULL DEFAULT now(),
  expires_at   timestamptz NOT NULL,
  PRIMARY KEY (push_id, sha1)
);
CREATE INDEX chunk_uploads_state ON chunk_uploads (state, expires_at);

CREATE TABLE push_chunks (
  push_id     text NOT NULL,
  sha1        text NOT NULL,
  idx         integer NOT NULL CHECK (idx >= 0),
  chunk_sha1  text NOT NULL,
  size        integer NOT NULL CHECK (size > 0),
  data        bytea,
  created_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (push_id, sha1, idx),
  FOREIGN KEY (push_id, sha1) REFERENCES chunk_uploads (push_id, sha1) ON DELETE CASCADE
);
