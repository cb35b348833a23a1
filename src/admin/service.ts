import { Effect, Option } from "effect"
import { AuditLog } from "../audit/service.js"
import type { Actor } from "../auth/current-user.js"
import { policyRequire } from "../auth/policy.js"
import { Auth } from "../auth/service.js"
import { Chat } from "../chat/service.js"
import { MessageId } from "../chat/schema.js"
import { BadRequest, Conflict, NotFound, Unprocessable } from "../platform/api-errors.js"
import { PublicReadCache } from "../platform/public-read-cache.js"
import type { ClientInfo } from "../platform/client-info.js"
import { decodeTimeCursor, encodeTimeCursor, pageOf } from "../platform/cursor.js"
import { sqlErrors } from "../platform/sql-errors.js"
import { TrackLibrary } from "../tracks/library.js"
import { CommentId, TrackId } from "../tracks/schema.js"
import { Tracks } from "../tracks/service.js"
import { UserId } from "../users/schema.js"
import { Users } from "../users/service.js"
import { type ActionFilters, AdminRepo, type AuditFilters, type Listed, type ReportFilters } from "./repo.js"
import type { ActionType, NewReport, ReportId, ResolutionAction, TargetType } from "./schema.js"

const DAY_MS = 24 * 3600 * 1000
const SUSPICIOUS_LIST_LIMIT = 100
const DEFAULT_MIN_FAILURES = 5

const reportNotFound = () => NotFound.of("report not found", "REPORT_NOT_FOUND")

const page = <A extends { readonly id: string }>(rows: ReadonlyArray<Listed<A>>, limit: number) => {
  const { items, next_cursor } = pageOf(rows, limit, (last) => encodeTimeCursor(last.cursor_at, last.id))
  return { items: items.map(({ cursor_at: _at, ...item }) => item as unknown as A), next_cursor }
}

/** Which kind of target each action acts on; a ban acts on whoever a reported target belongs to. */
const ACTION_TARGET: Record<ActionType, TargetType> = {
  hide_track: "track",
  unhide_track: "track",
  delete_track: "track",
  delete_comment: "comment",
  delete_message: "message",
  ban_user: "user",
  unban_user: "user"
}

export interface ActionRequest {
  readonly action: ActionType
  readonly targetId: string
  readonly reason: string | null
  readonly report: ReportId | null
}

/**
 * Reports and moderation. Every action goes through the owning domain's
 * service, as an admin (so the same rules and side effects apply: a deleted
 * track's files are purged, a deleted message is announced to its room, a
 * ban ends sessions), and is recorded as a moderation action and an audit
 * entry in the same transaction.
 */
