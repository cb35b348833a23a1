-- Playlists join full-text search: title weighs more than description.

ALTER TABLE playlists ADD COLUMN search_vector tsvector GENERATED ALWAYS AS (
  setweight(to_tsvector('simple', search_words(title)), 'A') ||
  setweight(to_tsvector('simple', search_words(description)), 'C')
) STORED;
CREATE INDEX idx_playlists_search_vector_gin ON playlists USING gin (search_vector) WHERE deleted_at IS NULL;
