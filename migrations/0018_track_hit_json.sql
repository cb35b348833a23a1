-- Each track's search hit (TrackHit in src/search/schema.ts) as the API
-- writes it, kept ready in the row as lists keep the track's JSON (migration
-- 0015): building a page's 21 hits at read time (row_to_json of each, a
-- to_char for its date) was ~100 µs of a ~170 µs search in PostgreSQL. Kept
-- are the parts around what a search fills in per read: the creator's
-- username (a rename must not rewrite every track of the account) and the
-- rank. src/search/repo.ts joins them; test/platform/encoded-json.test.ts
-- checks the bytes against the schema.

-- `{"type":"track","id":…` up to and including `"creator_id":…`.
CREATE FUNCTION track_hit_json_head(t tracks) RETURNS text LANGUAGE sql STABLE AS $$
  SELECT left(row_to_json(h)::text, -1)
    FROM (SELECT 'track' AS type, t.id, t.title, t.artist, t.creator_id) h
$$;

-- `,"genre":…` up to and including `"created_at":…`, in Date#toJSON's form,
-- without the closing brace: the rank follows.
CREATE FUNCTION track_hit_json_tail(t tracks) RETURNS text LANGUAGE sql STABLE AS $$
  SELECT ',' || substr(left(row_to_json(h)::text, -1), 2)
    FROM (SELECT t.genre, t.tags, t.duration_ms, t.visibility,
                 to_char(t.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS created_at) h
$$;

ALTER TABLE tracks ADD COLUMN hit_json_head text, ADD COLUMN hit_json_tail text;

-- The trigger of migration 0015 fills these too: its update condition covers
-- every column they read.
CREATE OR REPLACE FUNCTION tracks_set_json() RETURNS trigger AS $$
BEGIN
  NEW.json_head := track_json_head(NEW);
  NEW.json_tail := track_json_tail(NEW);
  NEW.hit_json_head := track_hit_json_head(NEW);
  NEW.hit_json_tail := track_hit_json_tail(NEW);
  RETURN NEW;
END;
$$ LANGUAGE plpgsql;

-- Filling the new columns is no edit of the tracks. It rewrites every row
-- (100k tracks: ~25 s on a 2-core machine), longer than the application's
-- statement timeout.
SET LOCAL statement_timeout = 0;
ALTER TABLE tracks DISABLE TRIGGER trg_tracks_updated_at;
UPDATE tracks t SET hit_json_head = track_hit_json_head(t), hit_json_tail = track_hit_json_tail(t);
ALTER TABLE tracks ENABLE TRIGGER trg_tracks_updated_at;
-- The rewrite gave each index a new entry per row. A GIN index queues its
-- new entries in a pending list that every search reads through until
-- (auto)vacuum merges it: 19k entries made `night dri` 4 ms instead of
-- 0.5 in PostgreSQL on the migrated demo seed. Merged here instead.
SELECT gin_clean_pending_list(i.indexrelid)
  FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am a ON a.oid = c.relam
 WHERE i.indrelid = 'tracks'::regclass AND a.amname = 'gin';
ANALYZE tracks;

ALTER TABLE tracks ALTER COLUMN hit_json_head SET NOT NULL, ALTER COLUMN hit_json_tail SET NOT NULL;
