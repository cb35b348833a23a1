import { HttpApiSchema } from "@effect/platform"
import { Schema } from "effect"

/**
 * Every failure a client sees has the SPEC §4 shape
 * `{ "error": { "code", "message", "details"? } }`. Each status is one tagged
 * error class (so services `catchTag` them and RPC carries them), and one
 * schema that encodes the class into that envelope with its status, so the
 * HttpApi definition and the OpenAPI document say which errors a call returns.
 */
const ErrorFields = {
  code: Schema.String,
  message: Schema.String,
  details: Schema.optional(Schema.Unknown)
}

const Envelope = Schema.Struct({ error: Schema.Struct(ErrorFields) })

type ErrorFields = Schema.Struct.Type<typeof ErrorFields>

/** The SPEC envelope on the wire, the tagged class in code, the status for HttpApi. */
const envelopeOf = <Self extends ErrorFields, I>(cls: Schema.Schema<Self, I>, make: (fields: ErrorFields) => Self, status: number) =>
  Schema.transform(Envelope, Schema.typeSchema(cls), {
    strict: true,
    decode: (e) => make(e.error),
    encode: (e) => ({
      error: { code: e.code, message: e.message, ...(e.details === undefined ? {} : { details: e.details }) }
    })
  }).annotations(HttpApiSchema.annotations({ status }))

const fields = (code: string, message: string, details?: unknown): ErrorFields =>
  details === undefined ? { code, message } : { code, message, details }

// One class per status, spelled out: classes made by a factory function cannot
// be named in the emitted declarations that `veza/client` users compile against.
export class BadRequest extends Schema.TaggedError<BadRequest>()("BadRequest", ErrorFields) {
  static of(message: string, code = "VALIDATION_ERROR", details?: unknown) {
    return new BadRequest(fields(code, message, details))
  }
  static readonly envelope = envelopeOf(BadRequest, (f) => new BadRequest(f), 400)
}
export class Unauthorized extends Schema.TaggedError<Unauthorized>()("Unauthorized", ErrorFields) {
  static of(message: string, code = "UNAUTHORIZED", details?: unknown) {
    return new Unauthorized(fields(code, message, details))
  }
  static readonly envelope = envelopeOf(Unauthorized, (f) => new Unauthorized(f), 401)
}
export class Forbidden extends Schema.TaggedError<Forbidden>()("Forbidden", ErrorFields) {
  static of(message: string, code = "FORBIDDEN", details?: unknown) {
    return new Forbidden(fields(code, message, details))
  }
  static readonly envelope = envelopeOf(Forbidden, (f) => new Forbidden(f), 403)
}
export class NotFound extends Schema.TaggedError<NotFound>()("NotFound", ErrorFields) {
  static of(message: string, code = "NOT_FOUND", details?: unknown) {
    return new NotFound(fields(code, message, details))
  }
  static readonly envelope = envelopeOf(NotFound, (f) => new NotFound(f), 404)
}
export class Conflict extends Schema.TaggedError<Conflict>()("Conflict", ErrorFields) {
  static of(message: string, code = "CONFLICT", details?: unknown) {
    return new Conflict(fields(code, message, details))
  }
  static readonly envelope = envelopeOf(Conflict, (f) => new Conflict(f), 409)
}
export class PayloadTooLarge extends Schema.TaggedError<PayloadTooLarge>()("PayloadTooLarge", ErrorFields) {
  static of(message: string, code = "PAYLOAD_TOO_LARGE", details?: unknown) {
    return new PayloadTooLarge(fields(code, message, details))
  }
  static readonly envelope = envelopeOf(PayloadTooLarge, (f) => new PayloadTooLarge(f), 413)
}
export class UnsupportedMediaType extends Schema.TaggedError<UnsupportedMediaType>()("UnsupportedMediaType", ErrorFields) {
  static of(message: string, code = "UNSUPPORTED_MEDIA_TYPE", details?: unknown) {
    return new UnsupportedMediaType(fields(code, message, details))
  }
  static readonly envelope = envelopeOf(UnsupportedMediaType, (f) => new UnsupportedMediaType(f), 415)
}
export class Unprocessable extends Schema.TaggedError<Unprocessable>()("Unprocessable", ErrorFields) {
  static of(message: string, code = "UNPROCESSABLE", details?: unknown) {
    return new Unprocessable(fields(code, message, details))
  }
  static readonly envelope = envelopeOf(Unprocessable, (f) => new Unprocessable(f), 422)
}
export class TooManyRequests extends Schema.TaggedError<TooManyRequests>()("TooManyRequests", ErrorFields) {
  static of(message: string, code = "RATE_LIMITED", details?: unknown) {
    return new TooManyRequests(fields(code, message, details))
  }
  static readonly envelope = envelopeOf(TooManyRequests, (f) => new TooManyRequests(f), 429)
}
export class ServiceUnavailable extends Schema.TaggedError<ServiceUnavailable>()("ServiceUnavailable", ErrorFields) {
  static of(message: string, code = "SERVICE_UNAVAILABLE", details?: unknown) {
    return new ServiceUnavailable(fields(code, message, details))
  }
  static readonly envelope = envelopeOf(ServiceUnavailable, (f) => new ServiceUnavailable(f), 503)
}

/** The JSON body for an error produced outside an HttpApi handler (routing, parsing, limits). */
export const errorBody = (code: string, message: string, details?: unknown) =>
  ({ error: { code, message, ...(details === undefined ? {} : { details }) } })

/** An RPC's failures: the ones it names, plus the 503 that any call can meet when the database is away. */
export const rpcErrors = <const Members extends ReadonlyArray<Schema.Schema.All>>(...members: Members) =>
  Schema.Union(...members, ServiceUnavailable)
