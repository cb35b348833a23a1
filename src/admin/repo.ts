import { SqlClient } from "@effect/sql"
import { Effect, Option } from "effect"
import { rowLimit, type TimeCursor, timeCursorColumn } from "../platform/cursor.js"
import type { UserId } from "../users/schema.js"
import type { ActionType, AuditEntry, ModerationAction, Report, ReportId, ReportReason, ReportStatus, TargetType } from "./schema.js"

/** A row of a newest-first list, with its place for the next page's cursor. */
export type Listed<A> = A & { readonly cursor_at: string }

export interface AuditFilters {
  readonly actorId?: UserId | undefined
  readonly action?: string | undefined
  readonly targetType?: string | undefined
  readonly targetId?: string | undefined
  readonly since?: Date | undefined
  readonly until?: Date | undefined
}

export interface ReportFilters {
  readonly status?: ReportStatus | undefined
  readonly targetType?: TargetType | undefined
  readonly targetId?: string | undefined
  readonly reporterId?: UserId | undefined
  readonly targetOwnerId?: UserId | undefined
}

export interface ActionFilters {
  readonly action?: ActionType | undefined
  readonly targetType?: TargetType | undefined
  readonly targetId?: string | undefined
  readonly moderatorId?: UserId | undefined
}

/**
 * The moderation tables, and the read side of the audit log (the admin
 * module's to show; `AuditLog` in src/audit writes it).
 */
