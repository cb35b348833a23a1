import { Effect, Option } from "effect"
import { AuditLog } from "../audit/service.js"
import type { Actor } from "../auth/current-user.js"
import { isAdmin } from "../auth/policy.js"
import { Conflict, Forbidden, NotFound, Unprocessable } from "../platform/api-errors.js"
import { decodeNumberCursor, decodeTimeCursor, encodeNumberCursor, encodeTimeCursor, pageOf } from "../platform/cursor.js"
import { sqlErrors } from "../platform/sql-errors.js"
import { Blocks } from "../social/blocks.js"
import { Notifications } from "../social/notifications.js"
import type { TrackId } from "../tracks/schema.js"
import { Tracks } from "../tracks/service.js"
import type { UserId } from "../users/schema.js"
import { Users } from "../users/service.js"
import { canEditTracks, canManage, canSee } from "./policy.js"
import { insertionPoint, moveTarget } from "./positions.js"
import { type PlaylistRow, PlaylistsRepo, toPlaylist, type Viewer } from "./repo.js"
import { type CollaboratorRole, type CreatePlaylist, MAX_PLAYLIST_TRACKS, type PlaylistId, type UpdatePlaylist } from "./schema.js"

const playlistNotFound = () => NotFound.of("playlist not found", "PLAYLIST_NOT_FOUND")
const notInPlaylist = () => NotFound.of("that track is not in this playlist", "TRACK_NOT_IN_PLAYLIST")

export interface PageRequest {
  readonly cursor: string | undefined
  readonly limit: number
}

const signedInViewer = (actor: Actor) => ({ id: actor.id, admin: isAdmin(actor) })
const viewerOf = (actor: Actor | undefined): Viewer => (actor === undefined ? { id: null, admin: false } : signedInViewer(actor))

const playlistPage = (rows: ReadonlyArray<PlaylistRow>, limit: number) => {
  const { items, next_cursor } = pageOf(rows, limit, (last) => encodeTimeCursor(last.cursor_at, last.id))
  return { items: items.map(toPlaylist), next_cursor }
}

/**
 * Playlists: who sees and edits what, ordered tracks that stay numbered
 * 1..n whatever runs concurrently, collaborators and followers.
 */
