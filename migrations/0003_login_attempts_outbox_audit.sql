-- Brute-force accounting, the email outbox behind the Mailer, the audit log.

CREATE TYPE email_status AS ENUM ('pending', 'sent', 'failed', 'logged');

CREATE TABLE login_attempts (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  identifier varchar(255) NOT NULL,
  user_id uuid REFERENCES users (id) ON DELETE SET NULL,
  ip_address inet NOT NULL,
  success boolean NOT NULL,
  failure_reason varchar(50),
  user_agent text,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT chk_login_attempts_failure_reason CHECK (success OR failure_reason IS NOT NULL),
  -- 'pending': counted as a failure from before the password check until settled.
  CONSTRAINT chk_login_attempts_failure_reason_known
    CHECK (failure_reason IN ('pending', 'unknown_account', 'invalid_password', 'account_disabled'))
);
CREATE INDEX idx_login_attempts_identifier_created_at ON login_attempts (identifier, created_at DESC);
CREATE INDEX idx_login_attempts_ip_address_created_at ON login_attempts (ip_address, created_at DESC);
CREATE INDEX idx_login_attempts_user_id ON login_attempts (user_id);
CREATE TRIGGER trg_login_attempts_updated_at BEFORE UPDATE ON login_attempts FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TABLE email_outbox (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id uuid REFERENCES users (id) ON DELETE SET NULL,
  to_address varchar(255) NOT NULL,
  template varchar(50) NOT NULL,
  subject varchar(255) NOT NULL,
  body_text text NOT NULL,
  status email_status NOT NULL DEFAULT 'pending',
  attempts integer NOT NULL DEFAULT 0,
  last_error text,
  sent_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT chk_email_outbox_attempts_non_negative CHECK (attempts >= 0),
  CONSTRAINT chk_email_outbox_template CHECK (template IN ('verify_email', 'password_reset'))
);
CREATE INDEX idx_email_outbox_user_id ON email_outbox (user_id);
CREATE INDEX idx_email_outbox_pending ON email_outbox (created_at) WHERE status = 'pending';
CREATE INDEX idx_email_outbox_to_address ON email_outbox (to_address);
CREATE TRIGGER trg_email_outbox_updated_at BEFORE UPDATE ON email_outbox FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TABLE audit_logs (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  actor_id uuid REFERENCES users (id) ON DELETE SET NULL,
  action varchar(100) NOT NULL,
  target_type varchar(50),
  target_id uuid,
  ip_address inet,
  user_agent text,
  request_id varchar(128),
  metadata jsonb NOT NULL DEFAULT '{}'::jsonb,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX idx_audit_logs_actor_id ON audit_logs (actor_id);
CREATE INDEX idx_audit_logs_target ON audit_logs (target_type, target_id);
CREATE INDEX idx_audit_logs_action_created_at ON audit_logs (action, created_at DESC);
CREATE INDEX idx_audit_logs_created_at_desc ON audit_logs (created_at DESC);
CREATE TRIGGER trg_audit_logs_updated_at BEFORE UPDATE ON audit_logs FOR EACH ROW EXECUTE FUNCTION set_updated_at();