export class AdminRepo extends Effect.Service<AdminRepo>()("veza/AdminRepo", {
  effect: Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const after = (cursor: Option.Option<TimeCursor>, at: string, id: string) =>
      Option.match(cursor, {
        onNone: () => sql``,
        onSome: (c) => sql`and (${sql.literal(at)}, ${sql.literal(id)}) < (${c.at}::timestamptz, ${c.id}::uuid)`
      })

    const auditColumns = sql.literal(`
      a.id, a.actor_id, u.username as actor_username, a.action, a.target_type, a.target_id, host(a.ip_address) as ip_address,
      a.user_agent, a.request_id, a.metadata, a.created_at, ${timeCursorColumn("a.created_at")} as cursor_at`)

    const auditLogs = (f: AuditFilters, cursor: Option.Option<TimeCursor>, limit: number) =>
      sql<Listed<AuditEntry>>`
        select ${auditColumns}
          from audit_logs a left join users u on u.id = a.actor_id
         where true
           ${f.actorId === undefined ? sql`` : sql`and a.actor_id = ${f.actorId}`}
           ${f.action === undefined ? sql`` : sql`and a.action = ${f.action}`}
           ${f.targetType === undefined ? sql`` : sql`and a.target_type = ${f.targetType}`}
           ${f.targetId === undefined ? sql`` : sql`and a.target_id = ${f.targetId}`}
           ${f.since === undefined ? sql`` : sql`and a.created_at >= ${f.since}`}
           ${f.until === undefined ? sql`` : sql`and a.created_at < ${f.until}`}
           ${after(cursor, "a.created_at", "a.id")}
         order by a.created_at desc, a.id desc
         limit ${rowLimit(limit + 1)}`

    const auditCounts = (since: Date, until: Date) =>
      sql<{ action: string; count: number }>`
        select action, count(*)::int as count from audit_logs
         where created_at >= ${since} and created_at < ${until}
         group by action order by count desc, action`

    const reportColumns = sql.literal(`
      r.id, r.reporter_id, r.target_type, r.target_id, r.target_owner_id, r.reason, r.details, r.status, r.resolved_by,
      r.resolved_at, r.resolution_note, r.created_at, r.updated_at, ${timeCursorColumn("r.created_at")} as cursor_at,
      (select m.action from moderation_actions m where m.report_id = r.id order by m.created_at desc limit 1) as action`)

    const reportById = (id: ReportId) =>
      sql<Listed<Report>>`select ${reportColumns} from moderation_reports r where r.id = ${id}`.pipe(Effect.map((rows) => Option.fromNullable(rows[0])))

    /** None when the reporter already has an open report of this target (the partial unique index decides). */
    const insertReport = (r: { reporter: UserId; targetType: TargetType; targetId: string; targetOwner: UserId | null; reason: ReportReason; details: string | null }) =>
      sql<{ id: ReportId }>`
        insert into moderation_reports (reporter_id, target_type, target_id, target_owner_id, reason, details)
        values (${r.reporter}, ${r.targetType}, ${r.targetId}, ${r.targetOwner}, ${r.reason}, ${r.details})
        on conflict (reporter_id, target_type, target_id) where status = 'open' do nothing
        returning id`.pipe(Effect.map((rows) => Option.map(Option.fromNullable(rows[0]), (row) => row.id)))

    const reports = (f: ReportFilters, cursor: Option.Option<TimeCursor>, limit: number) =>
      sql<Listed<Report>>`
        select ${reportColumns} from moderation_reports r
         where true
           ${f.status === undefined ? sql`` : sql`and r.status = ${f.status}`}
           ${f.targetType === undefined ? sql`` : sql`and r.target_type = ${f.targetType}`}
           ${f.targetId === undefined ? sql`` : sql`and r.target_id = ${f.targetId}`}
           ${f.reporterId === undefined ? sql`` : sql`and r.reporter_id = ${f.reporterId}`}
           ${f.targetOwnerId === undefined ? sql`` : sql`and r.target_owner_id = ${f.targetOwnerId}`}
           ${after(cursor, "r.created_at", "r.id")}
         order by r.created_at desc, r.id desc
         limit ${rowLimit(limit + 1)}`

    /** Locks the report for the rest of the transaction, so two admins cannot both close it. */
    const lockReport = (id: ReportId) =>
      sql<{ status: ReportStatus; target_type: TargetType; target_id: string; target_owner_id: UserId | null }>`
        select status, target_type, target_id, target_owner_id from moderation_reports where id = ${id} for update`.pipe(
        Effect.map((rows) => Option.fromNullable(rows[0]))
      )

    /**
     * Closes the report; with an action taken, every other open report of the
     * same target is closed with it, since the action answered them all.
     */
    const closeReport = (id: ReportId, c: { status: "resolved" | "dismissed"; by: UserId; note: string | null; acted: boolean }) =>
      sql`
        update moderation_reports
           set status = ${c.status}, resolved_by = ${c.by}, resolved_at = now(), resolution_note = ${c.note}
         where status = 'open'
           and (id = ${id} or (${c.acted} and (target_type, target_id) = (select target_type, target_id from moderation_reports where id = ${id})))`.pipe(
        Effect.asVoid
      )

    const actionColumns = sql.literal(
      `m.id, m.moderator_id, m.action, m.target_type, m.target_id, m.report_id, m.reason, m.created_at, ${timeCursorColumn("m.created_at")} as cursor_at`
    )

    const insertAction = (a: { moderator: UserId; action: ActionType; targetType: TargetType; targetId: string; report: ReportId | null; reason: string | null }) =>
      sql<Listed<ModerationAction>>`
        insert into moderation_actions as m (moderator_id, action, target_type, target_id, report_id, reason)
        values (${a.moderator}, ${a.action}, ${a.targetType}, ${a.targetId}, ${a.report}, ${a.reason})
        returning ${actionColumns}`.pipe(Effect.map((rows) => rows[0]!))

    const actions = (f: ActionFilters, cursor: Option.Option<TimeCursor>, limit: number) =>
      sql<Listed<ModerationAction>>`
        select ${actionColumns} from moderation_actions m
         where true
           ${f.action === undefined ? sql`` : sql`and m.action = ${f.action}`}
           ${f.targetType === undefined ? sql`` : sql`and m.target_type = ${f.targetType}`}
           ${f.targetId === undefined ? sql`` : sql`and m.target_id = ${f.targetId}`}
           ${f.moderatorId === undefined ? sql`` : sql`and m.moderator_id = ${f.moderatorId}`}
           ${after(cursor, "m.created_at", "m.id")}
         order by m.created_at desc, m.id desc
         limit ${rowLimit(limit + 1)}`

    return {
      auditLogs,
      auditCounts,
      reportById,
      insertReport,
      reports,
      lockReport,
      closeReport,
      insertAction,
      actions,
      withTransaction: sql.withTransaction
    } as const
  })
}) {}
