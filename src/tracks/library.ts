import { AuditLog } from "../audit/service.js"
import { Blocks } from "../social/blocks.js"
import { Notifications } from "../social/notifications.js"
import * as NodeCrypto from "node:crypto"
import { Effect, Option, Redacted } from "effect"
import type { Actor } from "../auth/current-user.js"
import { Forbidden, NotFound, Unprocessable } from "../platform/api-errors.js"
import { AppConfig } from "../platform/config.js"
import { PublicReadCache } from "../platform/public-read-cache.js"
import { decodeTimeCursor, encodeTimeCursor, pageOf, type TimeCursor } from "../platform/cursor.js"
import { sqlErrors } from "../platform/sql-errors.js"
import { TrackLibraryConfig } from "./config.js"
import { TrackDownloadLinks } from "./downloads.js"
import { LibraryRepo, type TrackFilters } from "./library-repo.js"
import { isAdmin } from "../auth/policy.js"
import { canDeleteComment, canDownload, canEditComment, canSee, ownsOrAdmin } from "./policy.js"
import { toTrack, TracksRepo } from "./repo.js"
import type { CommentId, TrackId, UpdateTrack } from "./schema.js"
import { Tracks } from "./service.js"

const commentNotFound = () => NotFound.of("comment not found", "COMMENT_NOT_FOUND")
const shareNotFound = () => NotFound.of("share link not found, revoked or expired", "SHARE_NOT_FOUND")
const notOwner = (what: string) => Forbidden.of(`only the track's owner or an admin may ${what}`)

const cursorOf = decodeTimeCursor

/** A page of `limit` items out of `limit + 1` rows, and the cursor after its last item. */
const page = <R, A>(rows: ReadonlyArray<R>, limit: number, item: (row: R) => A, position: (row: R) => TimeCursor) => {
  const { items, next_cursor } = pageOf(rows, limit, (last) => {
    const p = position(last)
    return encodeTimeCursor(p.at, p.id)
  })
  return { items: items.map(item), next_cursor }
}

const sha256 = (s: string) => NodeCrypto.createHash("sha256").update(s).digest("hex")

/**
 * The library side of tracks: browsing, metadata, deletion, likes, comments,
 * plays, share links and downloads. Every call first finds the track as the
 * caller may see it, so a private track of someone else is a 404 everywhere,
 * writes included; ownership is checked only once the track is visible.
 */
