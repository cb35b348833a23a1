import type { Headers } from "@effect/platform"
import { HttpApiBuilder } from "@effect/platform"
import { Effect } from "effect"
import { VezaApi } from "../api.js"
import { withActor } from "../auth/current-user.js"
import { policyUse } from "../auth/policy.js"
import { ClientInfoReader } from "../platform/client-info.js"
import type { ActionListParams, AuditLogParams, AuditWindow, ReportListParams, SuspiciousParams } from "./api.js"
import { canModerate } from "./policy.js"
import { AdminRpcs } from "./rpc.js"
import type { ActionType, Dismiss, NewReport, ReportId, Resolve } from "./schema.js"
import { Admin } from "./service.js"

const DEFAULT_LIMIT = 50


/** What HTTP and RPC both answer, given the parsed parameters and the request's headers. */
const AdminOperations = Effect.gen(function* () {
  const admin = yield* Admin
  const { read: clientInfo } = yield* ClientInfoReader
  return {
    report: (input: typeof NewReport.Type) => withActor((actor) => admin.report(actor, input)),
    auditLogs: (p: typeof AuditLogParams.Type) =>
      admin
        .auditLogs({ actorId: p.actor_id, action: p.action, targetType: p.target_type, targetId: p.target_id, since: p.since, until: p.until }, p.cursor, p.limit ?? DEFAULT_LIMIT)
        .pipe(policyUse(canModerate)),
    auditStats: (window: typeof AuditWindow.Type) => admin.auditStats(window).pipe(policyUse(canModerate)),
    auditSuspicious: (p: typeof SuspiciousParams.Type) => admin.suspicious({ since: p.since, minFailures: p.min_failures }).pipe(policyUse(canModerate)),
    reports: (p: typeof ReportListParams.Type) =>
      admin
        .listReports(
          { status: p.status, targetType: p.target_type, targetId: p.target_id, reporterId: p.reporter_id, targetOwnerId: p.target_owner_id },
          p.cursor,
          p.limit ?? DEFAULT_LIMIT
        )
        .pipe(policyUse(canModerate)),
    getReport: (id: ReportId) => admin.getReport(id).pipe(policyUse(canModerate)),
    resolveReport: (id: ReportId, resolution: typeof Resolve.Type | null | undefined, headers: Headers.Headers) =>
      withActor((actor) => admin.resolve(actor, clientInfo(headers), id, resolution ?? {})).pipe(policyUse(canModerate)),
    dismissReport: (id: ReportId, dismissal: typeof Dismiss.Type | null | undefined, headers: Headers.Headers) =>
      withActor((actor) => admin.dismiss(actor, clientInfo(headers), id, dismissal?.note)).pipe(policyUse(canModerate)),
    actions: (p: typeof ActionListParams.Type) =>
      admin
        .listActions({ action: p.action, targetType: p.target_type, targetId: p.target_id, moderatorId: p.moderator_id }, p.cursor, p.limit ?? DEFAULT_LIMIT)
        .pipe(policyUse(canModerate)),
    act: (action: ActionType, id: string, reason: string | undefined, headers: Headers.Headers) =>
      withActor((actor) => admin.act(actor, clientInfo(headers), { action, targetId: id, reason: reason ?? null, report: null })).pipe(policyUse(canModerate))
  }
})

export const AdminHandlers = HttpApiBuilder.group(VezaApi, "admin", (handlers) =>
  Effect.map(AdminOperations, (ops) =>
    handlers
      .handle("report", ({ payload }) => ops.report(payload))
      .handle("auditLogs", ({ urlParams }) => ops.auditLogs(urlParams))
      .handle("auditStats", ({ urlParams }) => ops.auditStats(urlParams))
      .handle("auditSuspicious", ({ urlParams }) => ops.auditSuspicious(urlParams))
      .handle("reports", ({ urlParams }) => ops.reports(urlParams))
      .handle("getReport", ({ path }) => ops.getReport(path.id))
      .handle("resolveReport", ({ path, payload, request }) => ops.resolveReport(path.id, payload, request.headers))
      .handle("dismissReport", ({ path, payload, request }) => ops.dismissReport(path.id, payload, request.headers))
      .handle("actions", ({ urlParams }) => ops.actions(urlParams))
      .handle("hideTrack", ({ path, payload, request }) => ops.act("hide_track", path.id, payload?.reason, request.headers))
      .handle("unhideTrack", ({ path, payload, request }) => ops.act("unhide_track", path.id, payload?.reason, request.headers))
      .handle("deleteTrack", ({ path, urlParams, request }) => ops.act("delete_track", path.id, urlParams.reason, request.headers))
      .handle("deleteComment", ({ path, urlParams, request }) => ops.act("delete_comment", path.id, urlParams.reason, request.headers))
      .handle("deleteMessage", ({ path, urlParams, request }) => ops.act("delete_message", path.id, urlParams.reason, request.headers))
      .handle("banUser", ({ path, payload, request }) => ops.act("ban_user", path.id, payload?.reason, request.headers))
      .handle("unbanUser", ({ path, payload, request }) => ops.act("unban_user", path.id, payload?.reason, request.headers))
  )
)

export const AdminRpcHandlers = AdminRpcs.toLayer(
  Effect.gen(function* () {
    const ops = yield* AdminOperations
    return {
      "admin.report": (input) => ops.report(input),
      "admin.auditLogs": (params) => ops.auditLogs(params),
      "admin.auditStats": (window) => ops.auditStats(window),
      "admin.auditSuspicious": (params) => ops.auditSuspicious(params),
      "admin.reports": (params) => ops.reports(params),
      "admin.getReport": ({ id }) => ops.getReport(id),
      "admin.resolveReport": ({ id, resolution }, { headers }) => ops.resolveReport(id, resolution, headers),
      "admin.dismissReport": ({ id, ...dismissal }, { headers }) => ops.dismissReport(id, dismissal, headers),
      "admin.actions": (params) => ops.actions(params),
      "admin.hideTrack": ({ id, reason }, { headers }) => ops.act("hide_track", id, reason, headers),
      "admin.unhideTrack": ({ id, reason }, { headers }) => ops.act("unhide_track", id, reason, headers),
      "admin.deleteTrack": ({ id, reason }, { headers }) => ops.act("delete_track", id, reason, headers),
      "admin.deleteComment": ({ id, reason }, { headers }) => ops.act("delete_comment", id, reason, headers),
      "admin.deleteMessage": ({ id, reason }, { headers }) => ops.act("delete_message", id, reason, headers),
      "admin.banUser": ({ id, reason }, { headers }) => ops.act("ban_user", id, reason, headers),
      "admin.unbanUser": ({ id, reason }, { headers }) => ops.act("unban_user", id, reason, headers)
    }
  })
)
