-- Assembly of a chunked file may start while its chunks are still arriving (streamed to Netlify
-- chunk by chunk). Whoever sends a file to Netlify holds this lease first, so a streaming attempt
-- and the assembly queued when the last chunk lands never upload the same file at once, across
-- gateway processes too. A lease that is not renewed (its process died) lapses at `lease_until`.

ALTER TABLE chunk_uploads ADD COLUMN lease_owner text;
ALTER TABLE chunk_uploads ADD COLUMN lease_until timestamptz;
