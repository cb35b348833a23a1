-- A profile's playlist_count counts the playlists anyone may list on it: the
-- public ones. It counted private and unlisted ones too, telling everyone
-- how many playlists the owner keeps to themselves.
CREATE OR REPLACE FUNCTION playlists_maintain_playlist_count() RETURNS trigger AS $$
DECLARE
  was_counted boolean := TG_OP <> 'INSERT' AND OLD.deleted_at IS NULL AND OLD.visibility = 'public';
  is_counted boolean := TG_OP <> 'DELETE' AND NEW.deleted_at IS NULL AND NEW.visibility = 'public';
BEGIN
  IF was_counted AND NOT is_counted THEN
    UPDATE user_profiles SET playlist_count = playlist_count - 1 WHERE user_id = OLD.user_id;
  ELSIF is_counted AND NOT was_counted THEN
    UPDATE user_profiles SET playlist_count = playlist_count + 1 WHERE user_id = NEW.user_id;
  END IF;
  RETURN NULL;
END;
$$ LANGUAGE plpgsql;
DROP TRIGGER trg_playlists_playlist_count ON playlists;
CREATE TRIGGER trg_playlists_playlist_count AFTER INSERT OR DELETE OR UPDATE OF deleted_at, visibility ON playlists
  FOR EACH ROW EXECUTE FUNCTION playlists_maintain_playlist_count();

UPDATE user_profiles p
   SET playlist_count = (SELECT count(*) FROM playlists l WHERE l.user_id = p.user_id AND l.deleted_at IS NULL AND l.visibility = 'public')
 WHERE playlist_count <> (SELECT count(*) FROM playlists l WHERE l.user_id = p.user_id AND l.deleted_at IS NULL AND l.visibility = 'public');
