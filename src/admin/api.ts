import { HttpApiEndpoint, HttpApiGroup } from "@effect/platform"
import { Schema } from "effect"
import { Authentication } from "../auth/api.js"
import { BadRequest, Conflict, Forbidden, NotFound, ServiceUnavailable, Unauthorized, Unprocessable } from "../platform/api-errors.js"
import { Page, PageParams } from "../platform/cursor.js"
import { StoredText } from "../platform/text.js"
import { UserId } from "../users/schema.js"
import {
  ActionReason,
  ActionType,
  AuditEntry,
  AuditStats,
  Dismiss,
  Instant,
  ModerationAction,
  NewReport,
  Reason,
  Report,
  ReportId,
  ReportStatus,
  Resolve,
  SuspiciousActivity,
  TargetType
} from "./schema.js"

const IdPath = Schema.Struct({ id: Schema.UUID })
const ReportPath = Schema.Struct({ id: ReportId })
const ReasonParam = Schema.Struct({ reason: Schema.optional(Reason) })

/** A body whose fields are all optional may be left out entirely (it then arrives as null). */
const OptionalBody = <A, I>(schema: Schema.Schema<A, I>) => Schema.NullOr(schema)

const Window = {
  since: Schema.optional(Instant),
  until: Schema.optional(Instant)
}

export const AuditLogParams = Schema.Struct({
  ...PageParams(200),
  ...Window,
  actor_id: Schema.optional(UserId),
  action: Schema.optional(StoredText.pipe(Schema.maxLength(100))),
  target_type: Schema.optional(StoredText.pipe(Schema.maxLength(50))),
  target_id: Schema.optional(Schema.UUID)
})

export const AuditWindow = Schema.Struct(Window)

export const SuspiciousParams = Schema.Struct({
  since: Schema.optional(Instant),
  min_failures: Schema.optional(
    Schema.NumberFromString.pipe(
      Schema.int({ message: () => "min_failures must be an integer" }),
      Schema.between(1, 1000, { message: () => "min_failures must be between 1 and 1000" })
    )
  )
})

export const ReportListParams = Schema.Struct({
  ...PageParams(100),
  status: Schema.optional(ReportStatus),
  target_type: Schema.optional(TargetType),
  target_id: Schema.optional(Schema.UUID),
  reporter_id: Schema.optional(UserId),
  target_owner_id: Schema.optional(UserId)
})

export const ActionListParams = Schema.Struct({
  ...PageParams(100),
  action: Schema.optional(ActionType),
  target_type: Schema.optional(TargetType),
  target_id: Schema.optional(Schema.UUID),
  moderator_id: Schema.optional(UserId)
})

export const AuditPage = Page(AuditEntry).annotations({ identifier: "AuditPage" })
export const ReportPage = Page(Report).annotations({ identifier: "ModerationReportPage" })
export const ActionPage = Page(ModerationAction).annotations({ identifier: "ModerationActionPage" })

/** A moderation action on one target: admins only, answered with the recorded action. */
const action = <Name extends string, Method extends "POST" | "DELETE">(endpoint: HttpApiEndpoint.HttpApiEndpoint<Name, Method>) =>
  endpoint.setPath(IdPath).addSuccess(ModerationAction).addError(NotFound.envelope).addError(Conflict.envelope).addError(Unprocessable.envelope)

/**
 * Reports from any signed-in user; for admins the audit log (logs, stats,
 * suspicious activity, as the earlier Veza API had them), the report queue
 * and moderation actions. Admin paths answer 403 to everyone else.
 */
export class AdminApi extends HttpApiGroup.make("admin")
  .add(
    HttpApiEndpoint.post("report", "/reports")
      .setPayload(NewReport)
      .addSuccess(Report, { status: 201 })
      .addError(NotFound.envelope)
      .addError(Conflict.envelope)
      .addError(Unprocessable.envelope)
  )
  .add(
    HttpApiEndpoint.get("auditLogs", "/admin/audit/logs")
      .setUrlParams(AuditLogParams)
      .addSuccess(AuditPage)
  )
  .add(HttpApiEndpoint.get("auditStats", "/admin/audit/stats").setUrlParams(AuditWindow).addSuccess(AuditStats))
  .add(
    HttpApiEndpoint.get("auditSuspicious", "/admin/audit/suspicious")
      .setUrlParams(SuspiciousParams)
      .addSuccess(SuspiciousActivity)
  )
  .add(
    HttpApiEndpoint.get("reports", "/admin/reports")
      .setUrlParams(ReportListParams)
      .addSuccess(ReportPage)
  )
  .add(HttpApiEndpoint.get("getReport", "/admin/reports/:id").setPath(ReportPath).addSuccess(Report).addError(NotFound.envelope))
  .add(
    HttpApiEndpoint.post("resolveReport", "/admin/reports/:id/resolve")
      .setPath(ReportPath)
      .setPayload(OptionalBody(Resolve))
      .addSuccess(Report)
      .addError(NotFound.envelope)
      .addError(Conflict.envelope)
      .addError(Unprocessable.envelope)
  )
  .add(
    HttpApiEndpoint.post("dismissReport", "/admin/reports/:id/dismiss")
      .setPath(ReportPath)
      .setPayload(OptionalBody(Dismiss))
      .addSuccess(Report)
      .addError(NotFound.envelope)
      .addError(Conflict.envelope)
      .addError(Unprocessable.envelope)
  )
  .add(
    HttpApiEndpoint.get("actions", "/admin/actions")
      .setUrlParams(ActionListParams)
      .addSuccess(ActionPage)
  )
  .add(action(HttpApiEndpoint.post("hideTrack", "/admin/tracks/:id/hide")).setPayload(OptionalBody(ActionReason)))
  .add(action(HttpApiEndpoint.post("unhideTrack", "/admin/tracks/:id/unhide")).setPayload(OptionalBody(ActionReason)))
  .add(action(HttpApiEndpoint.del("deleteTrack", "/admin/tracks/:id")).setUrlParams(ReasonParam))
  .add(action(HttpApiEndpoint.del("deleteComment", "/admin/comments/:id")).setUrlParams(ReasonParam))
  .add(action(HttpApiEndpoint.del("deleteMessage", "/admin/chat/messages/:id")).setUrlParams(ReasonParam))
  .add(action(HttpApiEndpoint.post("banUser", "/admin/users/:id/ban")).setPayload(OptionalBody(ActionReason)))
  .add(action(HttpApiEndpoint.post("unbanUser", "/admin/users/:id/unban")).setPayload(OptionalBody(ActionReason)))
  .addError(BadRequest.envelope)
  .addError(Unauthorized.envelope)
  .addError(Forbidden.envelope)
  .addError(ServiceUnavailable.envelope)
  .middleware(Authentication) {}
