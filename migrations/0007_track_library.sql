-- The library side of tracks: counters, likes, timestamped comments, plays
-- and listeners, share links, and the queue that removes a deleted track's
-- files from storage.

ALTER TABLE tracks
  ADD COLUMN like_count integer NOT NULL DEFAULT 0,
  ADD COLUMN comment_count integer NOT NULL DEFAULT 0,
  ADD COLUMN play_count integer NOT NULL DEFAULT 0,
  ADD CONSTRAINT chk_tracks_counts_non_negative CHECK (like_count >= 0 AND comment_count >= 0 AND play_count >= 0),
  ADD CONSTRAINT chk_tracks_tags CHECK (cardinality(tags) <= 20);

-- Counters move on every like and play; that is not an edit of the track, so
-- updated_at only moves when something else changed.
CREATE OR REPLACE FUNCTION tracks_set_updated_at() RETURNS trigger AS $$
BEGIN
  IF (to_jsonb(NEW) - ARRAY['like_count', 'comment_count', 'play_count', 'updated_at'])
     IS DISTINCT FROM (to_jsonb(OLD) - ARRAY['like_count', 'comment_count', 'play_count', 'updated_at']) THEN
    NEW.updated_at = now();
  END IF;
  RETURN NEW;
END;
$$ LANGUAGE plpgsql;
DROP TRIGGER trg_tracks_updated_at ON tracks;
CREATE TRIGGER trg_tracks_updated_at BEFORE UPDATE ON tracks FOR EACH ROW EXECUTE FUNCTION tracks_set_updated_at();

-- A profile's track_count is public: it counts the tracks others can see
-- exist, so private tracks stay out of it as they stay out of lists.
CREATE OR REPLACE FUNCTION tracks_maintain_track_count() RETURNS trigger AS $$
DECLARE
  was_counted boolean := TG_OP <> 'INSERT' AND OLD.deleted_at IS NULL AND OLD.visibility <> 'private';
  is_counted boolean := TG_OP <> 'DELETE' AND NEW.deleted_at IS NULL AND NEW.visibility <> 'private';
BEGIN
  IF was_counted AND NOT is_counted THEN
    UPDATE user_profiles SET track_count = track_count - 1 WHERE user_id = OLD.creator_id;
  ELSIF is_counted AND NOT was_counted THEN
    UPDATE user_profiles SET track_count = track_count + 1 WHERE user_id = NEW.creator_id;
  END IF;
  RETURN NULL;
END;
$$ LANGUAGE plpgsql;
DROP TRIGGER trg_tracks_track_count ON tracks;
CREATE TRIGGER trg_tracks_track_count AFTER INSERT OR DELETE OR UPDATE OF deleted_at, visibility ON tracks
  FOR EACH ROW EXECUTE FUNCTION tracks_maintain_track_count();
UPDATE user_profiles p
   SET track_count = (SELECT count(*) FROM tracks t
                       WHERE t.creator_id = p.user_id AND t.deleted_at IS NULL AND t.visibility <> 'private');

-- Listing: newest first with a (created_at, id) cursor, overall and per filter.
DROP INDEX idx_tracks_created_at_desc;
CREATE INDEX idx_tracks_created_at_id_desc ON tracks (created_at DESC, id DESC) WHERE deleted_at IS NULL;
CREATE INDEX idx_tracks_creator_created_at_id ON tracks (creator_id, created_at DESC, id DESC) WHERE deleted_at IS NULL;
CREATE INDEX idx_tracks_genre_lower_created_at ON tracks (lower(genre), created_at DESC, id DESC)
  WHERE deleted_at IS NULL AND genre IS NOT NULL;
CREATE INDEX idx_tracks_tags_gin ON tracks USING GIN (tags) WHERE deleted_at IS NULL;
CREATE INDEX idx_tracks_title_lower_prefix ON tracks (lower(title) text_pattern_ops) WHERE deleted_at IS NULL;

CREATE TABLE track_likes (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  track_id uuid NOT NULL REFERENCES tracks (id) ON DELETE CASCADE,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT uq_track_likes_user_track UNIQUE (user_id, track_id)
);
-- The unique constraint indexes user_id (its first column).
CREATE INDEX idx_track_likes_track_id_created_at ON track_likes (track_id, created_at DESC);
CREATE TRIGGER trg_track_likes_updated_at BEFORE UPDATE ON track_likes FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE OR REPLACE FUNCTION track_likes_maintain_count() RETURNS trigger AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    UPDATE tracks SET like_count = like_count + 1 WHERE id = NEW.track_id;
  ELSE
    UPDATE tracks SET like_count = like_count - 1 WHERE id = OLD.track_id;
  END IF;
  RETURN NULL;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER trg_track_likes_count AFTER INSERT OR DELETE ON track_likes
  FOR EACH ROW EXECUTE FUNCTION track_likes_maintain_count();

