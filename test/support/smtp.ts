import { SMTPServer } from "smtp-server"

export interface ReceivedMail {
  readonly to: ReadonlyArray<string>
  /** The raw message, headers and body. */
  readonly data: string
}

/** A real SMTP server on a free loopback port that keeps every message it is sent. */
export const startMailCatcher = async () => {
  const received: Array<ReceivedMail> = []
  const smtp = new SMTPServer({
    authOptional: true,
    disabledCommands: ["STARTTLS"],
    onData(stream, session, callback) {
      let data = ""
      stream.on("data", (chunk) => (data += chunk))
      stream.on("end", () => {
        received.push({ to: session.envelope.rcptTo.map((r) => r.address), data })
        callback()
      })
    }
  })
  await new Promise<void>((resolve) => smtp.listen(0, "127.0.0.1", resolve))
  const port = (smtp.server.address() as { port: number }).port
  return {
    /** For the server's SMTP_URL. */
    url: `smtp://127.0.0.1:${port}`,
    received,
    close: () => new Promise<void>((resolve) => smtp.close(() => resolve()))
  }
}
