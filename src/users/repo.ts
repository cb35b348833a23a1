import { SqlClient, type Statement } from "@effect/sql"
import { Effect, Option } from "effect"
import type { Me, PublicUser, UpdateProfile, UserId, UserRole } from "./schema.js"

interface UserRow {
  readonly id: UserId
  readonly username: string
  readonly display_name: string | null
  readonly role: UserRole
  readonly email: string
  readonly email_verified_at: Date | null
  readonly bio: string | null
  readonly tagline: string | null
  readonly location: string | null
  readonly website_url: string | null
  readonly avatar_url: string | null
  readonly banner_url: string | null
  readonly language: string
  readonly timezone: string
  readonly follower_count: number
  readonly following_count: number
  readonly track_count: number
  readonly playlist_count: number
  readonly created_at: Date
  readonly updated_at: Date
}

const publicFields = (r: UserRow) => ({
  id: r.id,
  username: r.username,
  display_name: r.display_name,
  role: r.role,
  bio: r.bio,
  tagline: r.tagline,
  location: r.location,
  website_url: r.website_url,
  avatar_url: r.avatar_url,
  banner_url: r.banner_url,
  follower_count: r.follower_count,
  following_count: r.following_count,
  track_count: r.track_count,
  playlist_count: r.playlist_count,
  created_at: r.created_at
})

const toPublic = (r: UserRow): PublicUser => publicFields(r)
const toMe = (r: UserRow): Me => ({
  ...publicFields(r),
  email: r.email,
  email_verified: r.email_verified_at !== null,
  language: r.language,
  timezone: r.timezone,
  updated_at: r.updated_at
})

export class UsersRepo extends Effect.Service<UsersRepo>()("veza/UsersRepo", {
  effect: Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const select = (where: Statement.Fragment) =>
      sql<UserRow>`
        select u.id, u.username, u.display_name, u.role, u.email, u.email_verified_at,
               greatest(u.updated_at, p.updated_at) as updated_at, u.created_at,
               p.bio, p.tagline, p.location, p.website_url, p.avatar_url, p.banner_url, p.language, p.timezone,
               p.follower_count, p.following_count, p.track_count, p.playlist_count
        from users u join user_profiles p on p.user_id = u.id
        where u.deleted_at is null and ${where}`
    const findById = (id: UserId) => select(sql`u.id = ${id}`).pipe(Effect.map((rows) => Option.fromNullable(rows[0])))
    const findByUsername = (username: string) =>
      select(sql`lower(u.username) = lower(${username})`).pipe(Effect.map((rows) => Option.fromNullable(rows[0])))

    const updateProfile = (id: UserId, patch: UpdateProfile) =>
      sql.withTransaction(
        Effect.gen(function* () {
          if (patch.display_name !== undefined) {
            yield* sql`update users set display_name = ${patch.display_name} where id = ${id} and deleted_at is null`
          }
          const profile: Record<string, unknown> = {}
          for (const key of ["bio", "tagline", "location", "website_url", "avatar_url", "banner_url", "language", "timezone"] as const) {
            if (patch[key] !== undefined) profile[key] = patch[key]
          }
          if (Object.keys(profile).length > 0) {
            yield* sql`update user_profiles set ${sql.update(profile)} where user_id = ${id}`
          }
        })
      )
    return { findById, findByUsername, updateProfile, toPublic, toMe } as const
  })
}) {}
