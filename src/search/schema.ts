import { Schema } from "effect"
import { TrackId, Visibility } from "../tracks/schema.js"
import { UserId } from "../users/schema.js"

/** What can be searched; each kind is one branch of the service and one kind of hit. */
export const SearchType = Schema.Literal("tracks", "users", "playlists")
export type SearchType = typeof SearchType.Type

export const TrackHit = Schema.Struct({
  type: Schema.Literal("track"),
  id: TrackId,
  title: Schema.String,
  artist: Schema.NullOr(Schema.String),
  creator_id: UserId,
  creator_username: Schema.String,
  genre: Schema.NullOr(Schema.String),
  tags: Schema.Array(Schema.String),
  duration_ms: Schema.Int,
  visibility: Visibility,
  created_at: Schema.Date,
  /** Relevance, higher first; comparable within one result list only. */
  rank: Schema.Number
}).annotations({ identifier: "TrackHit" })
export type TrackHit = typeof TrackHit.Type

export const UserHit = Schema.Struct({
  type: Schema.Literal("user"),
  id: UserId,
  username: Schema.String,
  display_name: Schema.NullOr(Schema.String),
  avatar_url: Schema.NullOr(Schema.String),
  follower_count: Schema.Int,
  rank: Schema.Number
}).annotations({ identifier: "UserHit" })
export type UserHit = typeof UserHit.Type

export const PlaylistHit = Schema.Struct({
  type: Schema.Literal("playlist"),
  id: Schema.UUID,
  title: Schema.String,
  description: Schema.NullOr(Schema.String),
  owner_id: UserId,
  owner_username: Schema.String,
  visibility: Visibility,
  track_count: Schema.Int,
  follower_count: Schema.Int,
  rank: Schema.Number
}).annotations({ identifier: "PlaylistHit" })
export type PlaylistHit = typeof PlaylistHit.Type

export const SearchHit = Schema.Union(TrackHit, UserHit, PlaylistHit)
export type SearchHit = typeof SearchHit.Type

export const SearchResults = Schema.Struct({
  items: Schema.Array(SearchHit),
  next_cursor: Schema.NullOr(Schema.String)
}).annotations({ identifier: "SearchResults" })
