import { Schema } from "effect"
import { Page } from "../platform/cursor.js"
import { StoredText } from "../platform/text.js"
import { TrackId, TrackStatus, Visibility } from "../tracks/schema.js"
import { UserId } from "../users/schema.js"

export const PlaylistId = Schema.UUID.pipe(Schema.brand("PlaylistId"))
export type PlaylistId = typeof PlaylistId.Type

export const CollaboratorRole = Schema.Literal("editor", "viewer")
export type CollaboratorRole = typeof CollaboratorRole.Type

/** The caller's standing towards a playlist. */
export const PlaylistRole = Schema.Literal("owner", "editor", "viewer")
export type PlaylistRole = typeof PlaylistRole.Type

/** The most tracks one playlist holds: every edit renumbers at most this many rows. */
export const MAX_PLAYLIST_TRACKS = 5000

export const PlaylistTitle = StoredText.pipe(
  Schema.transform(Schema.String, { strict: true, decode: (s) => s.trim(), encode: (s) => s }),
  Schema.minLength(1, { message: () => "title must not be blank" }),
  Schema.filter((s) => [...s].length <= 255, { message: () => "title must be at most 255 characters", jsonSchema: { maxLength: 255 } })
)

export const PlaylistDescription = StoredText.pipe(
  Schema.filter((s) => [...s].length <= 5000, { message: () => "description must be at most 5000 characters", jsonSchema: { maxLength: 5000 } })
)

export const Position = Schema.Int.pipe(Schema.greaterThanOrEqualTo(1, { message: () => "position must be an integer of at least 1" }))

export const Playlist = Schema.Struct({
  id: PlaylistId,
  owner_id: UserId,
  title: Schema.String,
  description: Schema.NullOr(Schema.String),
  visibility: Visibility,
  collaborative: Schema.Boolean,
  track_count: Schema.Int,
  total_duration_ms: Schema.Int,
  follower_count: Schema.Int,
  /** The caller's role: owner, an invited editor or viewer, or null. */
  my_role: Schema.NullOr(PlaylistRole),
  /** Whether the caller follows it (false when anonymous). */
  following: Schema.Boolean,
  created_at: Schema.Date,
  updated_at: Schema.Date
}).annotations({ identifier: "Playlist" })
export type Playlist = typeof Playlist.Type

/** What a list shows of a track (the full track is `GET /tracks/:id`). */
export const TrackSummary = Schema.Struct({
  id: TrackId,
  creator_id: UserId,
  title: Schema.String,
  artist: Schema.NullOr(Schema.String),
  genre: Schema.NullOr(Schema.String),
  visibility: Visibility,
  status: TrackStatus,
  duration_ms: Schema.Int,
  created_at: Schema.Date
}).annotations({ identifier: "TrackSummary" })
export type TrackSummary = typeof TrackSummary.Type

export const PlaylistItem = Schema.Struct({
  position: Schema.Int,
  added_by: Schema.NullOr(UserId),
  added_at: Schema.Date,
  track: TrackSummary
}).annotations({ identifier: "PlaylistItem" })
export type PlaylistItem = typeof PlaylistItem.Type

export const Collaborator = Schema.Struct({
  user_id: UserId,
  username: Schema.String,
  role: CollaboratorRole,
  invited_by: Schema.NullOr(UserId),
  created_at: Schema.Date
}).annotations({ identifier: "PlaylistCollaborator" })
export type Collaborator = typeof Collaborator.Type

export const CreatePlaylist = Schema.Struct({
  title: PlaylistTitle,
  description: Schema.optional(Schema.NullOr(PlaylistDescription)),
  visibility: Schema.optionalWith(Visibility, { default: () => "public" as const }),
  collaborative: Schema.optionalWith(Schema.Boolean, { default: () => false })
}).annotations({ identifier: "CreatePlaylist" })
export type CreatePlaylist = typeof CreatePlaylist.Type

export const UpdatePlaylist = Schema.Struct({
  title: Schema.optional(PlaylistTitle),
  description: Schema.optional(Schema.NullOr(PlaylistDescription)),
  visibility: Schema.optional(Visibility),
  collaborative: Schema.optional(Schema.Boolean)
}).annotations({ identifier: "UpdatePlaylist" })
export type UpdatePlaylist = typeof UpdatePlaylist.Type

export const AddTrack = Schema.Struct({
  track_id: TrackId,
  position: Schema.optional(Position)
}).annotations({ identifier: "AddPlaylistTrack" })

export const MoveTrack = Schema.Struct({ position: Position }).annotations({ identifier: "MovePlaylistTrack" })

export const InviteCollaborator = Schema.Struct({
  user_id: UserId,
  role: Schema.optionalWith(CollaboratorRole, { default: () => "editor" as const })
}).annotations({ identifier: "InviteCollaborator" })

export const PlaylistPage = Page(Playlist).annotations({ identifier: "PlaylistPage" })
export const PlaylistItemPage = Page(PlaylistItem).annotations({ identifier: "PlaylistItemPage" })
