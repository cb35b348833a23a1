import { SqlClient } from "@effect/sql"
import { Effect, FiberRef } from "effect"
import type { Actor } from "../auth/current-user.js"
import { isAdmin } from "../auth/policy.js"

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

/** Set while a moderation action makes its change through an owning service: the action writes its own entry. */
const recordedByCaller = FiberRef.unsafeMake(false)

/** Security and admin actions, written in the caller's transaction when there is one. */
export class AuditLog extends Effect.Service<AuditLog>()("veza/AuditLog", {
  effect: Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const record = (e: AuditEntry) =>
      sql`insert into audit_logs (actor_id, action, target_type, target_id, ip_address, user_agent, request_id, metadata)
          values (${e.actorId}, ${e.action}, ${e.targetType ?? null}, ${e.targetId ?? null}, ${e.ip ?? null},
                  ${e.userAgent ?? null}, ${e.requestId ?? null}, ${JSON.stringify(e.metadata ?? {})}::jsonb)`.pipe(Effect.asVoid)
    /**
     * `change`, made by `actor` through an owner's own endpoint (an edit, a
     * delete) to what one of `owners` owns. An admin making it for someone
     * else is an admin action: it commits with its audit entry, as the
     * moderation endpoints' actions do. A change answering `false` changed
     * nothing and is not recorded.
     */
    const onBehalf = <A, E, R>(actor: Actor, owners: ReadonlyArray<string>, entry: Omit<AuditEntry, "actorId">, change: Effect.Effect<A, E, R>) =>
      Effect.flatMap(FiberRef.get(recordedByCaller), (recorded) =>
        !recorded && isAdmin(actor) && !owners.includes(actor.id)
          ? sql.withTransaction(Effect.tap(change, (done) => (done === false ? Effect.void : record({ actorId: actor.id, ...entry }))))
          : change
      )
    /** `effect`'s changes through owners' endpoints, recorded by the caller instead (a moderation action's own entry). */
    const recordingItself = <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.locally(effect, recordedByCaller, true)
    return { record, onBehalf, recordingItself } as const
  })
}) {}
