import { Schema } from "effect"
import { StoredText } from "../platform/text.js"
import { UserId } from "../users/schema.js"

export const ReportId = Schema.UUID.pipe(Schema.brand("ReportId"))
export type ReportId = typeof ReportId.Type

export const ModerationActionId = Schema.UUID.pipe(Schema.brand("ModerationActionId"))
export type ModerationActionId = typeof ModerationActionId.Type

export const TargetType = Schema.Literal("track", "comment", "message", "user")
export type TargetType = typeof TargetType.Type

export const ReportReason = Schema.Literal("spam", "harassment", "hate", "sexual", "violence", "copyright", "impersonation", "other")
export type ReportReason = typeof ReportReason.Type

export const ReportStatus = Schema.Literal("open", "resolved", "dismissed")
export type ReportStatus = typeof ReportStatus.Type

export const ActionType = Schema.Literal("hide_track", "unhide_track", "delete_track", "delete_comment", "delete_message", "ban_user", "unban_user")
export type ActionType = typeof ActionType.Type

/** What resolving a report can do to its target (a ban acts on whoever the target belongs to). */
export const ResolutionAction = Schema.Literal("hide_track", "delete_track", "delete_comment", "delete_message", "ban_user")
export type ResolutionAction = typeof ResolutionAction.Type

/** Free text of at most 2000 characters (code points, as the database counts). */
const Note = (name: string) =>
  StoredText.pipe(Schema.filter((s) => [...s].length <= 2000, { message: () => `${name} must be at most 2000 characters`, jsonSchema: { maxLength: 2000 } }))

/**
 * A point in time PostgreSQL can store: JavaScript dates reach years it
 * refuses, which would fail the query instead of the request.
 */
export const Instant = Schema.Date.pipe(
  Schema.filter((d) => d.getUTCFullYear() >= 1 && d.getUTCFullYear() <= 9999, { message: () => "must be a date between the years 1 and 9999" })
)

export const NewReport = Schema.Struct({
  target_type: TargetType,
  target_id: Schema.UUID,
  reason: ReportReason,
  details: Schema.optional(Schema.NullOr(Note("details")))
}).annotations({ identifier: "NewReport" })
export type NewReport = typeof NewReport.Type

export const Report = Schema.Struct({
  id: ReportId,
  reporter_id: Schema.NullOr(UserId),
  target_type: TargetType,
  target_id: Schema.UUID,
  /** Whose track, comment or message it is; the user themself for a user report. */
  target_owner_id: Schema.NullOr(UserId),
  reason: ReportReason,
  details: Schema.NullOr(Schema.String),
  status: ReportStatus,
  resolved_by: Schema.NullOr(UserId),
  resolved_at: Schema.NullOr(Schema.Date),
  resolution_note: Schema.NullOr(Schema.String),
  /** The action taken when the report was resolved, if any. */
  action: Schema.NullOr(ActionType),
  created_at: Schema.Date,
  updated_at: Schema.Date
}).annotations({ identifier: "ModerationReport" })
export type Report = typeof Report.Type

export const Resolve = Schema.Struct({
  action: Schema.optional(ResolutionAction),
  note: Schema.optional(Note("note"))
}).annotations({ identifier: "ResolveReport" })

export const Dismiss = Schema.Struct({ note: Schema.optional(Note("note")) }).annotations({ identifier: "DismissReport" })

export const Reason = Note("reason")

export const ActionReason = Schema.Struct({ reason: Schema.optional(Reason) }).annotations({ identifier: "ModerationReason" })

export const ModerationAction = Schema.Struct({
  id: ModerationActionId,
  moderator_id: Schema.NullOr(UserId),
  action: ActionType,
  target_type: TargetType,
  target_id: Schema.UUID,
  report_id: Schema.NullOr(ReportId),
  reason: Schema.NullOr(Schema.String),
  created_at: Schema.Date
}).annotations({ identifier: "ModerationAction" })
export type ModerationAction = typeof ModerationAction.Type

export const AuditEntry = Schema.Struct({
  id: Schema.UUID,
  actor_id: Schema.NullOr(UserId),
  actor_username: Schema.NullOr(Schema.String),
  action: Schema.String,
  target_type: Schema.NullOr(Schema.String),
  target_id: Schema.NullOr(Schema.UUID),
  ip_address: Schema.NullOr(Schema.String),
  user_agent: Schema.NullOr(Schema.String),
  request_id: Schema.NullOr(Schema.String),
  metadata: Schema.Record({ key: Schema.String, value: Schema.Unknown }),
  created_at: Schema.Date
}).annotations({ identifier: "AuditEntry" })
export type AuditEntry = typeof AuditEntry.Type

export const AuditStats = Schema.Struct({
  since: Schema.Date,
  until: Schema.Date,
  total: Schema.Int,
  by_action: Schema.Array(Schema.Struct({ action: Schema.String, count: Schema.Int })),
  login_attempts: Schema.Struct({ succeeded: Schema.Int, failed: Schema.Int })
}).annotations({ identifier: "AuditStats" })

export const SuspiciousActivity = Schema.Struct({
  since: Schema.Date,
  min_failures: Schema.Int,
  failed_logins_by_address: Schema.Array(
    Schema.Struct({ ip_address: Schema.String, failures: Schema.Int, accounts: Schema.Int, last_attempt_at: Schema.Date })
  ),
  failed_logins_by_account: Schema.Array(
    Schema.Struct({ identifier: Schema.String, user_id: Schema.NullOr(UserId), failures: Schema.Int, addresses: Schema.Int, last_attempt_at: Schema.Date })
  ),
  /** A rotated refresh token presented again: leaked or raced; its whole session was revoked. */
  refresh_token_reuse: Schema.Array(AuditEntry)
}).annotations({ identifier: "SuspiciousActivity" })
