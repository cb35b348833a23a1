-- Moderation: reports from users, the actions admins take, and the effects
-- those actions need elsewhere (hidden tracks, sessions ended by a ban).

CREATE TYPE moderation_target_type AS ENUM ('track', 'comment', 'message', 'user');
CREATE TYPE moderation_report_reason AS ENUM ('spam', 'harassment', 'hate', 'sexual', 'violence', 'copyright', 'impersonation', 'other');
CREATE TYPE moderation_report_status AS ENUM ('open', 'resolved', 'dismissed');
CREATE TYPE moderation_action_type AS ENUM (
  'hide_track', 'unhide_track', 'delete_track', 'delete_comment', 'delete_message', 'ban_user', 'unban_user'
);

-- A hidden track keeps its owner's visibility setting, so unhiding restores it;
-- until then it is treated as private for everyone but its owner and admins.
ALTER TABLE tracks ADD COLUMN hidden_at timestamptz;

-- Hidden tracks leave the public track_count, as private ones do.
CREATE OR REPLACE FUNCTION tracks_maintain_track_count() RETURNS trigger AS $$
DECLARE
  was_counted boolean := TG_OP <> 'INSERT' AND OLD.deleted_at IS NULL AND OLD.visibility <> 'private' AND OLD.hidden_at IS NULL;
  is_counted boolean := TG_OP <> 'DELETE' AND NEW.deleted_at IS NULL AND NEW.visibility <> 'private' AND NEW.hidden_at IS NULL;
BEGIN
  IF was_counted AND NOT is_counted THEN
    UPDATE user_profiles SET track_count = track_count - 1 WHERE user_id = OLD.creator_id;
  ELSIF is_counted AND NOT was_counted THEN
    UPDATE user_profiles SET track_count = track_count + 1 WHERE user_id = NEW.creator_id;
  END IF;
  RETURN NULL;
END;
$$ LANGUAGE plpgsql;
DROP TRIGGER trg_tracks_track_count ON tracks;
CREATE TRIGGER trg_tracks_track_count AFTER INSERT OR DELETE OR UPDATE OF deleted_at, visibility, hidden_at ON tracks
  FOR EACH ROW EXECUTE FUNCTION tracks_maintain_track_count();

-- A ban ends every session; the family says why it was revoked.
ALTER TABLE refresh_token_families
  DROP CONSTRAINT chk_refresh_token_families_revoked_reason,
  ADD CONSTRAINT chk_refresh_token_families_revoked_reason
    CHECK (revoked_reason IN ('logout', 'logout_all', 'reuse_detected', 'password_reset', 'banned'));

CREATE TABLE moderation_reports (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  -- Reports outlive the accounts involved: they are the record of what was judged.
  reporter_id uuid REFERENCES users (id) ON DELETE SET NULL,
  target_type moderation_target_type NOT NULL,
  -- Polymorphic (track, comment, message or user), so no foreign key; targets are soft-deleted anyway.
  target_id uuid NOT NULL,
  -- Whose content it is (the user themself for a user report): what a ban acts on.
  target_owner_id uuid REFERENCES users (id) ON DELETE SET NULL,
  reason moderation_report_reason NOT NULL,
  details text,
  status moderation_report_status NOT NULL DEFAULT 'open',
  resolved_by uuid REFERENCES users (id) ON DELETE SET NULL,
  resolved_at timestamptz,
  resolution_note text,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT chk_moderation_reports_details_length CHECK (char_length(details) <= 2000),
  CONSTRAINT chk_moderation_reports_note_length CHECK (char_length(resolution_note) <= 2000),
  CONSTRAINT chk_moderation_reports_resolved CHECK ((status = 'open') = (resolved_at IS NULL))
);
-- One open report per reporter and target; a closed one may be reported again.
-- Its first column also serves the reporter_id foreign key.
CREATE UNIQUE INDEX uq_moderation_reports_open_reporter_target ON moderation_reports (reporter_id, target_type, target_id)
  WHERE status = 'open';
CREATE INDEX idx_moderation_reports_status_created_at ON moderation_reports (status, created_at DESC, id DESC);
CREATE INDEX idx_moderation_reports_created_at ON moderation_reports (created_at DESC, id DESC);
CREATE INDEX idx_moderation_reports_target ON moderation_reports (target_type, target_id);
CREATE INDEX idx_moderation_reports_target_owner_id ON moderation_reports (target_owner_id);
CREATE INDEX idx_moderation_reports_resolved_by ON moderation_reports (resolved_by);
CREATE TRIGGER trg_moderation_reports_updated_at BEFORE UPDATE ON moderation_reports FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TABLE moderation_actions (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  moderator_id uuid REFERENCES users (id) ON DELETE SET NULL,
  action moderation_action_type NOT NULL,
  target_type moderation_target_type NOT NULL,
  target_id uuid NOT NULL,
  -- The report this action resolved, when it came from one.
  report_id uuid REFERENCES moderation_reports (id) ON DELETE SET NULL,
  reason text,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT chk_moderation_actions_reason_length CHECK (char_length(reason) <= 2000)
);
CREATE INDEX idx_moderation_actions_moderator_id ON moderation_actions (moderator_id);
CREATE INDEX idx_moderation_actions_report_id ON moderation_actions (report_id);
CREATE INDEX idx_moderation_actions_target ON moderation_actions (target_type, target_id);
CREATE INDEX idx_moderation_actions_created_at ON moderation_actions (created_at DESC, id DESC);
CREATE TRIGGER trg_moderation_actions_updated_at BEFORE UPDATE ON moderation_actions FOR EACH ROW EXECUTE FUNCTION set_updated_at();
