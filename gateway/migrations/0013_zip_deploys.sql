-- Zip deploys (issue 16). A push whose files Netlify nearly all lacks can go to Netlify as one
-- archive instead of one PUT per file (docs/zip-deploys.md). Such a push keeps the digest deploy
-- that push-init created as its fallback until the zip deploy exists.
--
-- `zip_state` is NULL for a digest push. Otherwise:
--   staging  the client's uploads are kept here, not sent to Netlify;
--   sending  the finalize job is streaming the archive to Netlify;
--   sent     the zip deploy exists: `deploy_id` is it, `digest_deploy_id` the one cancelled;
--   fallback Netlify refused the archive (or it died mid-stream): the kept files go to the digest
--            deploy by PUT, as for any push;
--   done     the fallback PUTs are all in.
ALTER TABLE pushes ADD COLUMN zip_state text
  CHECK (zip_state IN ('staging', 'sending', 'sent', 'fallback', 'done'));
ALTER TABLE pushes ADD COLUMN digest_deploy_id text;

-- One row per distinct SHA-1 of a zip push, made at init: what the archive holds. On Postgres the
-- bytes are in the row (any gateway process builds the archive); with embedded PGlite they are a
-- file under the data directory (data stays NULL), like chunks. `netlify_required` is Netlify's
-- own answer to the digest (what a fallback must PUT); `sent_at` marks a fallback PUT done.
CREATE TABLE push_staged_files (
  push_id           text NOT NULL REFERENCES pushes(id) ON DELETE CASCADE,
  sha1              text NOT NULL,
  size              bigint NOT NULL CHECK (size >= 0),
  netlify_required  boolean NOT NULL,
  data              bytea,
  staged_at         timestamptz,
  sent_at           timestamptz,
  PRIMARY KEY (push_id, sha1)
);
