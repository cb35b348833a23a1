-- A playlist's entries whose track is private or hidden are invisible to
-- everyone but the track's owner and admins: not listed, not counted in
-- track_count or total_duration_ms, and not numbered (positions are as the
-- reader sees them). Each entry carries whether its track is concealed so a
-- read finds those few entries by this partial index instead of joining every
-- entry to its track.
--
-- Only the entries are written when a track's visibility changes, never the
-- playlists: a playlist edit holds the playlist's row lock and then
-- share-locks the track it adds, so a visibility change that also locked
-- playlists could deadlock with it.
ALTER TABLE playlist_tracks ADD COLUMN track_concealed boolean NOT NULL DEFAULT false;

UPDATE playlist_tracks pt SET track_concealed = true
  FROM tracks t
 WHERE t.id = pt.track_id AND (t.visibility = 'private' OR t.hidden_at IS NOT NULL);

CREATE INDEX idx_playlist_tracks_concealed ON playlist_tracks (playlist_id, position) INCLUDE (track_id, duration_ms)
  WHERE track_concealed;

-- The track is share-locked, so a concurrent visibility change either
-- commits first (and is read here) or waits for this entry to commit (and
-- then updates it); whatever path inserts the entry.
CREATE OR REPLACE FUNCTION playlist_tracks_set_concealed() RETURNS trigger AS $$
DECLARE
  concealed boolean;
BEGIN
  SELECT t.visibility = 'private' OR t.hidden_at IS NOT NULL INTO concealed FROM tracks t WHERE t.id = NEW.track_id FOR SHARE;
  IF FOUND THEN
    NEW.track_concealed := concealed;
  END IF;
  RETURN NEW;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER trg_playlist_tracks_set_concealed BEFORE INSERT ON playlist_tracks
  FOR EACH ROW EXECUTE FUNCTION playlist_tracks_set_concealed();

-- One track's entries per row changed. A statement changing the visibility of
-- several tracks at once (a ban, migration 0025) holds those tracks while it
-- updates their entries; an add in flight to a playlist holding two of them
-- may hold an entry it needs and wait to share-lock a track it holds.
-- PostgreSQL breaks such a deadlock by failing one of the two, which the API
-- answers 503 DATABASE_CONFLICT, to retry; the statement should lock its
-- tracks in id order first, as 0025 does, so such statements do not
-- deadlock among themselves.
CREATE OR REPLACE FUNCTION tracks_conceal_playlist_entries() RETURNS trigger AS $$
BEGIN
  UPDATE playlist_tracks SET track_concealed = (NEW.visibility = 'private' OR NEW.hidden_at IS NOT NULL)
   WHERE track_id = NEW.id;
  RETURN NULL;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER trg_tracks_conceal_playlist_entries AFTER UPDATE OF visibility, hidden_at ON tracks
  FOR EACH ROW WHEN ((OLD.visibility = 'private' OR OLD.hidden_at IS NOT NULL) IS DISTINCT FROM (NEW.visibility = 'private' OR NEW.hidden_at IS NOT NULL))
  EXECUTE FUNCTION tracks_conceal_playlist_entries();

-- The entries of a playlist a reader does not see: none for admins; a
-- track's owner sees their own. Lists subtract them from the counts, and a
-- page numbers its entries without them. A set-returning SQL function, so
-- PostgreSQL inlines it into the query that calls it; for an anonymous reader
-- it reads the index alone, without looking up the tracks' owners.
CREATE OR REPLACE FUNCTION playlist_concealed_entries(playlist uuid, reader uuid, reader_is_admin boolean)
  RETURNS TABLE (entry_position integer, duration_ms integer) AS $$
  SELECT pt.position, pt.duration_ms
    FROM playlist_tracks pt
   WHERE pt.playlist_id = playlist AND pt.track_concealed AND NOT reader_is_admin
     AND (reader IS NULL OR NOT EXISTS (SELECT 1 FROM tracks t WHERE t.id = pt.track_id AND t.creator_id = reader));
$$ LANGUAGE sql STABLE;
