-- A banned account's tracks are hidden as a moderator hides one: every read
-- that leaves hidden tracks out (lists, search, feeds, playlists, HLS, the
-- profile's track_count) leaves them out, through the triggers hidden_at
-- already has. `hidden_by_ban` tells which ones the ban hid, so lifting it
-- shows those again and leaves hidden the ones a moderator hid themselves.
ALTER TABLE tracks ADD COLUMN hidden_by_ban boolean NOT NULL DEFAULT false;

-- The tracks are locked in id order first, as one statement changing the
-- visibility of several tracks must (see migration 0021): a moderator's hide
-- of one of them waits for the ban, or the ban for it.
CREATE OR REPLACE FUNCTION users_ban_hides_tracks() RETURNS trigger AS $$
BEGIN
  IF NEW.is_banned THEN
    UPDATE tracks SET hidden_at = now(), hidden_by_ban = true
     WHERE id IN (SELECT id FROM tracks WHERE creator_id = NEW.id AND hidden_at IS NULL AND deleted_at IS NULL ORDER BY id FOR UPDATE);
  ELSE
    UPDATE tracks SET hidden_at = NULL, hidden_by_ban = false
     WHERE id IN (SELECT id FROM tracks WHERE creator_id = NEW.id AND hidden_by_ban ORDER BY id FOR UPDATE);
  END IF;
  RETURN NULL;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER trg_users_ban_hides_tracks AFTER UPDATE OF is_banned ON users
  FOR EACH ROW WHEN (OLD.is_banned IS DISTINCT FROM NEW.is_banned) EXECUTE FUNCTION users_ban_hides_tracks();

-- A track inserted as its creator is banned (an upload that began before
-- the ban) is hidden by it too: the creator's row is share-locked, so the
-- ban either commits first and is read here, or waits and then hides it.
CREATE OR REPLACE FUNCTION tracks_born_under_ban() RETURNS trigger AS $$
BEGIN
  IF (SELECT u.is_banned FROM users u WHERE u.id = NEW.creator_id FOR SHARE) AND NEW.hidden_at IS NULL THEN
    NEW.hidden_at := now();
    NEW.hidden_by_ban := true;
  END IF;
  RETURN NEW;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER trg_tracks_born_under_ban BEFORE INSERT ON tracks
  FOR EACH ROW EXECUTE FUNCTION tracks_born_under_ban();

-- Accounts banned before this migration.
UPDATE tracks t SET hidden_at = now(), hidden_by_ban = true
  FROM users u
 WHERE u.id = t.creator_id AND u.is_banned AND t.hidden_at IS NULL AND t.deleted_at IS NULL;
