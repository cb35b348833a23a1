-- Playlist search leaves out the playlists of deleted accounts with an anti
-- join on this index, which holds only the deleted accounts (none, usually),
-- instead of looking up the owner of every playlist that matches.
CREATE INDEX idx_users_deleted ON users (id) WHERE deleted_at IS NOT NULL;
