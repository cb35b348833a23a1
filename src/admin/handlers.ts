import { HttpApiBuilder } from "@effect/platform"
import { Effect } from "effect"
import { VezaApi } from "../api.js"
import { type Actor, CurrentUser } from "../auth/current-user.js"
import { policyUse } from "../auth/policy.js"
import { ClientInfoReader } from "../platform/client-info.js"
import { canModerate } from "./policy.js"
import type { ActionType } from "./schema.js"
import { Admin } from "./service.js"

const DEFAULT_LIMIT = 50

export const AdminHandlers = HttpApiBuilder.group(VezaApi, "admin", (handlers) =>
  Effect.gen(function* () {
    const admin = yield* Admin
    const { read: clientInfo } = yield* ClientInfoReader
    const withActor = <A, E, R>(f: (actor: Actor) => Effect.Effect<A, E, R>) => Effect.flatMap(CurrentUser, f)
    const act = (action: ActionType, id: string, reason: string | undefined, headers: Parameters<typeof clientInfo>[0]) =>
      withActor((actor) => admin.act(actor, clientInfo(headers), { action, targetId: id, reason: reason ?? null, report: null })).pipe(policyUse(canModerate))
    return handlers
      .handle("report", ({ payload }) => withActor((actor) => admin.report(actor, payload)))
      .handle("auditLogs", ({ urlParams: p }) =>
        admin
          .auditLogs({ actorId: p.actor_id, action: p.action, targetType: p.target_type, targetId: p.target_id, since: p.since, until: p.until }, p.cursor, p.limit ?? DEFAULT_LIMIT)
          .pipe(policyUse(canModerate))
      )
      .handle("auditStats", ({ urlParams }) => admin.auditStats(urlParams).pipe(policyUse(canModerate)))
      .handle("auditSuspicious", ({ urlParams }) => admin.suspicious({ since: urlParams.since, minFailures: urlParams.min_failures }).pipe(policyUse(canModerate)))
      .handle("reports", ({ urlParams: p }) =>
        admin
          .listReports(
            { status: p.status, targetType: p.target_type, targetId: p.target_id, reporterId: p.reporter_id, targetOwnerId: p.target_owner_id },
            p.cursor,
            p.limit ?? DEFAULT_LIMIT
          )
          .pipe(policyUse(canModerate))
      )
      .handle("getReport", ({ path }) => admin.getReport(path.id).pipe(policyUse(canModerate)))
      .handle("resolveReport", ({ path, payload, request }) =>
        withActor((actor) => admin.resolve(actor, clientInfo(request.headers), path.id, payload ?? {})).pipe(policyUse(canModerate))
      )
      .handle("dismissReport", ({ path, payload, request }) =>
        withActor((actor) => admin.dismiss(actor, clientInfo(request.headers), path.id, payload?.note)).pipe(policyUse(canModerate))
      )
      .handle("actions", ({ urlParams: p }) =>
        admin
          .listActions({ action: p.action, targetType: p.target_type, targetId: p.target_id, moderatorId: p.moderator_id }, p.cursor, p.limit ?? DEFAULT_LIMIT)
          .pipe(policyUse(canModerate))
      )
      .handle("hideTrack", ({ path, payload, request }) => act("hide_track", path.id, payload?.reason, request.headers))
      .handle("unhideTrack", ({ path, payload, request }) => act("unhide_track", path.id, payload?.reason, request.headers))
      .handle("deleteTrack", ({ path, urlParams, request }) => act("delete_track", path.id, urlParams.reason, request.headers))
      .handle("deleteComment", ({ path, urlParams, request }) => act("delete_comment", path.id, urlParams.reason, request.headers))
      .handle("deleteMessage", ({ path, urlParams, request }) => act("delete_message", path.id, urlParams.reason, request.headers))
      .handle("banUser", ({ path, payload, request }) => act("ban_user", path.id, payload?.reason, request.headers))
      .handle("unbanUser", ({ path, payload, request }) => act("unban_user", path.id, payload?.reason, request.headers))
  })
)
