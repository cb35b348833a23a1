import { SqlClient } from "@effect/sql"
import { Effect, Option, Redacted } from "effect"
import * as Nodemailer from "nodemailer"
import { AppConfig } from "./config.js"

export interface Mail {
  readonly to: string
  readonly userId?: string
  readonly template: string
  readonly subject: string
  readonly text: string
  /** One-time tokens inside the text: scrubbed from the outbox once the mail is delivered. */
  readonly secrets?: ReadonlyArray<string>
}

/**
 * Every mail is written to the `email_outbox` table first. Without SMTP_URL
 * it is also logged (status `logged`; the body only outside production),
 * which is how development reads verification and reset links; with SMTP_URL it is sent and marked
 * `sent` or `failed` with the error.
 */
export class Mailer extends Effect.Service<Mailer>()("veza/Mailer", {
  scoped: Effect.gen(function* () {
    const config = yield* AppConfig
    const sql = yield* SqlClient.SqlClient
    const transport = yield* Option.match(config.smtpUrl, {
      onNone: () => Effect.succeed(Option.none<Nodemailer.Transporter>()),
      onSome: (url) =>
        Effect.acquireRelease(
          Effect.sync(() => Option.some(Nodemailer.createTransport(Redacted.value(url)))),
          (t) => Effect.sync(() => Option.map(t, (x) => x.close()))
        )
    })

    const send = (mail: Mail) =>
      Effect.gen(function* () {
        const [row] = yield* sql<{ id: string }>`
          insert into email_outbox (user_id, to_address, template, subject, body_text, status)
          values (${mail.userId ?? null}, ${mail.to}, ${mail.template}, ${mail.subject}, ${mail.text},
                  ${Option.isSome(transport) ? "pending" : "logged"})
          returning id`
        const id = row!.id
        if (Option.isNone(transport)) {
          // The body carries one-time links: shown in development logs, never in production's.
          yield* Effect.logInfo("email (not sent: SMTP_URL unset)").pipe(
            Effect.annotateLogs({
              email_id: id,
              template: mail.template,
              to: mail.to,
              ...(config.isProduction ? {} : { body: mail.text })
            })
          )
          return
        }
        const result = yield* Effect.either(
          Effect.tryPromise(() =>
            transport.value.sendMail({ from: config.mailFrom, to: mail.to, subject: mail.subject, text: mail.text })
          )
        )
        if (result._tag === "Right") {
          const delivered = (mail.secrets ?? []).reduce((text, secret) => text.split(secret).join("[redacted]"), mail.text)
          yield* sql`update email_outbox set status = 'sent', attempts = attempts + 1, sent_at = now(), body_text = ${delivered}
                     where id = ${id}`
        } else {
          const error = String(result.left.error)
          yield* sql`update email_outbox set status = 'failed', attempts = attempts + 1, last_error = ${error} where id = ${id}`
          yield* Effect.logWarning("email delivery failed").pipe(Effect.annotateLogs({ email_id: id, error }))
        }
      })
    return { send } as const
  })
}) {}
