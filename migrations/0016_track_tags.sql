-- Publicly listed tracks by tag, newest first: what a list filtered by tags
-- reads (src/tracks/library-repo.ts). Neither index on `tracks` serves such a
-- list at every tag's frequency: walking the newest tracks and skipping those
-- without the tag reads ~170 rows (1.7 ms, each row a page of its own) for a
-- common tag and the whole table for a rare one (20 ms, and the planner
-- cannot tell the two apart for a tag outside its statistics), while the
-- tags' GIN index finds a common tag's ~10k tracks unordered (25 ms to sort
-- them by date). Here a tag's page is the next entries of its key.
--
-- One row per tag of each track that anonymous lists show (public, ready, not
-- hidden, not deleted); the viewer's own other tracks are found by creator.
CREATE TABLE track_tags (
  tag text NOT NULL,
  created_at timestamptz NOT NULL,
  track_id uuid NOT NULL REFERENCES tracks (id) ON DELETE CASCADE,
  -- Read backwards: newest first, then id, both descending (the lists' order and keyset cursor).
  PRIMARY KEY (tag, created_at, track_id)
);
CREATE INDEX idx_track_tags_track_id ON track_tags (track_id);

-- Replaces the rows of these tracks by those their rows call for now. A
-- track's refreshes are serialised by its row lock, which the write that
-- fires them holds.
CREATE FUNCTION refresh_track_tags(ids uuid[]) RETURNS void AS $$
  DELETE FROM track_tags WHERE track_id = ANY (ids);
  INSERT INTO track_tags (tag, created_at, track_id)
  SELECT DISTINCT g.tag, t.created_at, t.id
    FROM tracks t, unnest(t.tags) g(tag)
   WHERE t.id = ANY (ids) AND t.deleted_at IS NULL AND t.visibility = 'public' AND t.status = 'ready' AND t.hidden_at IS NULL
   ORDER BY 1, 2, 3;
$$ LANGUAGE sql;

SELECT refresh_track_tags(ARRAY(SELECT id FROM tracks WHERE deleted_at IS NULL));
ANALYZE track_tags;

-- Per statement, so a bulk insert is one set-based refresh.
CREATE FUNCTION track_tags_inserted() RETURNS trigger AS $$
BEGIN
  PERFORM refresh_track_tags(ARRAY(SELECT id FROM inserted_tracks));
  RETURN NULL;
END
$$ LANGUAGE plpgsql;
CREATE TRIGGER trg_track_tags_insert AFTER INSERT ON tracks
  REFERENCING NEW TABLE AS inserted_tracks FOR EACH STATEMENT EXECUTE FUNCTION track_tags_inserted();

-- The counters' updates (likes, plays, comments) do not fire it.
CREATE FUNCTION track_tags_updated() RETURNS trigger AS $$
BEGIN
  PERFORM refresh_track_tags(ARRAY[NEW.id]);
  RETURN NULL;
END
$$ LANGUAGE plpgsql;
CREATE TRIGGER trg_track_tags_update
  AFTER UPDATE OF tags, created_at, visibility, status, hidden_at, deleted_at ON tracks FOR EACH ROW
  WHEN (OLD.tags IS DISTINCT FROM NEW.tags OR OLD.created_at <> NEW.created_at OR OLD.visibility <> NEW.visibility
        OR OLD.status <> NEW.status OR (OLD.hidden_at IS NULL) <> (NEW.hidden_at IS NULL)
        OR (OLD.deleted_at IS NULL) <> (NEW.deleted_at IS NULL))
  EXECUTE FUNCTION track_tags_updated();
