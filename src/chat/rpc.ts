import { Rpc, RpcGroup } from "@effect/rpc"
import { RpcAuthentication } from "../auth/rpc.js"
import { BadRequest, Conflict, Forbidden, NotFound, rpcErrors, Unauthorized } from "../platform/api-errors.js"
import { UserId } from "../users/schema.js"
import { ChatToken, CreateRoom, HistoryParams, MemberChange, MemberInvitation, MemberList, MessagePage, RoomList, RoomListParams } from "./api.js"
import { Member, Room, RoomId } from "./schema.js"

const ById = { id: RoomId }
const ByMember = { id: RoomId, user_id: UserId }

/** Chat's REST calls over RPC (the live protocol stays on `/ws`); every one needs a token. */
export class ChatRpcs extends RpcGroup.make(
  Rpc.make("chat.createRoom", { payload: CreateRoom, success: Room, error: rpcErrors(BadRequest, NotFound) }),
  Rpc.make("chat.listRooms", { payload: RoomListParams, success: RoomList, error: rpcErrors(BadRequest) }),
  Rpc.make("chat.getRoom", { payload: ById, success: Room, error: rpcErrors(NotFound) }),
  Rpc.make("chat.joinRoom", { payload: ById, success: Room, error: rpcErrors(NotFound, Forbidden) }),
  Rpc.make("chat.leaveRoom", { payload: ById, error: rpcErrors(NotFound, Forbidden, Conflict) }),
  Rpc.make("chat.members", { payload: ById, success: MemberList, error: rpcErrors(NotFound) }),
  Rpc.make("chat.invite", { payload: { ...ById, ...MemberInvitation.fields }, error: rpcErrors(BadRequest, NotFound, Forbidden, Conflict) }),
  Rpc.make("chat.updateMember", { payload: { ...ByMember, change: MemberChange }, success: Member, error: rpcErrors(BadRequest, NotFound, Forbidden, Conflict) }),
  Rpc.make("chat.kick", { payload: ByMember, error: rpcErrors(NotFound, Forbidden) }),
  Rpc.make("chat.history", { payload: { ...ById, ...HistoryParams.fields }, success: MessagePage, error: rpcErrors(BadRequest, NotFound) }),
  Rpc.make("chat.token", { success: ChatToken, error: rpcErrors(Unauthorized) })
).middleware(RpcAuthentication) {}
