import { SqlClient } from "@effect/sql"
import { Effect } from "effect"

export interface AuditEntry {
  readonly actorId: string | null
  readonly action: string
  readonly targetType?: string
  readonly targetId?: string
  readonly ip?: string | null
  readonly userAgent?: string | null
  readonly requestId?: string | null
  readonly metadata?: Record<string, unknown>
}

/** Security and admin actions, written in the caller's transaction when there is one. */
export class AuditLog extends Effect.Service<AuditLog>()("veza/AuditLog", {
  effect: Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const record = (e: AuditEntry) =>
      sql`insert into audit_logs (actor_id, action, target_type, target_id, ip_address, user_agent, request_id, metadata)
          values (${e.actorId}, ${e.action}, ${e.targetType ?? null}, ${e.targetId ?? null}, ${e.ip ?? null},
                  ${e.userAgent ?? null}, ${e.requestId ?? null}, ${JSON.stringify(e.metadata ?? {})}::jsonb)`.pipe(Effect.asVoid)
    return { record } as const
  })
}) {}
