-- A deleted track's original stays in storage when someone bought a product
-- selling it (a paid order, or one still being paid): buyers keep their
-- downloads, as they do when the product itself is deleted. The track says
-- so (original_kept, decided as it is deleted), and its purge then removes
-- the HLS alone: a null original_key. Tracks deleted before this had their
-- originals removed already: not kept.
ALTER TABLE tracks ADD COLUMN original_kept boolean NOT NULL DEFAULT false;
ALTER TABLE track_storage_purges ALTER COLUMN original_key DROP NOT NULL;