export class Admin extends Effect.Service<Admin>()("veza/Admin", {
  effect: Effect.gen(function* () {
    const repo = yield* AdminRepo
    const audit = yield* AuditLog
    // The library drops the anonymous-read cache as it hides or deletes, but here that runs inside this service's
    // transaction: a read between then and the commit could store the state before. Dropped again once committed.
    const { invalidate } = yield* PublicReadCache
    const auth = yield* Auth
    const users = yield* Users
    const tracks = yield* Tracks
    const library = yield* TrackLibrary
    const chat = yield* Chat

    /** Whose the target is, when the actor may see it; otherwise the 404 the target's own API gives. */
    const ownerOf = (actor: Actor, type: TargetType, id: string) => {
      switch (type) {
        case "track":
          return Effect.map(tracks.get(TrackId.make(id), actor), (t) => t.creator_id)
        case "comment":
          return Effect.map(library.comment(CommentId.make(id), actor), (c) => c.user_id)
        case "message":
          return Effect.map(chat.message(actor, MessageId.make(id)), (m) => m.sender_id)
        case "user":
          return Effect.map(users.getPublic(UserId.make(id)), (u) => u.id)
      }
    }

    const reportById = (id: ReportId) =>
      Effect.flatMap(repo.reportById(id), Option.match({ onNone: () => Effect.fail(reportNotFound()), onSome: ({ cursor_at: _at, ...r }) => Effect.succeed(r) }))

    const report = (actor: Actor, input: NewReport) =>
      Effect.gen(function* () {
        const owner = yield* ownerOf(actor, input.target_type, input.target_id)
        if (owner === actor.id) {
          return yield* Unprocessable.of(input.target_type === "user" ? "you cannot report yourself" : `you cannot report your own ${input.target_type}`, "CANNOT_REPORT_OWN")
        }
        const id = yield* repo.insertReport({
          reporter: actor.id,
          targetType: input.target_type,
          targetId: input.target_id,
          targetOwner: owner,
          reason: input.reason,
          details: input.details ?? null
        })
        if (Option.isNone(id)) return yield* Conflict.of("you already have an open report of this; an admin will look at it", "ALREADY_REPORTED")
        return yield* reportById(id.value)
      }).pipe(sqlErrors)

    /** The action's row and its audit entry; call inside the transaction that made the change. */
    const record = (admin: Actor, client: ClientInfo, req: ActionRequest, metadata: Record<string, unknown> = {}) =>
      Effect.gen(function* () {
        const targetType = ACTION_TARGET[req.action]
        const { cursor_at: _at, ...row } = yield* repo.insertAction({
          moderator: admin.id,
          action: req.action,
          targetType,
          targetId: req.targetId,
          report: req.report,
          reason: req.reason
        })
        yield* audit.record({
          actorId: admin.id,
          action: `admin.${req.action}`,
          targetType,
          targetId: req.targetId,
          ...client,
          metadata: { moderation_action_id: row.id, reason: req.reason, report_id: req.report, ...metadata }
        })
        return row
      })

    const changedOr = (changed: boolean, message: string, code: string) => (changed ? Effect.void : Effect.fail(Conflict.of(message, code)))

    /** The change itself, through the owning service, and what the audit entry should add about it (the one entry: `record`'s). */
    const apply = (admin: Actor, req: ActionRequest) =>
      audit.recordingItself(Effect.gen(function* () {
        const id = req.targetId
        switch (req.action) {
          case "hide_track":
            yield* changedOr(yield* library.setHidden(TrackId.make(id), admin, true), "the track is already hidden", "ALREADY_HIDDEN")
            return {}
          case "unhide_track":
            yield* changedOr(yield* library.setHidden(TrackId.make(id), admin, false), "the track is not hidden", "NOT_HIDDEN")
            return {}
          case "delete_track":
            yield* library.remove(TrackId.make(id), admin)
            return {}
          case "delete_comment": {
            const comment = yield* library.comment(CommentId.make(id), admin)
            yield* library.deleteComment(comment.track_id, comment.id, admin)
            return { track_id: comment.track_id, author_id: comment.user_id }
          }
          case "delete_message": {
            const message = yield* chat.remove(admin, MessageId.make(id))
            return { room_id: message.room_id, sender_id: message.sender_id }
          }
          case "ban_user":
          case "unban_user": {
            const user = yield* users.getPublic(UserId.make(id))
            const ban = req.action === "ban_user"
            if (ban && user.id === admin.id) return yield* Unprocessable.of("you cannot ban yourself", "CANNOT_BAN_SELF")
            yield* changedOr(yield* auth.setBanned(user.id, ban), ban ? "the user is already banned" : "the user is not banned", ban ? "ALREADY_BANNED" : "NOT_BANNED")
            return {}
          }
        }
      }))

    const act = (admin: Actor, client: ClientInfo, req: ActionRequest) =>
      (req.action === "delete_message"
        ? // Chat commits and announces the deletion itself: the room must not hear of a deletion that might roll back.
          Effect.flatMap(apply(admin, req), (metadata) => repo.withTransaction(record(admin, client, req, metadata)))
        : repo.withTransaction(Effect.flatMap(apply(admin, req), (metadata) => record(admin, client, req, metadata)))
      ).pipe(
        Effect.tap(() => invalidate),
        // Open chat connections were authenticated before the ban: close them once it has committed.
        Effect.tap(() => (req.action === "ban_user" ? chat.disconnectUser(UserId.make(req.targetId), "banned") : Effect.void)),
        sqlErrors,
        policyRequire("Moderation", "manage")
      )

    interface Closing {
      readonly status: "resolved" | "dismissed"
      readonly action?: ResolutionAction | undefined
      readonly note?: string | undefined
    }

    /** Closes an open report, taking its action first when there is one; all of it commits or none. */
    const close = (admin: Actor, client: ClientInfo, id: ReportId, closing: Closing) =>
      repo
        .withTransaction(
          Effect.gen(function* () {
            const found = yield* repo.lockReport(id)
            if (Option.isNone(found)) return yield* reportNotFound()
            const r = found.value
            if (r.status !== "open") return yield* Conflict.of(`the report is already ${r.status}`, "REPORT_NOT_OPEN")
            const { action, note = null } = closing
            if (action !== undefined) {
              const targetId = action === "ban_user" ? r.target_owner_id : ACTION_TARGET[action] === r.target_type ? r.target_id : null
              if (targetId === null) {
                return yield* Unprocessable.of(`${action} does not apply to a reported ${r.target_type}`, "ACTION_NOT_APPLICABLE")
              }
              const req = { action, targetId, reason: note, report: id }
              // Here a chat deletion is announced just before this transaction commits: the report
              // and the action must close together, and the lock above keeps the window short.
              yield* Effect.flatMap(apply(admin, req), (metadata) => record(admin, client, req, metadata))
            }
            yield* repo.closeReport(id, { status: closing.status, by: admin.id, note, acted: action !== undefined })
            yield* audit.record({
              actorId: admin.id,
              action: closing.status === "dismissed" ? "admin.report_dismissed" : "admin.report_resolved",
              targetType: "moderation_report",
              targetId: id,
              ...client,
              metadata: { action: action ?? null, note }
            })
            return { report: yield* reportById(id), banned: closing.action === "ban_user" ? r.target_owner_id : null }
          })
        )
        .pipe(
          Effect.tap(() => invalidate),
          Effect.tap(({ banned }) => (banned === null ? Effect.void : chat.disconnectUser(UserId.make(banned), "banned"))),
          Effect.map(({ report }) => report),
          sqlErrors,
          policyRequire("Moderation", "manage")
        )

    const resolve = (admin: Actor, client: ClientInfo, id: ReportId, input: { action?: ResolutionAction | undefined; note?: string | undefined }) =>
      close(admin, client, id, { status: "resolved", ...input })

    const dismiss = (admin: Actor, client: ClientInfo, id: ReportId, note: string | undefined) => close(admin, client, id, { status: "dismissed", note })

    const listReports = (filters: ReportFilters, cursor: string | undefined, limit: number) =>
      Effect.gen(function* () {
        const after = yield* decodeTimeCursor(cursor)
        return page(yield* repo.reports(filters, after, limit), limit)
      }).pipe(sqlErrors, policyRequire("Moderation", "manage"))

    const getReport = (id: ReportId) => reportById(id).pipe(sqlErrors, policyRequire("Moderation", "manage"))

    const listActions = (filters: ActionFilters, cursor: string | undefined, limit: number) =>
      Effect.gen(function* () {
        const after = yield* decodeTimeCursor(cursor)
        return page(yield* repo.actions(filters, after, limit), limit)
      }).pipe(sqlErrors, policyRequire("Moderation", "manage"))

    const auditLogs = (filters: AuditFilters, cursor: string | undefined, limit: number) =>
      Effect.gen(function* () {
        const after = yield* decodeTimeCursor(cursor)
        return page(yield* repo.auditLogs(filters, after, limit), limit)
      }).pipe(sqlErrors, policyRequire("Moderation", "manage"))

    /** Counts by action over a window, by default the last 24 hours. */
    const auditStats = (window: { since?: Date | undefined; until?: Date | undefined }) =>
      Effect.gen(function* () {
        const until = window.until ?? new Date()
        const since = window.since ?? new Date(until.getTime() - DAY_MS)
        if (since.getTime() >= until.getTime()) return yield* BadRequest.of("since must be before until")
        const byAction = yield* repo.auditCounts(since, until)
        const logins = yield* auth.loginAttemptCounts(since, until)
        return { since, until, total: byAction.reduce((n, a) => n + a.count, 0), by_action: byAction, login_attempts: logins }
      }).pipe(sqlErrors, policyRequire("Moderation", "manage"))

    /**
     * Signs of attack since `since` (default: the last 24 hours): addresses
     * and accounts with repeated failed logins, and refresh tokens presented
     * after rotation.
     */
    const suspicious = (options: { since?: Date | undefined; minFailures?: number | undefined }) =>
      Effect.gen(function* () {
        const since = options.since ?? new Date(Date.now() - DAY_MS)
        const minFailures = options.minFailures ?? DEFAULT_MIN_FAILURES
        const logins = yield* auth.failedLoginHotspots(since, minFailures, SUSPICIOUS_LIST_LIMIT)
        const reuse = yield* repo.auditLogs({ action: "auth.refresh_token_reuse", since }, Option.none(), SUSPICIOUS_LIST_LIMIT)
        return {
          since,
          min_failures: minFailures,
          failed_logins_by_address: logins.byAddress,
          failed_logins_by_account: logins.byAccount,
          refresh_token_reuse: page(reuse, SUSPICIOUS_LIST_LIMIT).items
        }
      }).pipe(sqlErrors, policyRequire("Moderation", "manage"))

    return { report, act, resolve, dismiss, listReports, getReport, listActions, auditLogs, auditStats, suspicious } as const
  }),
  dependencies: [AdminRepo.Default]
}) {}
