-- Playlists (ordered tracks, collaborators, followers) and the social graph
-- (follows, blocks, notifications). Every count a client reads is kept by a
-- trigger, so no write path can forget one.

CREATE TYPE playlist_collaborator_role AS ENUM ('editor', 'viewer');
CREATE TYPE notification_type AS ENUM ('follow', 'like', 'comment', 'playlist_invite', 'order_paid');

CREATE TABLE playlists (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  title varchar(255) NOT NULL,
  description text,
  visibility visibility NOT NULL DEFAULT 'public',
  is_collaborative boolean NOT NULL DEFAULT false,
  track_count integer NOT NULL DEFAULT 0,
  total_duration_ms bigint NOT NULL DEFAULT 0,
  follower_count integer NOT NULL DEFAULT 0,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  deleted_at timestamptz,
  CONSTRAINT chk_playlists_title_not_blank CHECK (length(btrim(title)) > 0),
  CONSTRAINT chk_playlists_description_length CHECK (char_length(description) <= 5000),
  CONSTRAINT chk_playlists_counts_non_negative CHECK (track_count >= 0 AND total_duration_ms >= 0 AND follower_count >= 0)
);
CREATE INDEX idx_playlists_user_id_created_at ON playlists (user_id, created_at DESC);
CREATE TRIGGER trg_playlists_updated_at BEFORE UPDATE ON playlists FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- The owner's profile counts the playlists that are not deleted.
CREATE OR REPLACE FUNCTION playlists_maintain_playlist_count() RETURNS trigger AS $$
BEGIN
  IF TG_OP = 'INSERT' AND NEW.deleted_at IS NULL THEN
    UPDATE user_profiles SET playlist_count = playlist_count + 1 WHERE user_id = NEW.user_id;
  ELSIF TG_OP = 'DELETE' AND OLD.deleted_at IS NULL THEN
    UPDATE user_profiles SET playlist_count = playlist_count - 1 WHERE user_id = OLD.user_id;
  ELSIF TG_OP = 'UPDATE' AND (OLD.deleted_at IS NULL) <> (NEW.deleted_at IS NULL) THEN
    UPDATE user_profiles SET playlist_count = playlist_count + CASE WHEN NEW.deleted_at IS NULL THEN 1 ELSE -1 END
     WHERE user_id = NEW.user_id;
  END IF;
  RETURN NULL;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER trg_playlists_playlist_count AFTER INSERT OR DELETE OR UPDATE OF deleted_at ON playlists
  FOR EACH ROW EXECUTE FUNCTION playlists_maintain_playlist_count();

-- Positions are 1..track_count with no gaps. Writers lock the playlist row
-- first, so edits of one playlist run one at a time; the unique position is
-- checked at the end of each statement, so a shift can move many rows at once.
CREATE TABLE playlist_tracks (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  playlist_id uuid NOT NULL REFERENCES playlists (id) ON DELETE CASCADE,
  track_id uuid NOT NULL REFERENCES tracks (id) ON DELETE CASCADE,
  position integer NOT NULL,
  -- The track's length when added (it never changes): the total stays right
  -- even when the track row is already gone (a cascading delete).
  duration_ms integer NOT NULL,
  added_by uuid REFERENCES users (id) ON DELETE SET NULL,
  added_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT uq_playlist_tracks_playlist_track UNIQUE (playlist_id, track_id),
  CONSTRAINT uq_playlist_tracks_playlist_position UNIQUE (playlist_id, position) DEFERRABLE INITIALLY IMMEDIATE,
  CONSTRAINT chk_playlist_tracks_position_positive CHECK (position > 0),
  CONSTRAINT chk_playlist_tracks_duration_non_negative CHECK (duration_ms >= 0)
);
CREATE INDEX idx_playlist_tracks_track_id ON playlist_tracks (track_id);
CREATE INDEX idx_playlist_tracks_added_by ON playlist_tracks (added_by);
CREATE TRIGGER trg_playlist_tracks_updated_at BEFORE UPDATE ON playlist_tracks FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE OR REPLACE FUNCTION playlist_tracks_maintain_totals() RETURNS trigger AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    UPDATE playlists SET track_count = track_count + 1, total_duration_ms = total_duration_ms + NEW.duration_ms
     WHERE id = NEW.playlist_id;
  ELSE
    UPDATE playlists SET track_count = track_count - 1, total_duration_ms = total_duration_ms - OLD.duration_ms
     WHERE id = OLD.playlist_id;
  END IF;
  RETURN NULL;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER trg_playlist_tracks_totals AFTER INSERT OR DELETE ON playlist_tracks
  FOR EACH ROW EXECUTE FUNCTION playlist_tracks_maintain_totals();

-- Whatever removed entries (the API, a deleted track, a cascade), the
-- remaining ones close the gap, keeping their order.
CREATE OR REPLACE FUNCTION playlist_tracks_close_gaps() RETURNS trigger AS $$
BEGIN
  UPDATE playlist_tracks pt SET position = ranked.rn
    FROM (SELECT id, row_number() OVER (PARTITION BY playlist_id ORDER BY position)::integer AS rn
            FROM playlist_tracks
           WHERE playlist_id IN (SELECT DISTINCT playlist_id FROM removed)) ranked
   WHERE pt.id = ranked.id AND pt.position <> ranked.rn;
  RETURN NULL;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER trg_playlist_tracks_close_gaps AFTER DELETE ON playlist_tracks
  REFERENCING OLD TABLE AS removed FOR EACH STATEMENT EXECUTE FUNCTION playlist_tracks_close_gaps();

