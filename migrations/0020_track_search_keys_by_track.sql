-- A search of several common words reads the keys of its rarest word in rank
-- order and keeps the tracks that have the other words' keys too
-- (src/search/repo.ts): each check is a probe of this index, answered from
-- the index alone, where reading the track's row and its search vector cost
-- a heap page per candidate. It also serves what the index on track_id alone
-- did (a track's keys, replaced or deleted by the triggers of migration 0014).
CREATE INDEX idx_track_search_keys_track_key ON track_search_keys (track_id, key);
DROP INDEX idx_track_search_keys_track;
