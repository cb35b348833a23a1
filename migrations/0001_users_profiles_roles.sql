-- Foundation: users, profiles and roles.
-- ORIGIN rules: UUID keys, timestamptz created_at/updated_at with a trigger,
-- soft delete on user-facing rows, explicit ON DELETE and an index on every
-- foreign key, CHECK constraints, enums for statuses.

CREATE EXTENSION IF NOT EXISTS pgcrypto;

CREATE OR REPLACE FUNCTION set_updated_at() RETURNS trigger AS $$
BEGIN
  NEW.updated_at = now();
  RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TYPE user_role AS ENUM ('user', 'creator', 'artist', 'producer', 'label', 'premium', 'admin');
CREATE TYPE visibility AS ENUM ('public', 'unlisted', 'private');

CREATE TABLE users (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  email varchar(255) NOT NULL,
  email_verified_at timestamptz,
  password_hash varchar(255),
  username varchar(30) NOT NULL,
  display_name varchar(100),
  role user_role NOT NULL DEFAULT 'user',
  is_active boolean NOT NULL DEFAULT true,
  is_banned boolean NOT NULL DEFAULT false,
  token_version integer NOT NULL DEFAULT 0,
  last_password_change_at timestamptz,
  last_login_at timestamptz,
  login_count integer NOT NULL DEFAULT 0,
  last_login_ip inet,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  deleted_at timestamptz,
  CONSTRAINT chk_users_email_format CHECK (email ~* '^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$'),
  CONSTRAINT chk_users_email_lowercase CHECK (email = lower(email)),
  CONSTRAINT chk_users_username_format CHECK (username ~ '^[A-Za-z0-9_]{3,30}$'),
  CONSTRAINT chk_users_token_version_non_negative CHECK (token_version >= 0),
  CONSTRAINT chk_users_login_count_non_negative CHECK (login_count >= 0)
);
-- Uniqueness among live accounts only: a soft-deleted account frees its email and name.
CREATE UNIQUE INDEX idx_users_email_unique ON users (email) WHERE deleted_at IS NULL;
CREATE UNIQUE INDEX idx_users_username_lower_unique ON users (lower(username)) WHERE deleted_at IS NULL;
CREATE INDEX idx_users_role ON users (role);
CREATE INDEX idx_users_created_at_desc ON users (created_at DESC);
CREATE INDEX idx_users_deleted_at ON users (deleted_at) WHERE deleted_at IS NOT NULL;
CREATE TRIGGER trg_users_updated_at BEFORE UPDATE ON users FOR EACH ROW EXECUTE FUNCTION set_updated_at();
COMMENT ON COLUMN users.token_version IS 'Incremented to invalidate every access token issued before';

CREATE TABLE user_profiles (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  bio text,
  tagline varchar(255),
  location varchar(255),
  website_url varchar(500),
  avatar_url text,
  banner_url text,
  language varchar(5) NOT NULL DEFAULT 'en',
  timezone varchar(50) NOT NULL DEFAULT 'UTC',
  profile_visibility visibility NOT NULL DEFAULT 'public',
  follower_count integer NOT NULL DEFAULT 0,
  following_count integer NOT NULL DEFAULT 0,
  track_count integer NOT NULL DEFAULT 0,
  playlist_count integer NOT NULL DEFAULT 0,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT chk_user_profiles_bio_length CHECK (char_length(bio) <= 4000),
  CONSTRAINT chk_user_profiles_website_scheme CHECK (website_url ~* '^https?://'),
  CONSTRAINT chk_user_profiles_avatar_scheme CHECK (avatar_url ~* '^https?://'),
  CONSTRAINT chk_user_profiles_banner_scheme CHECK (banner_url ~* '^https?://'),
  CONSTRAINT chk_user_profiles_counts_non_negative CHECK (
    follower_count >= 0 AND following_count >= 0 AND track_count >= 0 AND playlist_count >= 0
  )
);
CREATE UNIQUE INDEX idx_user_profiles_user_id ON user_profiles (user_id);
CREATE TRIGGER trg_user_profiles_updated_at BEFORE UPDATE ON user_profiles FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- Roles held in addition to users.role (the primary role carried in tokens).
CREATE TABLE user_roles (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  role user_role NOT NULL,
  granted_by uuid REFERENCES users (id) ON DELETE SET NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT uq_user_roles_user_role UNIQUE (user_id, role)
);
CREATE INDEX idx_user_roles_user_id ON user_roles (user_id);
CREATE INDEX idx_user_roles_granted_by ON user_roles (granted_by);
CREATE TRIGGER trg_user_roles_updated_at BEFORE UPDATE ON user_roles FOR EACH ROW EXECUTE FUNCTION set_updated_at();

