import { Effect, Option } from "effect"
import { policyRequire } from "../auth/policy.js"
import { NotFound } from "../platform/api-errors.js"
import { sqlErrors } from "../platform/sql-errors.js"
import { UsersRepo } from "./repo.js"
import type { UpdateProfile, UserId } from "./schema.js"

const userNotFound = () => NotFound.of("user not found", "USER_NOT_FOUND")

export class Users extends Effect.Service<Users>()("veza/Users", {
  effect: Effect.gen(function* () {
    const repo = yield* UsersRepo
    const found = <A>(o: Option.Option<A>) => Option.match(o, { onNone: () => Effect.fail(userNotFound()), onSome: Effect.succeed })

    const getPublic = (id: UserId) => repo.findById(id).pipe(Effect.flatMap(found), Effect.map(repo.toPublic), sqlErrors)
    const getPublicByUsername = (username: string) =>
      repo.findByUsername(username).pipe(Effect.flatMap(found), Effect.map(repo.toPublic), sqlErrors)
    const getMe = (id: UserId) => repo.findById(id).pipe(Effect.flatMap(found), Effect.map(repo.toMe), sqlErrors)

    const updateProfile = (id: UserId, patch: UpdateProfile) =>
      repo.findById(id).pipe(
        Effect.flatMap(found),
        Effect.zipRight(repo.updateProfile(id, patch)),
        Effect.zipRight(repo.findById(id)),
        Effect.flatMap(found),
        Effect.map(repo.toMe),
        sqlErrors,
        policyRequire("User", "update")
      )
    return { getPublic, getPublicByUsername, getMe, updateProfile } as const
  }),
  dependencies: [UsersRepo.Default]
}) {}