-- A deleted track leaves every playlist (its entries would play nothing).
-- The playlists are locked first, in id order, as every playlist edit locks
-- its playlist before its entries: the same order, so no deadlock with an
-- edit in flight. A hard delete (a cascade from the user) takes the same locks.
CREATE OR REPLACE FUNCTION tracks_leave_playlists() RETURNS trigger AS $$
BEGIN
  PERFORM 1 FROM playlists
    WHERE id IN (SELECT playlist_id FROM playlist_tracks WHERE track_id = OLD.id)
    ORDER BY id FOR UPDATE;
  IF TG_OP = 'DELETE' THEN
    RETURN OLD;
  END IF;
  DELETE FROM playlist_tracks WHERE track_id = NEW.id;
  RETURN NULL;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER trg_tracks_leave_playlists AFTER UPDATE OF deleted_at ON tracks
  FOR EACH ROW WHEN (OLD.deleted_at IS NULL AND NEW.deleted_at IS NOT NULL) EXECUTE FUNCTION tracks_leave_playlists();
CREATE TRIGGER trg_tracks_lock_playlists BEFORE DELETE ON tracks
  FOR EACH ROW EXECUTE FUNCTION tracks_leave_playlists();

-- People the owner invited: editors change the tracks of a collaborative
-- playlist, viewers (and editors) see it even when it is private.
CREATE TABLE playlist_collaborators (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  playlist_id uuid NOT NULL REFERENCES playlists (id) ON DELETE CASCADE,
  user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  role playlist_collaborator_role NOT NULL DEFAULT 'editor',
  invited_by uuid REFERENCES users (id) ON DELETE SET NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT uq_playlist_collaborators_playlist_user UNIQUE (playlist_id, user_id)
);
CREATE INDEX idx_playlist_collaborators_user_id ON playlist_collaborators (user_id);
CREATE INDEX idx_playlist_collaborators_invited_by ON playlist_collaborators (invited_by);
CREATE TRIGGER trg_playlist_collaborators_updated_at BEFORE UPDATE ON playlist_collaborators FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TABLE playlist_follows (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  playlist_id uuid NOT NULL REFERENCES playlists (id) ON DELETE CASCADE,
  user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  created_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT uq_playlist_follows_playlist_user UNIQUE (playlist_id, user_id)
);
CREATE INDEX idx_playlist_follows_user_id_created_at ON playlist_follows (user_id, created_at DESC);

CREATE OR REPLACE FUNCTION playlist_follows_maintain_count() RETURNS trigger AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    UPDATE playlists SET follower_count = follower_count + 1 WHERE id = NEW.playlist_id;
  ELSE
    UPDATE playlists SET follower_count = follower_count - 1 WHERE id = OLD.playlist_id;
  END IF;
  RETURN NULL;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER trg_playlist_follows_count AFTER INSERT OR DELETE ON playlist_follows
  FOR EACH ROW EXECUTE FUNCTION playlist_follows_maintain_count();

CREATE TABLE follows (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  follower_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  following_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  created_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT uq_follows_follower_following UNIQUE (follower_id, following_id),
  CONSTRAINT chk_follows_not_self CHECK (follower_id <> following_id)
);
-- Lists page newest first; the unique constraint covers follower_id lookups by pair.
CREATE INDEX idx_follows_follower_id_created_at ON follows (follower_id, created_at DESC);
CREATE INDEX idx_follows_following_id_created_at ON follows (following_id, created_at DESC);

CREATE OR REPLACE FUNCTION follows_maintain_counts() RETURNS trigger AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    UPDATE user_profiles SET follower_count = follower_count + 1 WHERE user_id = NEW.following_id;
    UPDATE user_profiles SET following_count = following_count + 1 WHERE user_id = NEW.follower_id;
  ELSE
    UPDATE user_profiles SET follower_count = follower_count - 1 WHERE user_id = OLD.following_id;
    UPDATE user_profiles SET following_count = following_count - 1 WHERE user_id = OLD.follower_id;
  END IF;
  RETURN NULL;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER trg_follows_counts AFTER INSERT OR DELETE ON follows
  FOR EACH ROW EXECUTE FUNCTION follows_maintain_counts();

CREATE TABLE blocks (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  blocker_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  blocked_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  created_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT uq_blocks_blocker_blocked UNIQUE (blocker_id, blocked_id),
  CONSTRAINT chk_blocks_not_self CHECK (blocker_id <> blocked_id)
);
CREATE INDEX idx_blocks_blocked_id ON blocks (blocked_id);

-- A block ends follows both ways, whichever path writes it.
CREATE OR REPLACE FUNCTION blocks_remove_follows() RETURNS trigger AS $$
BEGIN
  DELETE FROM follows
   WHERE (follower_id = NEW.blocker_id AND following_id = NEW.blocked_id)
      OR (follower_id = NEW.blocked_id AND following_id = NEW.blocker_id);
  RETURN NULL;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER trg_blocks_remove_follows AFTER INSERT ON blocks
  FOR EACH ROW EXECUTE FUNCTION blocks_remove_follows();

CREATE TABLE notifications (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  type notification_type NOT NULL,
  -- Who caused it; none for what the platform itself reports (an order paid).
  actor_id uuid REFERENCES users (id) ON DELETE CASCADE,
  payload jsonb NOT NULL DEFAULT '{}',
  read_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT chk_notifications_payload_object CHECK (jsonb_typeof(payload) = 'object')
);
CREATE INDEX idx_notifications_user_id_created_at ON notifications (user_id, created_at DESC, id DESC);
CREATE INDEX idx_notifications_user_id_unread ON notifications (user_id, created_at DESC, id DESC) WHERE read_at IS NULL;
CREATE INDEX idx_notifications_actor_id ON notifications (actor_id);
CREATE TRIGGER trg_notifications_updated_at BEFORE UPDATE ON notifications FOR EACH ROW EXECUTE FUNCTION set_updated_at();
