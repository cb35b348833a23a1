-- Tracks (the original upload and its published HLS), the transcode job queue
-- and the renditions of each publication.

CREATE TYPE track_status AS ENUM ('processing', 'ready', 'failed');
CREATE TYPE transcode_job_status AS ENUM ('queued', 'running', 'done', 'failed');

CREATE TABLE tracks (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  creator_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  title varchar(255) NOT NULL,
  description text,
  artist varchar(255),
  album varchar(255),
  genre varchar(100),
  tags text[] NOT NULL DEFAULT '{}',
  visibility visibility NOT NULL DEFAULT 'public',
  is_downloadable boolean NOT NULL DEFAULT false,
  status track_status NOT NULL DEFAULT 'processing',
  -- The original file as uploaded (seed 001: where it lives travels with the row).
  original_filename varchar(255) NOT NULL,
  format_name varchar(100) NOT NULL,
  file_size bigint NOT NULL,
  storage_backend varchar(16) NOT NULL,
  storage_key varchar(512) NOT NULL,
  -- What ffprobe measured.
  duration_ms integer NOT NULL,
  codec varchar(50) NOT NULL,
  sample_rate integer,
  channels smallint,
  bit_rate integer,
  -- The published HLS: every object under this prefix exists once it is set.
  hls_backend varchar(16),
  hls_prefix varchar(512),
  waveform jsonb,
  published_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  deleted_at timestamptz,
  CONSTRAINT chk_tracks_title_not_blank CHECK (length(btrim(title)) > 0),
  CONSTRAINT chk_tracks_file_size_positive CHECK (file_size > 0),
  CONSTRAINT chk_tracks_duration_positive CHECK (duration_ms > 0),
  CONSTRAINT chk_tracks_storage_backend CHECK (storage_backend IN ('local', 's3')),
  CONSTRAINT chk_tracks_hls_backend CHECK (hls_backend IN ('local', 's3')),
  CONSTRAINT chk_tracks_hls_complete CHECK ((hls_prefix IS NULL) = (hls_backend IS NULL)),
  CONSTRAINT chk_tracks_ready_has_hls CHECK (status <> 'ready' OR hls_prefix IS NOT NULL),
  CONSTRAINT chk_tracks_channels_positive CHECK (channels IS NULL OR channels > 0),
  CONSTRAINT chk_tracks_sample_rate_positive CHECK (sample_rate IS NULL OR sample_rate > 0)
);
CREATE INDEX idx_tracks_creator_id_created_at ON tracks (creator_id, created_at DESC);
CREATE INDEX idx_tracks_created_at_desc ON tracks (created_at DESC) WHERE deleted_at IS NULL;
CREATE TRIGGER trg_tracks_updated_at BEFORE UPDATE ON tracks FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- The creator's profile counts the tracks that are not deleted.
CREATE OR REPLACE FUNCTION tracks_maintain_track_count() RETURNS trigger AS $$
BEGIN
  IF TG_OP = 'INSERT' AND NEW.deleted_at IS NULL THEN
    UPDATE user_profiles SET track_count = track_count + 1 WHERE user_id = NEW.creator_id;
  ELSIF TG_OP = 'DELETE' AND OLD.deleted_at IS NULL THEN
    UPDATE user_profiles SET track_count = track_count - 1 WHERE user_id = OLD.creator_id;
  ELSIF TG_OP = 'UPDATE' AND (OLD.deleted_at IS NULL) <> (NEW.deleted_at IS NULL) THEN
    UPDATE user_profiles SET track_count = track_count + CASE WHEN NEW.deleted_at IS NULL THEN 1 ELSE -1 END
     WHERE user_id = NEW.creator_id;
  END IF;
  RETURN NULL;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER trg_tracks_track_count AFTER INSERT OR DELETE OR UPDATE OF deleted_at ON tracks
  FOR EACH ROW EXECUTE FUNCTION tracks_maintain_track_count();

CREATE TABLE transcode_jobs (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  track_id uuid NOT NULL REFERENCES tracks (id) ON DELETE CASCADE,
  status transcode_job_status NOT NULL DEFAULT 'queued',
  -- Counts claims: a worker that crashes uses one up; a graceful release gives it back.
  attempts integer NOT NULL DEFAULT 0,
  max_attempts integer NOT NULL,
  run_after timestamptz NOT NULL DEFAULT now(),
  progress smallint NOT NULL DEFAULT 0,
  last_error text,
  lease_owner varchar(200),
  lease_expires_at timestamptz,
  -- Where the running attempt writes; deleted unless it gets published.
  output_prefix varchar(512),
  started_at timestamptz,
  finished_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT chk_transcode_jobs_attempts CHECK (attempts >= 0 AND max_attempts > 0),
  CONSTRAINT chk_transcode_jobs_progress CHECK (progress BETWEEN 0 AND 100),
  CONSTRAINT chk_transcode_jobs_lease CHECK (
    (status = 'running') = (lease_owner IS NOT NULL AND lease_expires_at IS NOT NULL)
  )
);
CREATE INDEX idx_transcode_jobs_track_id ON transcode_jobs (track_id);
CREATE INDEX idx_transcode_jobs_queued_run_after ON transcode_jobs (run_after) WHERE status = 'queued';
CREATE INDEX idx_transcode_jobs_running_lease ON transcode_jobs (lease_expires_at) WHERE status = 'running';
-- At most one job in flight per track: a second transcode request waits for the first.
CREATE UNIQUE INDEX idx_transcode_jobs_one_active_per_track ON transcode_jobs (track_id)
  WHERE status IN ('queued', 'running');
CREATE TRIGGER trg_transcode_jobs_updated_at BEFORE UPDATE ON transcode_jobs FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TABLE hls_renditions (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  track_id uuid NOT NULL REFERENCES tracks (id) ON DELETE CASCADE,
  job_id uuid NOT NULL REFERENCES transcode_jobs (id) ON DELETE CASCADE,
  bitrate_kbps integer NOT NULL,
  codecs varchar(100) NOT NULL,
  bandwidth integer NOT NULL,
  average_bandwidth integer NOT NULL,
  playlist_path varchar(200) NOT NULL,
  segment_count integer NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT uq_hls_renditions_job_bitrate UNIQUE (job_id, bitrate_kbps),
  CONSTRAINT chk_hls_renditions_positive CHECK (
    bitrate_kbps > 0 AND bandwidth > 0 AND average_bandwidth > 0 AND segment_count > 0
  )
);
CREATE INDEX idx_hls_renditions_track_id ON hls_renditions (track_id);
CREATE TRIGGER trg_hls_renditions_updated_at BEFORE UPDATE ON hls_renditions FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- Prefixes replaced by a newer publication. Players that loaded the old
-- playlists keep fetching its segments for a while, so they are deleted
-- later, by whichever stream worker finds them due.
CREATE TABLE hls_retired_prefixes (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  track_id uuid REFERENCES tracks (id) ON DELETE SET NULL,
  prefix varchar(512) NOT NULL,
  delete_after timestamptz NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT uq_hls_retired_prefixes_prefix UNIQUE (prefix)
);
CREATE INDEX idx_hls_retired_prefixes_track_id ON hls_retired_prefixes (track_id);
CREATE INDEX idx_hls_retired_prefixes_delete_after ON hls_retired_prefixes (delete_after);
CREATE TRIGGER trg_hls_retired_prefixes_updated_at BEFORE UPDATE ON hls_retired_prefixes FOR EACH ROW EXECUTE FUNCTION set_updated_at();