CREATE TABLE track_comments (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  track_id uuid NOT NULL REFERENCES tracks (id) ON DELETE CASCADE,
  user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  -- Threads are one level deep: a reply's parent is a top-level comment (checked on insert).
  parent_id uuid REFERENCES track_comments (id) ON DELETE CASCADE,
  -- Where in the track the comment points, within its duration; NULL for the track as a whole.
  position_ms integer,
  content text NOT NULL,
  edited_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  deleted_at timestamptz,
  CONSTRAINT chk_track_comments_content_length CHECK (char_length(content) BETWEEN 1 AND 2000),
  CONSTRAINT chk_track_comments_position CHECK (position_ms IS NULL OR position_ms >= 0),
  CONSTRAINT chk_track_comments_not_own_parent CHECK (parent_id IS NULL OR parent_id <> id)
);
CREATE INDEX idx_track_comments_track_created_at ON track_comments (track_id, created_at, id) WHERE deleted_at IS NULL;
CREATE INDEX idx_track_comments_track_id ON track_comments (track_id);
CREATE INDEX idx_track_comments_user_id ON track_comments (user_id);
CREATE INDEX idx_track_comments_parent_id ON track_comments (parent_id) WHERE parent_id IS NOT NULL;
CREATE TRIGGER trg_track_comments_updated_at BEFORE UPDATE ON track_comments FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- comment_count counts the comments that are not deleted, replies included.
CREATE OR REPLACE FUNCTION track_comments_maintain_count() RETURNS trigger AS $$
BEGIN
  IF TG_OP = 'INSERT' AND NEW.deleted_at IS NULL THEN
    UPDATE tracks SET comment_count = comment_count + 1 WHERE id = NEW.track_id;
  ELSIF TG_OP = 'DELETE' AND OLD.deleted_at IS NULL THEN
    UPDATE tracks SET comment_count = comment_count - 1 WHERE id = OLD.track_id;
  ELSIF TG_OP = 'UPDATE' AND (OLD.deleted_at IS NULL) <> (NEW.deleted_at IS NULL) THEN
    UPDATE tracks SET comment_count = comment_count + CASE WHEN NEW.deleted_at IS NULL THEN 1 ELSE -1 END
     WHERE id = NEW.track_id;
  END IF;
  RETURN NULL;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER trg_track_comments_count AFTER INSERT OR DELETE OR UPDATE OF deleted_at ON track_comments
  FOR EACH ROW EXECUTE FUNCTION track_comments_maintain_count();

-- One row per listener of a track: signed-in users by id, anonymous ones by
-- a keyed hash of their address (never the address itself). It carries the
-- time of the last counted play, so deduplication is one atomic upsert, and
-- its row count is the track's unique listeners.
CREATE TABLE track_listeners (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  track_id uuid NOT NULL REFERENCES tracks (id) ON DELETE CASCADE,
  listener_key varchar(100) NOT NULL,
  user_id uuid REFERENCES users (id) ON DELETE CASCADE,
  play_count integer NOT NULL DEFAULT 0,
  last_counted_at timestamptz NOT NULL DEFAULT now(),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT uq_track_listeners_track_listener UNIQUE (track_id, listener_key),
  CONSTRAINT chk_track_listeners_play_count CHECK (play_count >= 0)
);
CREATE INDEX idx_track_listeners_user_id ON track_listeners (user_id) WHERE user_id IS NOT NULL;
CREATE TRIGGER trg_track_listeners_updated_at BEFORE UPDATE ON track_listeners FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- Counted plays (seed: playback_history); the listener's history reads it.
CREATE TABLE track_plays (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  track_id uuid NOT NULL REFERENCES tracks (id) ON DELETE CASCADE,
  user_id uuid REFERENCES users (id) ON DELETE CASCADE,
  played_ms integer,
  source varchar(50),
  played_at timestamptz NOT NULL DEFAULT now(),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT chk_track_plays_played_ms CHECK (played_ms IS NULL OR played_ms >= 0)
);
CREATE INDEX idx_track_plays_track_id_played_at ON track_plays (track_id, played_at DESC);
CREATE INDEX idx_track_plays_user_played_at ON track_plays (user_id, played_at DESC, id DESC) WHERE user_id IS NOT NULL;
CREATE TRIGGER trg_track_plays_updated_at BEFORE UPDATE ON track_plays FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE OR REPLACE FUNCTION track_plays_maintain_count() RETURNS trigger AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    UPDATE tracks SET play_count = play_count + 1 WHERE id = NEW.track_id;
  ELSE
    UPDATE tracks SET play_count = play_count - 1 WHERE id = OLD.track_id;
  END IF;
  RETURN NULL;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER trg_track_plays_count AFTER INSERT OR DELETE ON track_plays
  FOR EACH ROW EXECUTE FUNCTION track_plays_maintain_count();

-- A share link opens one track, private ones included, until revoked or
-- expired. Only a hash of the token is stored: the table cannot hand out links.
CREATE TABLE track_share_links (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  track_id uuid NOT NULL REFERENCES tracks (id) ON DELETE CASCADE,
  created_by uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  token_hash char(64) NOT NULL,
  expires_at timestamptz,
  revoked_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT uq_track_share_links_token_hash UNIQUE (token_hash),
  CONSTRAINT chk_track_share_links_expiry CHECK (expires_at IS NULL OR expires_at > created_at)
);
CREATE INDEX idx_track_share_links_track_id ON track_share_links (track_id);
CREATE INDEX idx_track_share_links_created_by ON track_share_links (created_by);
CREATE TRIGGER trg_track_share_links_updated_at BEFORE UPDATE ON track_share_links FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- Storage left behind by deleted tracks, queued in the deleting transaction
-- and removed by a sweep that retries until it succeeds (restarts included).
-- Keys are copied here so that the purge survives the track row.
CREATE TABLE track_storage_purges (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  track_id uuid REFERENCES tracks (id) ON DELETE SET NULL,
  original_key varchar(512) NOT NULL,
  hls_prefix varchar(512) NOT NULL,
  attempts integer NOT NULL DEFAULT 0,
  last_error text,
  run_after timestamptz NOT NULL DEFAULT now(),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT chk_track_storage_purges_attempts CHECK (attempts >= 0)
);
CREATE INDEX idx_track_storage_purges_track_id ON track_storage_purges (track_id);
CREATE INDEX idx_track_storage_purges_run_after ON track_storage_purges (run_after);
CREATE TRIGGER trg_track_storage_purges_updated_at BEFORE UPDATE ON track_storage_purges FOR EACH ROW EXECUTE FUNCTION set_updated_at();
