import { Rpc, RpcGroup } from "@effect/rpc"
import { Schema } from "effect"
import { RpcAuthentication } from "../auth/rpc.js"
import { Forbidden, NotFound, ServiceUnavailable } from "../platform/api-errors.js"
import { Me, PublicUser, UpdateProfile, UserId, Username } from "./schema.js"

export class UsersRpcs extends RpcGroup.make(
  Rpc.make("users.get", { payload: { id: UserId }, success: PublicUser, error: Schema.Union(NotFound, ServiceUnavailable) }),
  Rpc.make("users.getByUsername", { payload: { username: Username }, success: PublicUser, error: Schema.Union(NotFound, ServiceUnavailable) }),
  Rpc.make("users.update", {
    payload: { id: UserId, profile: UpdateProfile },
    success: Me,
    error: Schema.Union(Forbidden, NotFound, ServiceUnavailable)
  }).middleware(RpcAuthentication)
) {}
