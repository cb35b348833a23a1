import * as WS from "ws"

/** The part of `ws`'s Sender used here (public in the package, absent from its types). */
interface SenderStatic {
  frame(data: Buffer, options: { fin: boolean; opcode: number; mask: boolean; readOnly: boolean; rsv1: boolean }): Array<Buffer>
}
const Sender = (WS as unknown as { Sender: SenderStatic }).Sender

/**
 * A complete, unmasked WebSocket text frame (header and payload in one
 * Buffer). Fan-out frames once and writes the same bytes to every socket,
 * as Socket.IO's engine does, instead of framing per recipient.
 */
export const preFramedText = (text: string): Buffer => {
  const parts = Sender.frame(Buffer.from(text), { fin: true, opcode: 1, mask: false, readOnly: false, rsv1: false })
  return parts.length === 1 ? parts[0]! : Buffer.concat(parts)
}

/**
 * Writes a pre-framed frame straight to the socket under `ws`. Only for
 * servers without permessage-deflate, whose Sender never holds frames back,
 * so frames keep their order with those sent through `ws.send`.
 */
export const writePreFramed = (ws: WS.WebSocket, frame: Buffer) => {
  if (ws.readyState !== WS.WebSocket.OPEN) return
  const socket = (ws as unknown as { _socket: { write(data: Buffer): boolean } | null })._socket
  socket?.write(frame)
}
