-- Stores the runs of chat messages that several connections sent at once, in
-- one statement and one commit (group commit; see ChatRepo.insertMessages).
-- A PL/pgSQL function so that each pooled connection keeps its plan: planning
-- the statement cost more than running it.
--
-- The messages come as parallel arrays, not one jsonb array: planned
-- generically (as PL/pgSQL plans are after a few calls), a set-returning
-- function over a jsonb parameter is guessed at 100 rows whatever it holds,
-- which made the room lock a sequential scan of chat_rooms. `= ANY` and
-- `unnest` are served with index probes at any size.

CREATE FUNCTION chat_store_runs(p_rooms uuid[], p_senders uuid[], p_client_ids text[], p_contents text[], p_reply_to uuid[])
RETURNS TABLE (ord bigint, created boolean, id uuid, room_id uuid, seq bigint, sender_id uuid, content text,
               reply_to uuid, created_at timestamptz, edited_at timestamptz)
AS $$
#variable_conflict use_column
BEGIN
  -- Rooms are locked in id order, so that batches naming the same rooms cannot deadlock;
  -- the lock also orders concurrent batches: seq order is commit order, with no gaps.
  PERFORM 1 FROM chat_rooms r WHERE r.id = ANY (p_rooms) ORDER BY r.id FOR UPDATE;
  RETURN QUERY
  WITH input AS (
    SELECT t.room, t.sender, t.client_id, t.content, t.reply_to, t.ord
      FROM unnest(p_rooms, p_senders, p_client_ids, p_contents, p_reply_to)
           WITH ORDINALITY AS t(room, sender, client_id, content, reply_to, ord)
  ), existing AS (
    -- LATERAL with LIMIT 1 keeps each lookup an index probe; joined plainly, the
    -- planner may read all of a sender's messages.
    SELECT m.id, m.room_id, m.seq, m.sender_id, m.content, m.reply_to, m.created_at, m.edited_at, i.ord
      FROM input i
     CROSS JOIN LATERAL (SELECT * FROM chat_messages cm
                          WHERE cm.sender_id = i.sender AND cm.client_id = i.client_id LIMIT 1) m
  ), fresh AS (
    SELECT i.room, i.sender, i.client_id, i.content, i.reply_to, i.ord,
           row_number() OVER (PARTITION BY i.room ORDER BY i.ord) AS n
      FROM input i
      -- LIMIT 1 keeps these subqueries from being flattened into joins, which a generic
      -- plan made an index range over every member of the room, filtered by sender.
      JOIN LATERAL (SELECT 1 FROM chat_rooms r WHERE r.id = i.room AND r.deleted_at IS NULL LIMIT 1) room ON true
      JOIN LATERAL (SELECT 1 FROM chat_members cm
                     WHERE cm.room_id = i.room AND cm.user_id = i.sender AND cm.banned_at IS NULL AND NOT cm.muted LIMIT 1) member ON true
      LEFT JOIN LATERAL (SELECT true AS found FROM chat_messages p
                          WHERE p.id = i.reply_to AND p.room_id = i.room AND p.deleted_at IS NULL LIMIT 1) parent ON true
     WHERE NOT EXISTS (SELECT 1 FROM existing e WHERE e.ord = i.ord)
       AND (i.reply_to IS NULL OR parent.found)
  ), counts AS (
    SELECT f.room, count(*) AS stored FROM fresh f GROUP BY f.room
  ), bump AS (
    UPDATE chat_rooms r SET last_seq = r.last_seq + c.stored FROM counts c WHERE r.id = c.room
    RETURNING r.id AS room, r.last_seq - c.stored AS base
  ), inserted AS (
    INSERT INTO chat_messages (room_id, seq, sender_id, client_id, content, reply_to)
    SELECT f.room, b.base + f.n, f.sender, f.client_id, f.content, f.reply_to FROM fresh f JOIN bump b ON b.room = f.room
    RETURNING chat_messages.id, chat_messages.room_id, chat_messages.seq, chat_messages.sender_id, chat_messages.content,
              chat_messages.reply_to, chat_messages.created_at, chat_messages.edited_at, chat_messages.client_id
  )
  SELECT f.ord, true, ins.id, ins.room_id, ins.seq, ins.sender_id, ins.content, ins.reply_to, ins.created_at, ins.edited_at
    FROM inserted ins JOIN fresh f ON f.sender = ins.sender_id AND f.client_id = ins.client_id
  UNION ALL
  SELECT e.ord, false, e.id, e.room_id, e.seq, e.sender_id, e.content, e.reply_to, e.created_at, e.edited_at
    FROM existing e;
END
$$ LANGUAGE plpgsql
-- Its statements are written for index probes whatever the input's size; planning
-- the lock anew on every call (PL/pgSQL's default for it) cost more than running it.
SET plan_cache_mode = force_generic_plan;
