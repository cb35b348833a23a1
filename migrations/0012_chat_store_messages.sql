-- Stores a run of chat messages from one sender to one room (see ChatRepo.insertMessages).
-- A function rather than a statement sent each time: PL/pgSQL keeps the plan per
-- connection, and planning this statement cost more than running it.
CREATE FUNCTION chat_store_messages(p_room uuid, p_sender uuid, p_messages jsonb)
RETURNS TABLE (ord bigint, created boolean, id uuid, room_id uuid, seq bigint, sender_id uuid, content text,
               reply_to uuid, created_at timestamptz, edited_at timestamptz)
AS $$
#variable_conflict use_column
BEGIN
  RETURN QUERY
  WITH input AS (
    SELECT e->>'client_id' AS client_id, e->>'content' AS content, (e->>'reply_to')::uuid AS reply_to, t.ord
      FROM jsonb_array_elements(p_messages) WITH ORDINALITY AS t(e, ord)
  ), existing AS (
    -- LATERAL with LIMIT 1 keeps each lookup an index probe; joined plainly, the
    -- planner may read all of the sender's messages.
    SELECT m.id, m.room_id, m.seq, m.sender_id, m.content, m.reply_to, m.created_at, m.edited_at, i.ord
      FROM input i
     CROSS JOIN LATERAL (SELECT * FROM chat_messages cm
                          WHERE cm.sender_id = p_sender AND cm.client_id = i.client_id LIMIT 1) m
  ), fresh AS (
    SELECT i.client_id, i.content, i.reply_to, i.ord, row_number() OVER (ORDER BY i.ord) AS n
      FROM input i
      LEFT JOIN LATERAL (SELECT true AS found FROM chat_messages p
                          WHERE p.id = i.reply_to AND p.room_id = p_room AND p.deleted_at IS NULL LIMIT 1) parent ON true
     WHERE NOT EXISTS (SELECT 1 FROM existing e WHERE e.ord = i.ord)
       AND (i.reply_to IS NULL OR parent.found)
  ), bump AS (
    -- The room row's lock orders concurrent runs: seq order is commit order, with no gaps.
    UPDATE chat_rooms r SET last_seq = r.last_seq + (SELECT count(*) FROM fresh)
     WHERE r.id = p_room AND r.deleted_at IS NULL
       AND EXISTS (SELECT 1 FROM fresh)
       AND EXISTS (SELECT 1 FROM chat_members cm
                    WHERE cm.room_id = p_room AND cm.user_id = p_sender AND cm.banned_at IS NULL AND NOT cm.muted)
    RETURNING r.last_seq - (SELECT count(*) FROM fresh) AS base
  ), inserted AS (
    INSERT INTO chat_messages (room_id, seq, sender_id, client_id, content, reply_to)
    SELECT p_room, bump.base + f.n, p_sender, f.client_id, f.content, f.reply_to FROM fresh f CROSS JOIN bump
    RETURNING chat_messages.id, chat_messages.room_id, chat_messages.seq, chat_messages.sender_id, chat_messages.content,
              chat_messages.reply_to, chat_messages.created_at, chat_messages.edited_at, chat_messages.client_id
  )
  SELECT f.ord, true, ins.id, ins.room_id, ins.seq, ins.sender_id, ins.content, ins.reply_to, ins.created_at, ins.edited_at
    FROM inserted ins JOIN fresh f ON f.client_id = ins.client_id
  UNION ALL
  SELECT e.ord, false, e.id, e.room_id, e.seq, e.sender_id, e.content, e.reply_to, e.created_at, e.edited_at
    FROM existing e;
END
$$ LANGUAGE plpgsql;
