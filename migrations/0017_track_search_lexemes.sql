-- The words of track search vectors: what a search of several words turns
-- each of its prefixes into (src/search/repo.ts). The GIN index reads a
-- prefix (`night:*`) by merging the posting lists of every word it begins
-- into a bitmap before ANDing it with the other words': ~2.6 ms for
-- `night:* & dri:*` on the demo seed, where `night` alone is in 11k tracks.
-- The same query over the words themselves (`night & (drift | drifting)`)
-- lets the index skip through the common word's list to the rare word's
-- entries: ~0.15 ms.
--
-- Only ever added to: a word no track has any more stays, one more
-- alternative that matches nothing. So a search misses no word, and no
-- write has to count the tracks left with a word. Every track's words, of
-- whatever visibility: the owner's and admins' searches find non-listed
-- tracks by the same query.
--
-- Byte order (COLLATE "C"), as tsquery compares a prefix: a prefix's words
-- are one range of the primary key.
CREATE TABLE track_search_lexemes (
  lexeme text COLLATE "C" PRIMARY KEY
);

-- A lexeme as a tsquery operand, quoted whatever characters it holds.
CREATE FUNCTION tsquery_operand(lexeme text) RETURNS text AS $$
  SELECT '''' || replace(replace(lexeme, '\', '\\'), '''', '''''') || ''''
$$ LANGUAGE sql IMMUTABLE PARALLEL SAFE;

-- Sorted: concurrent writers adding the same new words take their keys in
-- one order, so they wait on each other rather than deadlock.
CREATE FUNCTION add_track_search_lexemes(vectors tsvector[]) RETURNS void AS $$
  INSERT INTO track_search_lexemes (lexeme)
  SELECT DISTINCT w FROM unnest(vectors) v, unnest(tsvector_to_array(v)) w ORDER BY 1
  ON CONFLICT DO NOTHING;
$$ LANGUAGE sql;

-- The existing tracks' words, set-based rather than as one array of every vector.
INSERT INTO track_search_lexemes (lexeme)
SELECT DISTINCT w FROM tracks t, unnest(tsvector_to_array(t.search_vector)) w ORDER BY 1;
ANALYZE track_search_lexemes;

-- Per statement, so a bulk insert (the demo seed's 100k tracks) is one insert here.
CREATE FUNCTION track_search_lexemes_inserted() RETURNS trigger AS $$
BEGIN
  PERFORM add_track_search_lexemes(ARRAY(SELECT search_vector FROM inserted_tracks));
  RETURN NULL;
END
$$ LANGUAGE plpgsql;
CREATE TRIGGER trg_track_search_lexemes_insert AFTER INSERT ON tracks
  REFERENCING NEW TABLE AS inserted_tracks FOR EACH STATEMENT EXECUTE FUNCTION track_search_lexemes_inserted();

-- The generated search_vector cannot be named in UPDATE OF: the columns it is made of are.
CREATE FUNCTION track_search_lexemes_updated() RETURNS trigger AS $$
BEGIN
  PERFORM add_track_search_lexemes(ARRAY[NEW.search_vector]);
  RETURN NULL;
END
$$ LANGUAGE plpgsql;
CREATE TRIGGER trg_track_search_lexemes_update
  AFTER UPDATE OF title, artist, tags, description ON tracks FOR EACH ROW
  WHEN (OLD.search_vector IS DISTINCT FROM NEW.search_vector)
  EXECUTE FUNCTION track_search_lexemes_updated();
