import { SqlClient } from "@effect/sql"
import { Effect, Option } from "effect"
import { AuditLog } from "../audit/service.js"
import type { Actor } from "../auth/current-user.js"
import type { ClientInfo } from "../platform/client-info.js"
import { policyRequire } from "../auth/policy.js"
import { NotFound } from "../platform/api-errors.js"
import { sqlErrors } from "../platform/sql-errors.js"
import { UsersRepo } from "./repo.js"
import type { UpdateProfile, UserId } from "./schema.js"

const userNotFound = () => NotFound.of("user not found", "USER_NOT_FOUND")

export class Users extends Effect.Service<Users>()("veza/Users", {
  effect: Effect.gen(function* () {
    const repo = yield* UsersRepo
    const audit = yield* AuditLog
    const sql = yield* SqlClient.SqlClient
    const found = <A>(o: Option.Option<A>) => Option.match(o, { onNone: () => Effect.fail(userNotFound()), onSome: Effect.succeed })

    const getPublic = (id: UserId) => repo.findById(id).pipe(Effect.flatMap(found), Effect.map(repo.toPublic), sqlErrors)
    const getPublicByUsername = (username: string) =>
      repo.findByUsername(username).pipe(Effect.flatMap(found), Effect.map(repo.toPublic), sqlErrors)
    const getMe = (id: UserId) => repo.findById(id).pipe(Effect.flatMap(found), Effect.map(repo.toMe), sqlErrors)

    /** The change and its audit entry commit together; an admin editing someone else's profile is marked. */
    const updateProfile = (id: UserId, patch: UpdateProfile, actor: Actor, client: ClientInfo) =>
      repo.findById(id).pipe(
        Effect.flatMap(found),
        Effect.zipRight(
          sql.withTransaction(
            Effect.zipRight(
              repo.updateProfile(id, patch),
              audit.record({
                actorId: actor.id,
                action: actor.id === id ? "user.profile_updated" : "admin.user_profile_updated",
                targetType: "user",
                targetId: id,
                ...client,
                metadata: { fields: Object.keys(patch) }
              })
            )
          )
        ),
        Effect.zipRight(repo.findById(id)),
        Effect.flatMap(found),
        Effect.map(repo.toMe),
        sqlErrors,
        policyRequire("User", "update")
      )
    return { getPublic, getPublicByUsername, getMe, updateProfile } as const
  }),
  dependencies: [UsersRepo.Default, AuditLog.Default]
}) {}
