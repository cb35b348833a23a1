import { Rpc, RpcGroup } from "@effect/rpc"
import { Schema } from "effect"
import { RpcAuthentication } from "../auth/rpc.js"
import { BadRequest, Conflict, Forbidden, NotFound, rpcErrors, Unprocessable } from "../platform/api-errors.js"
import { ActionListParams, ActionPage, AuditLogParams, AuditPage, AuditWindow, ReportListParams, ReportPage, SuspiciousParams } from "./api.js"
import { ActionReason, AuditStats, Dismiss, ModerationAction, NewReport, Report, ReportId, Resolve, SuspiciousActivity } from "./schema.js"

const ByReport = { id: ReportId }

/** A moderation action on one target (a track, comment, message or user id): admins only. */
const moderation = <const Tag extends string>(tag: Tag) =>
  Rpc.make(tag, {
    payload: { id: Schema.UUID, ...ActionReason.fields },
    success: ModerationAction,
    error: rpcErrors(BadRequest, Forbidden, NotFound, Conflict, Unprocessable)
  })

/** The `admin` HttpApi group over RPC: reports from anyone signed in; the audit log, report queue and moderation for admins (`Forbidden` to others). */
export class AdminRpcs extends RpcGroup.make(
  Rpc.make("admin.report", { payload: NewReport, success: Report, error: rpcErrors(BadRequest, NotFound, Conflict, Unprocessable) }),
  Rpc.make("admin.auditLogs", { payload: AuditLogParams, success: AuditPage, error: rpcErrors(BadRequest, Forbidden) }),
  Rpc.make("admin.auditStats", { payload: AuditWindow, success: AuditStats, error: rpcErrors(BadRequest, Forbidden) }),
  Rpc.make("admin.auditSuspicious", { payload: SuspiciousParams, success: SuspiciousActivity, error: rpcErrors(BadRequest, Forbidden) }),
  Rpc.make("admin.reports", { payload: ReportListParams, success: ReportPage, error: rpcErrors(BadRequest, Forbidden) }),
  Rpc.make("admin.getReport", { payload: ByReport, success: Report, error: rpcErrors(Forbidden, NotFound) }),
  Rpc.make("admin.resolveReport", {
    payload: { ...ByReport, resolution: Schema.optional(Resolve) },
    success: Report,
    error: rpcErrors(BadRequest, Forbidden, NotFound, Conflict, Unprocessable)
  }),
  Rpc.make("admin.dismissReport", {
    payload: { ...ByReport, ...Dismiss.fields },
    success: Report,
    error: rpcErrors(BadRequest, Forbidden, NotFound, Conflict, Unprocessable)
  }),
  Rpc.make("admin.actions", { payload: ActionListParams, success: ActionPage, error: rpcErrors(BadRequest, Forbidden) }),
  moderation("admin.hideTrack"),
  moderation("admin.unhideTrack"),
  moderation("admin.deleteTrack"),
  moderation("admin.deleteComment"),
  moderation("admin.deleteMessage"),
  moderation("admin.banUser"),
  moderation("admin.unbanUser")
).middleware(RpcAuthentication) {}
