import { SqlClient } from "@effect/sql"
import { Duration, Effect, FiberSet, Option, Redacted } from "effect"
import * as Nodemailer from "nodemailer"
import { AppConfig } from "./config.js"

export interface Mail {
  readonly to: string
  readonly userId?: string
  readonly template: "verify_email" | "password_reset"
  readonly subject: string
  readonly text: string
  /** One-time tokens inside the text: never stored, only sent (or logged in development). */
  readonly secrets?: ReadonlyArray<string>
}

const SMTP_TIMEOUT_MS = 10_000

/**
 * Every mail is recorded in the `email_outbox` table, its one-time tokens
 * replaced by `[redacted]`, so a database leak yields no usable link. Without
 * SMTP_URL the mail is also logged (status `logged`; the full body only
 * outside production, which is how development reads the links). With
 * SMTP_URL it is delivered in the background — the request does not wait on
 * the mail server, and answers take the same time whether or not a mail goes
 * out — and marked `sent` or `failed` with the error.
 */
export class Mailer extends Effect.Service<Mailer>()("veza/Mailer", {
  scoped: Effect.gen(function* () {
    const config = yield* AppConfig
    const sql = yield* SqlClient.SqlClient
    const transport = yield* Option.match(config.smtpUrl, {
      onNone: () => Effect.succeed(Option.none<Nodemailer.Transporter>()),
      onSome: (url) =>
        Effect.acquireRelease(
          Effect.sync(() =>
            Option.some(
              Nodemailer.createTransport({
                url: Redacted.value(url),
                connectionTimeout: SMTP_TIMEOUT_MS,
                greetingTimeout: SMTP_TIMEOUT_MS,
                socketTimeout: SMTP_TIMEOUT_MS
              } as Parameters<typeof Nodemailer.createTransport>[0])
            )
          ),
          (t) => Effect.sync(() => Option.map(t, (x) => x.close()))
        )
    })
    const deliveries = yield* FiberSet.make()
    // Deliveries under way at shutdown get a moment to finish; the rest stay `pending`.
    yield* Effect.addFinalizer(() =>
      FiberSet.awaitEmpty(deliveries).pipe(Effect.timeout(Duration.seconds(5)), Effect.ignore, Effect.interruptible)
    )

    const deliver = (id: string, mail: Mail, smtp: Nodemailer.Transporter) =>
      Effect.gen(function* () {
        const result = yield* Effect.either(
          Effect.tryPromise(() => smtp.sendMail({ from: config.mailFrom, to: mail.to, subject: mail.subject, text: mail.text }))
        )
        if (result._tag === "Right") {
          yield* sql`update email_outbox set status = 'sent', attempts = attempts + 1, sent_at = now() where id = ${id}`
        } else {
          const error = String(result.left.error)
          yield* sql`update email_outbox set status = 'failed', attempts = attempts + 1, last_error = ${error} where id = ${id}`
          yield* Effect.logWarning("email delivery failed").pipe(Effect.annotateLogs({ email_id: id, error }))
        }
      }).pipe(Effect.catchAllCause((cause) => Effect.logWarning("email bookkeeping failed", cause)))

    /**
     * Records the mail and returns what sends it. Inside a transaction, run
     * the returned effect after commit, so no mail leaves for data that was
     * rolled back.
     */
    const record = (mail: Mail) =>
      Effect.gen(function* () {
        const stored = (mail.secrets ?? []).reduce((text, secret) => text.split(secret).join("[redacted]"), mail.text)
        const [row] = yield* sql<{ id: string }>`
          insert into email_outbox (user_id, to_address, template, subject, body_text, status)
          values (${mail.userId ?? null}, ${mail.to}, ${mail.template}, ${mail.subject}, ${stored},
                  ${Option.isSome(transport) ? "pending" : "logged"})
          returning id`
        const id = row!.id
        if (Option.isSome(transport)) return FiberSet.run(deliveries, deliver(id, mail, transport.value)).pipe(Effect.asVoid)
        return Effect.logInfo("email (not sent: SMTP_URL unset)").pipe(
          Effect.annotateLogs({
            email_id: id,
            template: mail.template,
            to: mail.to,
            ...(config.isProduction ? {} : { body: mail.text })
          })
        )
      })

    return { record } as const
  })
}) {}