export class Playlists extends Effect.Service<Playlists>()("veza/Playlists", {
  effect: Effect.gen(function* () {
    const repo = yield* PlaylistsRepo
    const audit = yield* AuditLog
    const tracks = yield* Tracks
    const users = yield* Users
    const blocks = yield* Blocks
    const notifications = yield* Notifications

    /** The playlist as this caller sees it; private ones of others are as missing as deleted ones. */
    const visible = (actor: Actor | undefined, id: PlaylistId) =>
      Effect.flatMap(repo.findById(id, viewerOf(actor)), (row) =>
        Option.isSome(row) && canSee(actor, row.value) ? Effect.succeed(row.value) : Effect.fail(playlistNotFound())
      )

    /** `visible`'s check alone, for reads of what a playlist holds (its entries, its collaborators). */
    const readable = (actor: Actor | undefined, id: PlaylistId) =>
      Effect.flatMap(repo.access(id, actor?.id ?? null), (row) =>
        Option.isSome(row) && canSee(actor, row.value) ? Effect.void : Effect.fail(playlistNotFound())
      )

    const managed = (actor: Actor, id: PlaylistId) =>
      Effect.flatMap(visible(actor, id), (p) =>
        canManage(actor, p) ? Effect.succeed(p) : Effect.fail(Forbidden.of("only the playlist's owner may do this"))
      )

    const editable = (actor: Actor, id: PlaylistId) =>
      Effect.flatMap(visible(actor, id), (p) =>
        canEditTracks(actor, p)
          ? Effect.succeed(p)
          : Effect.fail(Forbidden.of("only the owner, or an editor of a collaborative playlist, may change its tracks"))
      )

    const reload = (actor: Actor, id: PlaylistId) => Effect.map(visible(actor, id), toPlaylist)

    const create = (actor: Actor, input: CreatePlaylist) =>
      Effect.flatMap(
        repo.insert(actor.id, { title: input.title, description: input.description ?? null, visibility: input.visibility, collaborative: input.collaborative }),
        // The caller owns what it just created: not finding it is a bug, not a 404.
        (id) => Effect.catchTag(reload(actor, id), "NotFound", (e) => Effect.die(e))
      ).pipe(sqlErrors)

    const get = (actor: Actor | undefined, id: PlaylistId) => Effect.map(visible(actor, id), toPlaylist).pipe(sqlErrors)

    const update = (actor: Actor, id: PlaylistId, patch: UpdatePlaylist) =>
      Effect.gen(function* () {
        const p = yield* managed(actor, id)
        const entry = { action: "admin.playlist_updated", targetType: "playlist", targetId: id, metadata: { fields: Object.keys(patch) } }
        yield* audit.onBehalf(actor, [p.owner_id], entry, repo.update(id, patch))
        return yield* reload(actor, id)
      }).pipe(sqlErrors)

    const remove = (actor: Actor, id: PlaylistId) =>
      Effect.flatMap(managed(actor, id), (p) =>
        audit.onBehalf(actor, [p.owner_id], { action: "admin.playlist_deleted", targetType: "playlist", targetId: id }, repo.softDelete(id))
      ).pipe(sqlErrors)

    /** Others see a user's public playlists; the owner and admins see all of them. */
    const listByOwner = (actor: Actor | undefined, owner: UserId, request: PageRequest) =>
      Effect.gen(function* () {
        const after = yield* decodeTimeCursor(request.cursor)
        yield* users.getPublic(owner)
        const all = actor !== undefined && (actor.id === owner || isAdmin(actor))
        return playlistPage(yield* repo.listByOwner(owner, viewerOf(actor), { all, after, limit: request.limit }), request.limit)
      }).pipe(sqlErrors)

    const listOfActor = (list: "listFollowed" | "listShared") => (actor: Actor, request: PageRequest) =>
      Effect.gen(function* () {
        const after = yield* decodeTimeCursor(request.cursor)
        return playlistPage(yield* repo[list](signedInViewer(actor), { after, limit: request.limit }), request.limit)
      }).pipe(sqlErrors)

    /** A page of entries read by `read`; the cursor holds the last one's position as the caller sees it. */
    const entriesPage = <R extends { readonly seen_position: number }, E, Rq>(
      actor: Actor | undefined,
      id: PlaylistId,
      request: PageRequest,
      read: (viewer: Viewer, options: { afterPosition: number; limit: number }) => Effect.Effect<ReadonlyArray<R>, E, Rq>
    ) =>
      Effect.gen(function* () {
        const after = yield* decodeNumberCursor(request.cursor)
        yield* readable(actor, id)
        const rows = yield* read(viewerOf(actor), { afterPosition: Option.getOrElse(after, () => 0), limit: request.limit })
        return pageOf(rows, request.limit, (last) => encodeNumberCursor(last.seen_position))
      })

    /** In order; tracks the caller may not see (someone's private track) are left out, and not numbered. */
    const items = (actor: Actor | undefined, id: PlaylistId, request: PageRequest) =>
      entriesPage(actor, id, request, (viewer, options) => repo.items(id, viewer, options)).pipe(
        Effect.map(({ items, next_cursor }) => ({ items: items.map((row) => row.item), next_cursor })),
        sqlErrors
      )

    /** `items`' answer as JSON text, its entries written by PostgreSQL (HTTP's read; RPC encodes `items`' value). */
    const itemsJson = (actor: Actor | undefined, id: PlaylistId, request: PageRequest) =>
      entriesPage(actor, id, request, (viewer, options) => repo.itemsJson(id, viewer, options)).pipe(
        Effect.map(({ items, next_cursor }) => `{"items":[${items.map((row) => row.json).join(",")}],"next_cursor":${JSON.stringify(next_cursor)}}`),
        sqlErrors
      )

    /** Runs an edit of the tracks under the playlist's lock; a playlist deleted meanwhile is 404. */
    const underLock = <A, E, R>(id: PlaylistId, body: (trackCount: number) => Effect.Effect<A, E, R>) =>
      Effect.flatMap(repo.locked(id, body), Option.match({ onNone: () => Effect.fail(playlistNotFound()), onSome: Effect.succeed }))

    const itemOf = (id: PlaylistId, track: TrackId, actor: Actor) =>
      Effect.flatMap(repo.item(id, track, viewerOf(actor)), Option.match({ onNone: () => Effect.fail(notInPlaylist()), onSome: Effect.succeed }))

    /**
     * Any track the caller can see, whatever its transcode state: a track
     * still processing plays once it is ready. The position is as the
     * caller numbers the entries; one past their last (or none) appends.
     */
    const addTrack = (actor: Actor, id: PlaylistId, input: { track_id: TrackId; position?: number | undefined }) =>
      Effect.gen(function* () {
        yield* editable(actor, id)
        const track = yield* tracks.get(input.track_id, actor).pipe(
          Effect.catchTag("NotFound", () => Effect.fail(NotFound.of("track not found", "TRACK_NOT_FOUND")))
        )
        yield* underLock(id, (count) =>
          Effect.gen(function* () {
            if (Option.isSome(yield* repo.positionOf(id, track.id, viewerOf(actor)))) return yield* Conflict.of("that track is already in this playlist", "TRACK_ALREADY_IN_PLAYLIST")
            if (count >= MAX_PLAYLIST_TRACKS) return yield* Conflict.of(`a playlist holds at most ${MAX_PLAYLIST_TRACKS} tracks`, "PLAYLIST_FULL")
            const concealed = yield* repo.concealedPositions(id, viewerOf(actor))
            if (!(yield* repo.insertAt(id, track, insertionPoint(input.position, count, concealed), actor.id))) {
              return yield* NotFound.of("track not found", "TRACK_NOT_FOUND")
            }
          })
        )
        return yield* itemOf(id, track.id, actor)
      }).pipe(sqlErrors)

    /** The position is as the caller numbers the entries; one past their last moves the track last. */
    const moveTrack = (actor: Actor, id: PlaylistId, track: TrackId, position: number) =>
      Effect.gen(function* () {
        yield* editable(actor, id)
        const viewer = viewerOf(actor)
        yield* underLock(id, (count) =>
          Effect.gen(function* () {
            // An entry the caller cannot see (its track turned private or was hidden) is not theirs to move; read under the lock, with the rest.
            const from = yield* Effect.flatMap(repo.positionOf(id, track, viewer), Option.match({ onNone: () => Effect.fail(notInPlaylist()), onSome: Effect.succeed }))
            const to = moveTarget(from, position, count, yield* repo.concealedPositions(id, viewer))
            if (to !== from) yield* repo.move(id, track, to)
          })
        )
        return yield* itemOf(id, track, actor)
      }).pipe(sqlErrors)

    const removeTrack = (actor: Actor, id: PlaylistId, track: TrackId) =>
      Effect.gen(function* () {
        yield* editable(actor, id)
        const removed = yield* underLock(id, () => repo.remove(id, track, viewerOf(actor)))
        if (!removed) return yield* notInPlaylist()
      }).pipe(sqlErrors)

    /** A private copy for the caller, with the tracks the caller can see; edit it afterwards. */
    const duplicate = (actor: Actor, id: PlaylistId) =>
      Effect.gen(function* () {
        const source = yield* visible(actor, id)
        const title = [...`${source.title} (copy)`].slice(0, 255).join("")
        const copy = yield* repo.duplicate(id, signedInViewer(actor), { title, description: source.description, visibility: "private" })
        return yield* reload(actor, copy)
      }).pipe(sqlErrors)

    const collaborators = (actor: Actor | undefined, id: PlaylistId) =>
      Effect.zipRight(readable(actor, id), repo.collaborators(id)).pipe(sqlErrors)

    /** Adds a collaborator or changes their role; only a new one is notified. */
    const invite = (actor: Actor, id: PlaylistId, input: { user_id: UserId; role: CollaboratorRole }) =>
      Effect.gen(function* () {
        const playlist = yield* managed(actor, id)
        if (input.user_id === playlist.owner_id) return yield* Unprocessable.of("the owner is not a collaborator of their own playlist", "OWNER_NOT_COLLABORATOR")
        yield* users.getPublic(input.user_id)
        // The collaborator is read back under the pair's lock: a block right after may remove them, not before we answer.
        const invited = Effect.gen(function* () {
          const added = yield* repo.upsertCollaborator(id, input.user_id, input.role, actor.id)
          const collaborator = (yield* repo.collaborators(id)).find((c) => c.user_id === input.user_id)!
          return { added, collaborator }
        })
        const { added, collaborator } = yield* Effect.flatMap(
          blocks.unlessBlocked(playlist.owner_id, input.user_id, invited),
          Option.match({ onNone: () => Effect.fail(Forbidden.of("one of you has blocked the other", "BLOCKED")), onSome: Effect.succeed })
        )
        if (added) yield* notifications.notify(input.user_id, "playlist_invite", actor.id, { playlist_id: id, title: playlist.title, role: input.role })
        return collaborator
      }).pipe(sqlErrors)

    /** The owner (or an admin) removes anyone; a collaborator may leave. */
    const removeCollaborator = (actor: Actor, id: PlaylistId, user: UserId) =>
      Effect.gen(function* () {
        const playlist = yield* visible(actor, id)
        if (actor.id !== user && !canManage(actor, playlist)) return yield* Forbidden.of("only the playlist's owner may remove collaborators")
        if (!(yield* repo.removeCollaborator(id, user))) return yield* NotFound.of("that user is not a collaborator of this playlist", "COLLABORATOR_NOT_FOUND")
      }).pipe(sqlErrors)

    const follow = (actor: Actor, id: PlaylistId) =>
      Effect.gen(function* () {
        const playlist = yield* visible(actor, id)
        if (playlist.owner_id === actor.id) return yield* Unprocessable.of("you cannot follow your own playlist", "CANNOT_FOLLOW_OWN_PLAYLIST")
        yield* repo.follow(id, actor.id)
      }).pipe(sqlErrors)

    /** Always possible, even once the playlist went private or away: it only removes the caller's own follow. */
    const unfollow = (actor: Actor, id: PlaylistId) => repo.unfollow(id, actor.id).pipe(sqlErrors)

    return {
      create,
      get,
      update,
      remove,
      listByOwner,
      listFollowed: listOfActor("listFollowed"),
      listShared: listOfActor("listShared"),
      items,
      itemsJson,
      addTrack,
      moveTrack,
      removeTrack,
      duplicate,
      collaborators,
      invite,
      removeCollaborator,
      follow,
      unfollow
    } as const
  }),
  dependencies: [PlaylistsRepo.Default]
}) {}
