-- A block ends what the two shared: follows both ways (0008), and now an
-- invitation of either to the other's playlists, which let the blocked user
-- keep reading a private playlist of the blocker and editing its tracks.
CREATE OR REPLACE FUNCTION blocks_remove_follows() RETURNS trigger AS $$
BEGIN
  DELETE FROM follows
   WHERE (follower_id = NEW.blocker_id AND following_id = NEW.blocked_id)
      OR (follower_id = NEW.blocked_id AND following_id = NEW.blocker_id);
  DELETE FROM playlist_collaborators c USING playlists p
   WHERE p.id = c.playlist_id
     AND ((p.user_id = NEW.blocker_id AND c.user_id = NEW.blocked_id)
       OR (p.user_id = NEW.blocked_id AND c.user_id = NEW.blocker_id));
  RETURN NULL;
END;
$$ LANGUAGE plpgsql;

-- What the blocks made before this migration left behind.
DELETE FROM playlist_collaborators c USING playlists p, blocks b
 WHERE p.id = c.playlist_id
   AND ((p.user_id = b.blocker_id AND c.user_id = b.blocked_id)
     OR (p.user_id = b.blocked_id AND c.user_id = b.blocker_id));
