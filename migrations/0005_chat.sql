-- Chat: rooms (public, private, direct messages), their members with roles,
-- mute and ban, messages numbered per room, reactions and read markers.

CREATE TYPE chat_room_type AS ENUM ('public', 'private', 'dm');
CREATE TYPE chat_member_role AS ENUM ('owner', 'moderator', 'member');

CREATE TABLE chat_rooms (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  type chat_room_type NOT NULL,
  name varchar(100),
  description varchar(1000),
  creator_id uuid REFERENCES users (id) ON DELETE SET NULL,
  -- A direct-message room's two members, smaller id first: one room per pair.
  dm_low uuid REFERENCES users (id) ON DELETE CASCADE,
  dm_high uuid REFERENCES users (id) ON DELETE CASCADE,
  -- The seq of the room's last message; bumped in the transaction that stores the next.
  last_seq bigint NOT NULL DEFAULT 0,
  member_count integer NOT NULL DEFAULT 0,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  deleted_at timestamptz,
  CONSTRAINT chk_chat_rooms_name CHECK (type = 'dm' OR (name IS NOT NULL AND length(btrim(name)) > 0)),
  CONSTRAINT chk_chat_rooms_dm_pair CHECK ((type = 'dm') = (dm_low IS NOT NULL AND dm_high IS NOT NULL)),
  CONSTRAINT chk_chat_rooms_dm_order CHECK (dm_low IS NULL OR dm_low < dm_high),
  CONSTRAINT chk_chat_rooms_last_seq CHECK (last_seq >= 0),
  CONSTRAINT chk_chat_rooms_member_count CHECK (member_count >= 0)
);
CREATE UNIQUE INDEX idx_chat_rooms_dm_pair_unique ON chat_rooms (dm_low, dm_high) WHERE type = 'dm';
CREATE INDEX idx_chat_rooms_dm_high ON chat_rooms (dm_high) WHERE dm_high IS NOT NULL;
CREATE INDEX idx_chat_rooms_creator_id ON chat_rooms (creator_id);
CREATE INDEX idx_chat_rooms_public_created_at ON chat_rooms (created_at DESC) WHERE type = 'public' AND deleted_at IS NULL;
CREATE TRIGGER trg_chat_rooms_updated_at BEFORE UPDATE ON chat_rooms FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- A banned member keeps its row (banned_at set) so it cannot simply join again.
CREATE TABLE chat_members (
  room_id uuid NOT NULL REFERENCES chat_rooms (id) ON DELETE CASCADE,
  user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  role chat_member_role NOT NULL DEFAULT 'member',
  muted boolean NOT NULL DEFAULT false,
  banned_at timestamptz,
  -- Read marker: the highest seq this member has read.
  last_read_seq bigint NOT NULL DEFAULT 0,
  joined_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (room_id, user_id),
  CONSTRAINT chk_chat_members_last_read_seq CHECK (last_read_seq >= 0)
);
CREATE INDEX idx_chat_members_user_id ON chat_members (user_id);
CREATE TRIGGER trg_chat_members_updated_at BEFORE UPDATE ON chat_members FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- member_count counts members who are not banned.
CREATE OR REPLACE FUNCTION chat_members_maintain_count() RETURNS trigger AS $$
BEGIN
  IF TG_OP = 'INSERT' AND NEW.banned_at IS NULL THEN
    UPDATE chat_rooms SET member_count = member_count + 1 WHERE id = NEW.room_id;
  ELSIF TG_OP = 'DELETE' AND OLD.banned_at IS NULL THEN
    UPDATE chat_rooms SET member_count = member_count - 1 WHERE id = OLD.room_id;
  ELSIF TG_OP = 'UPDATE' AND (OLD.banned_at IS NULL) <> (NEW.banned_at IS NULL) THEN
    UPDATE chat_rooms SET member_count = member_count + CASE WHEN NEW.banned_at IS NULL THEN 1 ELSE -1 END WHERE id = NEW.room_id;
  END IF;
  RETURN NULL;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER trg_chat_members_count AFTER INSERT OR UPDATE OR DELETE ON chat_members
  FOR EACH ROW EXECUTE FUNCTION chat_members_maintain_count();

CREATE TABLE chat_messages (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  room_id uuid NOT NULL REFERENCES chat_rooms (id) ON DELETE CASCADE,
  seq bigint NOT NULL,
  sender_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  -- The sender's own identifier for the message: a retried send finds it.
  client_id varchar(64) NOT NULL,
  content text NOT NULL,
  reply_to uuid REFERENCES chat_messages (id) ON DELETE SET NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  edited_at timestamptz,
  deleted_at timestamptz,
  CONSTRAINT uq_chat_messages_room_seq UNIQUE (room_id, seq),
  CONSTRAINT uq_chat_messages_sender_client UNIQUE (sender_id, client_id),
  CONSTRAINT chk_chat_messages_seq_positive CHECK (seq > 0),
  CONSTRAINT chk_chat_messages_content_length CHECK (char_length(content) BETWEEN 1 AND 4000),
  CONSTRAINT chk_chat_messages_client_id CHECK (length(client_id) > 0)
);
CREATE INDEX idx_chat_messages_reply_to ON chat_messages (reply_to) WHERE reply_to IS NOT NULL;

CREATE TABLE chat_reactions (
  message_id uuid NOT NULL REFERENCES chat_messages (id) ON DELETE CASCADE,
  user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  emoji varchar(32) NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (message_id, user_id, emoji),
  CONSTRAINT chk_chat_reactions_emoji CHECK (length(emoji) > 0)
);
CREATE INDEX idx_chat_reactions_user_id ON chat_reactions (user_id);
