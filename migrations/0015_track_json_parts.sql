-- Each track's JSON as the API writes it, kept ready in the row for HTTP
-- lists: building it per row at read time (row_to_json, a to_char per date,
-- the waveform's jsonb re-read as json) was over half of a list query's
-- PostgreSQL CPU. Kept are the parts that change only when the track itself
-- is edited, around what a list fills in per read: the counters (a like or a
-- play must not rewrite the JSON) and liked_by_me and the owner's fields
-- (per viewer). selectTrackJson in src/tracks/repo.ts joins them;
-- test/platform/encoded-json.test.ts checks the result against the value
-- path, after edits too.

-- `{"id":…` up to and including `"renditions":[…]`, without the closing brace.
-- `waveform` is jsonb, whose text has a space after each comma; it is an array
-- of numbers as JSON.stringify wrote them (rounded peaks), so without the
-- spaces it is the text the value path writes.
CREATE FUNCTION track_json_head(t tracks) RETURNS text LANGUAGE sql STABLE AS $$
  SELECT left(row_to_json(h)::text, -1)
    FROM (SELECT t.id, t.creator_id, t.title, t.description, t.artist, t.album, t.genre, t.tags, t.visibility,
                 t.is_downloadable, t.status, t.duration_ms, t.codec, t.sample_rate, t.channels, t.bit_rate,
                 t.file_size::float8 AS file_size, t.original_filename,
                 CASE WHEN t.status = 'ready' THEN '/hls/' || t.id || '/master.m3u8' END AS hls_url,
                 replace(t.waveform::text, ', ', ',')::json AS waveform, t.renditions) h
$$;

-- `,"published_at":…,"created_at":…,"updated_at":…}`, in Date#toJSON's form.
CREATE FUNCTION track_json_tail(t tracks) RETURNS text LANGUAGE sql STABLE AS $$
  SELECT ',"published_at":' || coalesce('"' || to_char(t.published_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') || '"', 'null')
      || ',"created_at":"' || to_char(t.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
      || '","updated_at":"' || to_char(t.updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') || '"}'
$$;

ALTER TABLE tracks ADD COLUMN json_head text, ADD COLUMN json_tail text;

CREATE FUNCTION tracks_set_json() RETURNS trigger AS $$
BEGIN
  NEW.json_head := track_json_head(NEW);
  NEW.json_tail := track_json_tail(NEW);
  RETURN NEW;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER trg_tracks_written_json_insert BEFORE INSERT ON tracks FOR EACH ROW EXECUTE FUNCTION tracks_set_json();
-- When a column the two functions read changed: not on the counters' updates
-- (every like, comment and counted play). Named to run after
-- trg_tracks_updated_at (BEFORE triggers run in name order), whose change of
-- updated_at it must see.
CREATE TRIGGER trg_tracks_written_json_update BEFORE UPDATE ON tracks FOR EACH ROW
  WHEN ((NEW.id, NEW.creator_id, NEW.title, NEW.description, NEW.artist, NEW.album, NEW.genre, NEW.tags, NEW.visibility,
         NEW.is_downloadable, NEW.status, NEW.duration_ms, NEW.codec, NEW.sample_rate, NEW.channels, NEW.bit_rate,
         NEW.file_size, NEW.original_filename, NEW.waveform, NEW.renditions::text, NEW.published_at, NEW.created_at, NEW.updated_at)
        IS DISTINCT FROM
        (OLD.id, OLD.creator_id, OLD.title, OLD.description, OLD.artist, OLD.album, OLD.genre, OLD.tags, OLD.visibility,
         OLD.is_downloadable, OLD.status, OLD.duration_ms, OLD.codec, OLD.sample_rate, OLD.channels, OLD.bit_rate,
         OLD.file_size, OLD.original_filename, OLD.waveform, OLD.renditions::text, OLD.published_at, OLD.created_at, OLD.updated_at))
  EXECUTE FUNCTION tracks_set_json();

-- Filling the new columns is no edit of the tracks. It rewrites every row
-- (100k tracks: ~25 s on a 2-core machine), longer than the application's
-- statement timeout.
SET LOCAL statement_timeout = 0;
ALTER TABLE tracks DISABLE TRIGGER trg_tracks_updated_at;
UPDATE tracks t SET json_head = track_json_head(t), json_tail = track_json_tail(t);
ALTER TABLE tracks ENABLE TRIGGER trg_tracks_updated_at;

ALTER TABLE tracks ALTER COLUMN json_head SET NOT NULL, ALTER COLUMN json_tail SET NOT NULL;
