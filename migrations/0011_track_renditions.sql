-- The published ladder, copied onto the track by the publication that writes
-- hls_renditions (same transaction). Every track a list or page shows carries
-- it, and building it per row from hls_renditions (a lookup, a sort and a JSON
-- value per track) was ~85% of a list query's execution time.
-- `json`, not `jsonb`: it keeps the keys in the order the API writes them.
ALTER TABLE tracks ADD COLUMN renditions json NOT NULL DEFAULT '[]';

-- Copying the ladder changes nothing a listener would call an update.
ALTER TABLE tracks DISABLE TRIGGER trg_tracks_updated_at;
UPDATE tracks t
   SET renditions = r.ladder
  FROM (SELECT track_id,
               json_agg(json_build_object('bitrate_kbps', bitrate_kbps, 'bandwidth', bandwidth,
                                          'average_bandwidth', average_bandwidth, 'codecs', codecs)
                        ORDER BY bitrate_kbps) AS ladder
          FROM hls_renditions GROUP BY track_id) r
 WHERE r.track_id = t.id;
ALTER TABLE tracks ENABLE TRIGGER trg_tracks_updated_at;