export class TrackLibrary extends Effect.Service<TrackLibrary>()("veza/TrackLibrary", {
  effect: Effect.gen(function* () {
    const app = yield* AppConfig
    const config = yield* TrackLibraryConfig
    const repo = yield* LibraryRepo
    const audit = yield* AuditLog
    const tracks = yield* Tracks
    const tracksRepo = yield* TracksRepo
    const downloads = yield* TrackDownloadLinks
    const notifications = yield* Notifications
    const blocks = yield* Blocks
    // Anonymous answers hold each track's fields and its like and comment counts: every write to them drops the cache.
    const { invalidate } = yield* PublicReadCache
    // Anonymous listeners are told apart by address, kept only as a keyed hash.
    const listenerKeyring = NodeCrypto.createHmac("sha256", Redacted.value(app.jwtSecret)).update("veza/listeners/v1").digest()
    const anonymousKey = (ip: string) => `anon:${NodeCrypto.createHmac("sha256", listenerKeyring).update(ip).digest("base64url")}`

    const list = (viewer: Actor | undefined, filters: TrackFilters, cursor: string | undefined, limit: number) =>
      Effect.gen(function* () {
        const after = yield* cursorOf(cursor)
        const rows = yield* repo.list(viewer, filters, after, limit)
        return page(rows, limit, (r) => toTrack(r, ownsOrAdmin(viewer, r.creator_id)), (r) => ({ at: r.cursor_at, id: r.id }))
      }).pipe(sqlErrors)

    /** `list`'s answer as JSON text, its items written by PostgreSQL (see `selectTrackJson`). */
    const listJson = (viewer: Actor | undefined, filters: TrackFilters, cursor: string | undefined, limit: number) =>
      Effect.gen(function* () {
        const after = yield* cursorOf(cursor)
        const rows = yield* repo.listJson(viewer, filters, after, limit)
        const { items, next_cursor } = pageOf(rows, limit, (last) => encodeTimeCursor(last.cursor_at, last.id))
        return `{"items":[${items.map((r) => r.json).join(",")}],"next_cursor":${JSON.stringify(next_cursor)}}`
      }).pipe(sqlErrors)

    /** The visible track, when the actor may also change it. */
    const owned = (id: TrackId, actor: Actor, what: string) =>
      Effect.flatMap(tracks.visibleRow(id, actor), (row) => (ownsOrAdmin(actor, row.creator_id) ? Effect.succeed(row) : Effect.fail(notOwner(what))))

    const update = (id: TrackId, actor: Actor, patch: UpdateTrack) =>
      Effect.gen(function* () {
        const row = yield* owned(id, actor, "edit it")
        yield* audit.onBehalf(actor, [row.creator_id], { action: "admin.track_updated", targetType: "track", targetId: id, metadata: { fields: Object.keys(patch) } }, repo.update(id, patch))
        yield* invalidate
        return yield* tracks.get(id, actor)
      }).pipe(sqlErrors)

    const remove = (id: TrackId, actor: Actor) =>
      Effect.gen(function* () {
        const row = yield* owned(id, actor, "delete it")
        if (!(yield* audit.onBehalf(actor, [row.creator_id], { action: "admin.track_deleted", targetType: "track", targetId: id }, repo.softDelete(id)))) {
          return yield* NotFound.of("track not found")
        }
        yield* invalidate
        yield* Effect.logInfo("track deleted").pipe(Effect.annotateLogs({ track_id: id, by: actor.id }))
      }).pipe(sqlErrors)

    /** A moderator's hide (or unhide): admins only; false when the track was already in that state. */
    const setHidden = (id: TrackId, actor: Actor, hidden: boolean) =>
      Effect.gen(function* () {
        if (!isAdmin(actor)) return yield* Forbidden.of("only admins may hide tracks")
        yield* tracks.visibleRow(id, actor)
        return yield* repo.setHidden(id, hidden).pipe(Effect.tap(invalidate))
      }).pipe(sqlErrors)

    /** A comment by id alone (reports and moderation name no track), when the actor may see its track. */
    const comment = (commentId: CommentId, actor: Actor) =>
      Effect.gen(function* () {
        const found = yield* repo.commentById(commentId)
        if (Option.isNone(found)) return yield* commentNotFound()
        yield* tracks.visibleRow(found.value.track_id, actor).pipe(Effect.catchTag("NotFound", () => commentNotFound()))
        return found.value
      }).pipe(sqlErrors)

    const setLike = (id: TrackId, actor: Actor, liked: boolean) =>
      Effect.gen(function* () {
        const track = yield* tracks.visibleRow(id, actor)
        if (!liked) return { track_id: id, liked, like_count: yield* repo.unlike(id, actor.id).pipe(Effect.tap(invalidate)) }
        const { count, added } = yield* repo.like(id, actor.id)
        yield* invalidate
        if (added) yield* notifications.notify(track.creator_id, "like", actor.id, { track_id: id })
        return { track_id: id, liked, like_count: count }
      }).pipe(sqlErrors)

    const addComment = (
      id: TrackId,
      actor: Actor,
      input: { content: string; position_ms?: number | null | undefined; parent_id?: CommentId | null | undefined }
    ) =>
      Effect.gen(function* () {
        const track = yield* tracks.visibleRow(id, actor)
        if (yield* blocks.isBlocked(track.creator_id, actor.id)) return yield* Forbidden.of("you cannot comment on this user's tracks", "BLOCKED")
        const positionMs = input.position_ms ?? null
        if (positionMs !== null && positionMs > track.duration_ms) {
          return yield* Unprocessable.of(`position_ms is beyond the end of the track (${track.duration_ms} ms)`, "POSITION_OUT_OF_RANGE", {
            duration_ms: track.duration_ms
          })
        }
        const parentId = input.parent_id ?? null
        if (parentId !== null) {
          const parent = yield* repo.commentById(parentId)
          if (Option.isNone(parent) || parent.value.track_id !== id) {
            return yield* Unprocessable.of("parent_id is not a comment on this track", "INVALID_PARENT")
          }
          if (parent.value.parent_id !== null) {
            return yield* Unprocessable.of("threads are one level deep: reply to the top-level comment instead", "THREAD_TOO_DEEP")
          }
          if (yield* blocks.isBlocked(parent.value.user_id, actor.id)) return yield* Forbidden.of("you cannot reply to this user", "BLOCKED")
        }
        const inserted = yield* repo.insertComment({ track: id, user: actor.id, parent: parentId, positionMs, content: input.content })
        if (Option.isNone(inserted)) return yield* Unprocessable.of("parent_id is not a comment on this track", "INVALID_PARENT")
        yield* invalidate
        const comment = Option.getOrThrow(yield* repo.commentById(inserted.value))
        const about = { track_id: id, comment_id: comment.id }
        yield* notifications.notify(track.creator_id, "comment", actor.id, about)
        if (parentId !== null) {
          const parent = yield* repo.commentById(parentId)
          if (Option.isSome(parent) && parent.value.user_id !== track.creator_id) yield* notifications.notify(parent.value.user_id, "comment", actor.id, about)
        }
        return comment
      }).pipe(sqlErrors)

    const comments = (id: TrackId, actor: Actor | undefined, cursor: string | undefined, limit: number) =>
      Effect.gen(function* () {
        yield* tracks.visibleRow(id, actor)
        const after = yield* cursorOf(cursor)
        const rows = yield* repo.listComments(id, after, limit)
        return page(rows, limit, (r) => r.comment, (r) => ({ at: r.cursorAt, id: r.comment.id }))
      }).pipe(sqlErrors)

    /** The comment, when it belongs to this track and the track is visible to the actor. */
    const commentOn = (id: TrackId, commentId: CommentId, actor: Actor) =>
      Effect.gen(function* () {
        const track = yield* tracks.visibleRow(id, actor)
        const comment = yield* repo.commentById(commentId)
        if (Option.isNone(comment) || comment.value.track_id !== id) return yield* commentNotFound()
        return { track, comment: comment.value }
      })

    const editComment = (id: TrackId, commentId: CommentId, actor: Actor, content: string) =>
      Effect.gen(function* () {
        const { comment } = yield* commentOn(id, commentId, actor)
        if (!canEditComment(actor, comment)) return yield* Forbidden.of("you can only edit your own comments")
        if (!(yield* repo.editComment(commentId, content))) return yield* commentNotFound()
        return Option.getOrThrow(yield* repo.commentById(commentId))
      }).pipe(sqlErrors)

    const deleteComment = (id: TrackId, commentId: CommentId, actor: Actor) =>
      Effect.gen(function* () {
        const { comment, track } = yield* commentOn(id, commentId, actor)
        if (!canDeleteComment(actor, comment, track)) return yield* Forbidden.of("you can only delete your own comments, or comments on your tracks")
        const deleted = repo.deleteComment(commentId)
        const entry = { action: "admin.comment_deleted", targetType: "comment", targetId: commentId, metadata: { track_id: id } }
        if (!(yield* audit.onBehalf(actor, [comment.user_id, track.creator_id], entry, deleted))) return yield* commentNotFound()
        yield* invalidate
      }).pipe(sqlErrors)

    const play = (id: TrackId, actor: Actor | undefined, clientIp: string, input: { played_ms?: number | null | undefined; source?: string | null | undefined }) =>
      Effect.gen(function* () {
        yield* tracks.visibleRow(id, actor)
        return yield* repo.recordPlay({
          track: id,
          listenerKey: actor === undefined ? anonymousKey(clientIp) : `user:${actor.id}`,
          user: actor?.id ?? null,
          windowSeconds: config.playDedupWindowSeconds,
          playedMs: input.played_ms ?? null,
          source: input.source ?? null
        })
      }).pipe(sqlErrors)

    const stats = (id: TrackId, actor: Actor | undefined) =>
      Effect.gen(function* () {
        yield* tracks.visibleRow(id, actor)
        const found = yield* repo.stats(id)
        if (Option.isNone(found)) return yield* NotFound.of("track not found")
        return { track_id: id, ...found.value }
      }).pipe(sqlErrors)

    const history = (actor: Actor, cursor: string | undefined, limit: number) =>
      Effect.gen(function* () {
        const after = yield* cursorOf(cursor)
        const rows = yield* repo.history(actor, after, limit)
        return page(
          rows,
          limit,
          (r) => ({
            id: r.play_id,
            played_at: r.play_played_at,
            played_ms: r.play_played_ms,
            source: r.play_source,
            track: toTrack(r, ownsOrAdmin(actor, r.creator_id))
          }),
          (r) => ({ at: r.play_cursor_at, id: r.play_id })
        )
      }).pipe(sqlErrors)

    const share = (id: TrackId, actor: Actor, expiresInSeconds: number | undefined) =>
      Effect.gen(function* () {
        yield* owned(id, actor, "share it")
        const token = NodeCrypto.randomBytes(32).toString("base64url")
        const expiresAt = expiresInSeconds === undefined ? null : new Date(Date.now() + expiresInSeconds * 1000)
        yield* repo.createShare(id, actor.id, sha256(token), expiresAt)
        const base = Option.getOrElse(app.publicUrl, () => "").replace(/\/$/, "")
        return { token, url: `${base}/api/v1/tracks/shared/${token}`, expires_at: expiresAt }
      }).pipe(sqlErrors)

    /** What a share link opens: the track (private ones too) and, once it is ready, a signed stream. */
    const shared = (token: string, actor: Actor | undefined) =>
      Effect.gen(function* () {
        const trackId = yield* repo.sharedTrackId(sha256(token))
        if (Option.isNone(trackId)) return yield* shareNotFound()
        // The link is the permission: the track's visibility does not matter here, a moderator's hide does.
        const found = yield* tracksRepo.findById(trackId.value, actor)
        if (Option.isNone(found) || (found.value.hidden_at !== null && !canSee(actor, found.value))) return yield* shareNotFound()
        const track = found.value
        return {
          track: toTrack(track, ownsOrAdmin(actor, track.creator_id)),
          stream: track.status === "ready" ? tracks.signedStreamUrl(trackId.value) : null
        }
      }).pipe(sqlErrors)

    const revokeShare = (id: TrackId, token: string, actor: Actor) =>
      Effect.gen(function* () {
        yield* owned(id, actor, "revoke its share links")
        if (!(yield* repo.revokeShare(id, sha256(token)))) return yield* shareNotFound()
      }).pipe(sqlErrors)

    const download = (id: TrackId, actor: Actor | undefined) =>
      Effect.gen(function* () {
        const track = yield* tracks.visibleRow(id, actor)
        if (!canDownload(actor, track)) return yield* Forbidden.of("the owner does not allow downloads of this track", "NOT_DOWNLOADABLE")
        return downloads.sign(id, { listener: !ownsOrAdmin(actor, track.creator_id) })
      }).pipe(sqlErrors)

    return { list, listJson, update, remove, setHidden, comment, setLike, addComment, comments, editComment, deleteComment, play, stats, history, share, shared, revokeShare, download } as const
  }),
  dependencies: [LibraryRepo.Default, TrackDownloadLinks.Default, TrackLibraryConfig.Default]
}) {}
