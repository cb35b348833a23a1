-- Track search keys: an index that yields a query's matches in rank order,
-- so a page of type-ahead reads its ~21 entries instead of ranking every
-- match (the GIN index answers `@@` as an unordered bitmap, and ts_rank needs
-- each match's row: a common prefix was thousands of rows per page).
--
-- One row per publicly listed track (public, ready, not hidden, not deleted,
-- creator not deleted) and per key a search word can be:
-- - every prefix of 3 to 64 characters of each of its words (lexemes), as
--   words of 3 characters and more are searched as prefixes
--   (MIN_PREFIX_LENGTH in src/search/service.ts), truncated to 64
--   (MAX_WORD_LENGTH), and
-- - each word of 1 or 2 characters itself, as those match whole words only;
-- with rank = ts_rank of the track's search_vector against that one-word
-- query, the very value (a real) the GIN path computes for it: ranks and
-- cursors do not depend on which path answered.
--
-- Other viewers' extra tracks (an owner's non-listed ones, everything for
-- admins) are few and still found through the GIN index (src/search/repo.ts).
--
-- No primary key or foreign key: ~24 keys a track (2.4M rows for the demo's
-- 100k tracks), whose bulk insert (the demo seed's) took 74 s with them and
-- 27 s without. The triggers below are the only writers; a track's refreshes
-- are serialised by its row lock and its creator's (see
-- refresh_track_search_keys), and hard deletes have a trigger of their own.
CREATE TABLE track_search_keys (
  key text NOT NULL,
  rank real NOT NULL,
  track_id uuid NOT NULL
);

CREATE FUNCTION track_search_keys_of(v tsvector) RETURNS TABLE (key text, rank real) AS $$
  SELECT k.key,
         ts_rank(v, ('''' || replace(replace(k.key, '\', '\\'), '''', '''''') || '''' || CASE WHEN length(k.key) < 3 THEN '' ELSE ':*' END)::tsquery)
    FROM (SELECT DISTINCT CASE WHEN length(w) < 3 THEN w ELSE left(w, n) END AS key
            FROM unnest(tsvector_to_array(v)) w, generate_series(3, greatest(3, least(64, length(w)))) n) k
$$ LANGUAGE sql IMMUTABLE PARALLEL SAFE;

-- Replaces the keys of these tracks by those their rows call for now. The
-- creators' rows are locked FOR SHARE first: an account being deleted
-- concurrently (which refreshes all its tracks) then either waits for this
-- transaction or is seen deleted by it, so no key of a deleted account's
-- track survives the race.
CREATE FUNCTION refresh_track_search_keys(ids uuid[]) RETURNS void AS $$
BEGIN
  PERFORM 1 FROM users u WHERE u.id IN (SELECT t.creator_id FROM tracks t WHERE t.id = ANY (ids)) FOR SHARE OF u;
  DELETE FROM track_search_keys WHERE track_id = ANY (ids);
  -- In the index's order: a bulk insert then walks its pages once.
  INSERT INTO track_search_keys (key, rank, track_id)
  SELECT k.key, k.rank, t.id
    FROM tracks t JOIN users u ON u.id = t.creator_id, track_search_keys_of(t.search_vector) k
   WHERE t.id = ANY (ids) AND t.visibility = 'public' AND t.status = 'ready' AND t.hidden_at IS NULL
     AND t.deleted_at IS NULL AND u.deleted_at IS NULL
   ORDER BY 1, 2, 3;
END
$$ LANGUAGE plpgsql;

SELECT refresh_track_search_keys(ARRAY(SELECT id FROM tracks WHERE deleted_at IS NULL));
-- Built after the fill: sorted once instead of 2.4M insertions.
-- Read backwards: a key's matches by rank, then id, both descending (the
-- search's order and keyset cursor).
CREATE INDEX idx_track_search_keys_key_rank ON track_search_keys (key, rank, track_id);
CREATE INDEX idx_track_search_keys_track ON track_search_keys (track_id);
-- Statistics now, not when autovacuum gets to it: without them the planner
-- guessed the join of a two-word search badly (48 ms instead of ~5 ms alone,
-- on a database migrated from a full seed).
ANALYZE track_search_keys;

-- Per statement, so a bulk insert (the demo seed's 100k tracks) is one set-based refresh.
CREATE FUNCTION track_search_keys_inserted() RETURNS trigger AS $$
BEGIN
  PERFORM refresh_track_search_keys(ARRAY(SELECT id FROM inserted_tracks));
  RETURN NULL;
END
$$ LANGUAGE plpgsql;
CREATE TRIGGER trg_track_search_keys_insert AFTER INSERT ON tracks
  REFERENCING NEW TABLE AS inserted_tracks FOR EACH STATEMENT EXECUTE FUNCTION track_search_keys_inserted();

-- Per row with a column list (transition tables allow none): the counters'
-- updates (likes, plays, comments) do not fire it at all.
CREATE FUNCTION track_search_keys_updated() RETURNS trigger AS $$
BEGIN
  PERFORM refresh_track_search_keys(ARRAY[NEW.id]);
  RETURN NULL;
END
$$ LANGUAGE plpgsql;
CREATE TRIGGER trg_track_search_keys_update
  AFTER UPDATE OF title, artist, tags, description, visibility, status, hidden_at, deleted_at, creator_id ON tracks FOR EACH ROW
  WHEN (OLD.search_vector IS DISTINCT FROM NEW.search_vector OR OLD.visibility <> NEW.visibility OR OLD.status <> NEW.status
        OR (OLD.hidden_at IS NULL) <> (NEW.hidden_at IS NULL) OR (OLD.deleted_at IS NULL) <> (NEW.deleted_at IS NULL)
        OR OLD.creator_id <> NEW.creator_id)
  EXECUTE FUNCTION track_search_keys_updated();

CREATE FUNCTION track_search_keys_creator_updated() RETURNS trigger AS $$
BEGIN
  PERFORM refresh_track_search_keys(ARRAY(SELECT t.id FROM tracks t WHERE t.creator_id = NEW.id));
  RETURN NULL;
END
$$ LANGUAGE plpgsql;
CREATE TRIGGER trg_track_search_keys_creator AFTER UPDATE OF deleted_at ON users FOR EACH ROW
  WHEN ((OLD.deleted_at IS NULL) <> (NEW.deleted_at IS NULL))
  EXECUTE FUNCTION track_search_keys_creator_updated();

-- Hard deletes: a track's own, and its creator's account (cascading to its tracks).
CREATE FUNCTION track_search_keys_deleted() RETURNS trigger AS $$
BEGIN
  DELETE FROM track_search_keys WHERE track_id IN (SELECT id FROM deleted_tracks);
  RETURN NULL;
END
$$ LANGUAGE plpgsql;
CREATE TRIGGER trg_track_search_keys_delete AFTER DELETE ON tracks
  REFERENCING OLD TABLE AS deleted_tracks FOR EACH STATEMENT EXECUTE FUNCTION track_search_keys_deleted();
