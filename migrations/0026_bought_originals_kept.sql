-- A deleted track's original stays in storage when someone bought a product
-- selling it (a paid order, or one still being paid): buyers keep their
-- downloads, as they do when the product itself is deleted. The purge then
-- removes the track's HLS alone; a null original_key says so.
ALTER TABLE track_storage_purges ALTER COLUMN original_key DROP NOT NULL;
