import { HttpApiEndpoint, HttpApiGroup } from "@effect/platform"
import { Schema } from "effect"
import { Authentication } from "../auth/api.js"
import { Forbidden, NotFound, ServiceUnavailable } from "../platform/api-errors.js"
import { Me, PublicUser, UpdateProfile, UserId, Username } from "./schema.js"

const UserIdPath = Schema.Struct({ id: UserId })

export class UsersApi extends HttpApiGroup.make("users")
  .add(
    HttpApiEndpoint.get("byId", "/users/:id")
      .setPath(UserIdPath)
      .addSuccess(PublicUser)
      .addError(NotFound.envelope)
  )
  .add(
    HttpApiEndpoint.get("byUsername", "/users/by-username/:username")
      .setPath(Schema.Struct({ username: Username }))
      .addSuccess(PublicUser)
      .addError(NotFound.envelope)
  )
  .add(
    HttpApiEndpoint.put("update", "/users/:id")
      .setPath(UserIdPath)
      .setPayload(UpdateProfile)
      .addSuccess(Me)
      .addError(Forbidden.envelope)
      .addError(NotFound.envelope)
      .middleware(Authentication)
  )
  .addError(ServiceUnavailable.envelope) {}
