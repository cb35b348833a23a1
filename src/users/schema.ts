import { Schema } from "effect"
import { StoredText } from "../platform/text.js"

export const UserId = Schema.UUID.pipe(Schema.brand("UserId"))
export type UserId = typeof UserId.Type

export const UserRole = Schema.Literal("user", "creator", "artist", "producer", "label", "premium", "admin")
export type UserRole = typeof UserRole.Type

export const Username = Schema.String.pipe(
  Schema.pattern(/^[A-Za-z0-9_]{3,30}$/, {
    message: () => "username must be 3-30 letters, digits or underscores"
  })
)

export const Email = Schema.Trim.pipe(
  Schema.maxLength(255),
  Schema.pattern(/^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$/, { message: () => "must be a valid email address" }),
  Schema.transform(Schema.String, { strict: true, decode: (s) => s.toLowerCase(), encode: (s) => s })
)

// ISO-8601 strings on the wire, Dates in code (what pg returns): no conversion on the hot path.
const Timestamp = Schema.Date

const publicUserFields = {
  id: UserId,
  username: Schema.String,
  display_name: Schema.NullOr(Schema.String),
  role: UserRole,
  bio: Schema.NullOr(Schema.String),
  tagline: Schema.NullOr(Schema.String),
  location: Schema.NullOr(Schema.String),
  website_url: Schema.NullOr(Schema.String),
  avatar_url: Schema.NullOr(Schema.String),
  banner_url: Schema.NullOr(Schema.String),
  follower_count: Schema.Int,
  following_count: Schema.Int,
  track_count: Schema.Int,
  playlist_count: Schema.Int,
  created_at: Timestamp
}

/** What anyone may see of an account. */
export const PublicUser = Schema.Struct(publicUserFields).annotations({ identifier: "PublicUser" })
export type PublicUser = typeof PublicUser.Type

/** The account as its owner (or an admin) sees it. */
export const Me = Schema.Struct({
  ...publicUserFields,
  email: Schema.String,
  email_verified: Schema.Boolean,
  language: Schema.String,
  timezone: Schema.String,
  updated_at: Timestamp
}).annotations({ identifier: "Me" })
export type Me = typeof Me.Type

const optionalText = (max: number) => Schema.optional(Schema.NullOr(StoredText.pipe(Schema.maxLength(max))))
const optionalUrl = Schema.optional(
  Schema.NullOr(
    StoredText.pipe(
      Schema.maxLength(500),
      Schema.pattern(/^https?:\/\/[^\s]+$/, { message: () => "must be an http(s) URL" })
    )
  )
)

export const UpdateProfile = Schema.Struct({
  display_name: optionalText(100),
  bio: optionalText(4000),
  tagline: optionalText(255),
  location: optionalText(255),
  website_url: optionalUrl,
  avatar_url: optionalUrl,
  banner_url: optionalUrl,
  language: Schema.optional(Schema.String.pipe(Schema.pattern(/^[a-z]{2}(-[A-Z]{2})?$/, { message: () => "must be a language tag like en or pt-BR" }))),
  timezone: Schema.optional(StoredText.pipe(Schema.minLength(1), Schema.maxLength(50)))
}).annotations({ identifier: "UpdateProfile" })
export type UpdateProfile = typeof UpdateProfile.Type
