/**
 * Faults the emulator can inject into an answer, as plain JSON objects discriminated by `type`.
 *
 * Event counting: "events" are the content events of a streamed answer, numbered from 1 — the
 * deltas that carry text, reasoning or a tool-call fragment. The role chunk (and Azure's
 * prompt-filter chunk) come before event 1 and are never counted; the finish chunk, the usage
 * chunk and `[DONE]` come after the last one. `afterEvents: 0` acts right after the role chunk;
 * an `afterEvents` at or past the number of content events acts after the last one (before the
 * finish chunk). `atEvent: n` targets content event `n`; past the last content event it targets
 * the finish chunk.
 *
 * Each fault may carry `times`: it then applies only to the first `times` requests that chose the
 * same scenario (the same raw `x-sluice-scenario` header value, or the server default), counted
 * per server. Ending faults (`truncate`, `truncateMidEvent`, `reset`, `errorEvent`, `stall`) do
 * not combine: the first active one in list order wins.
 *
 * @example
 * import { Fault, Scenario } from "@sluice/emulator"
 * // 503 with Retry-After twice, then a normal answer
 * const scenario: Scenario.Scenario = {
 *   faults: [Fault.status({ status: 503, retryAfter: 1, times: 2 })]
 * }
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"

const Times = Schema.optional(Schema.Int.pipe(Schema.positive())).annotations({
  description: "apply only to the first `times` requests of the same scenario key"
})

const AfterEvents = Schema.Int.pipe(Schema.nonNegative())

const AtEvent = Schema.Int.pipe(Schema.positive())

/**
 * An HTTP error response with an OpenAI-style error body; `retryAfter` (seconds, or an HTTP date)
 * sets `Retry-After`, `retryAfterMs` sets `retry-after-ms`.
 * @since 0.1.0
 * @category schemas
 */
export const Status = Schema.Struct({
  type: Schema.Literal("status"),
  status: Schema.Int.pipe(Schema.between(400, 599)),
  retryAfter: Schema.optional(Schema.Union(Schema.NonNegative, Schema.String)),
  retryAfterMs: Schema.optional(Schema.Int.pipe(Schema.nonNegative())),
  message: Schema.optional(Schema.String),
  code: Schema.optional(Schema.NullOr(Schema.String)),
  errorType: Schema.optional(Schema.String),
  times: Times
}).annotations({ identifier: "StatusFault" })

/**
 * @since 0.1.0
 * @category models
 */
export interface Status extends Schema.Schema.Type<typeof Status> {}

/**
 * End the body cleanly after `afterEvents` content events: no finish chunk, no `[DONE]`.
 * @since 0.1.0
 * @category schemas
 */
export const Truncate = Schema.Struct({
  type: Schema.Literal("truncate"),
  afterEvents: AfterEvents,
  times: Times
}).annotations({ identifier: "TruncateFault" })

/**
 * @since 0.1.0
 * @category models
 */
export interface Truncate extends Schema.Schema.Type<typeof Truncate> {}

/**
 * After `afterEvents` content events write only the first `bytes` bytes of the next event, then end
 * cleanly; by default the cut falls inside a UTF-8 character if the event has one, else mid-line.
 * @since 0.1.0
 * @category schemas
 */
export const TruncateMidEvent = Schema.Struct({
  type: Schema.Literal("truncateMidEvent"),
  afterEvents: AfterEvents,
  bytes: Schema.optional(Schema.Int.pipe(Schema.positive())),
  times: Times
}).annotations({ identifier: "TruncateMidEventFault" })

/**
 * @since 0.1.0
 * @category models
 */
export interface TruncateMidEvent extends Schema.Schema.Type<typeof TruncateMidEvent> {}

/**
 * Destroy the connection after `afterEvents` content events (no chunked terminator); `rst: true`
 * sends a TCP RST instead of a FIN (data not yet read by the client may then be lost).
 * @since 0.1.0
 * @category schemas
 */
export const Reset = Schema.Struct({
  type: Schema.Literal("reset"),
  afterEvents: AfterEvents,
  rst: Schema.optional(Schema.Boolean),
  times: Times
}).annotations({ identifier: "ResetFault" })

/**
 * @since 0.1.0
 * @category models
 */
export interface Reset extends Schema.Schema.Type<typeof Reset> {}

/**
 * Send everything, finish chunk included, but not `data: [DONE]`.
 * @since 0.1.0
 * @category schemas
 */
export const DropDone = Schema.Struct({
  type: Schema.Literal("dropDone"),
  times: Times
}).annotations({ identifier: "DropDoneFault" })

/**
 * @since 0.1.0
 * @category models
 */
export interface DropDone extends Schema.Schema.Type<typeof DropDone> {}

/**
 * Never send a finish reason; `[DONE]` is still sent. When the usage style puts usage on the
 * finish chunk (`deepseek`, `groq`, `continuous`) that chunk is kept with `finish_reason: null`.
 * @since 0.1.0
 * @category schemas
 */
export const DropFinish = Schema.Struct({
  type: Schema.Literal("dropFinish"),
  times: Times
}).annotations({ identifier: "DropFinishFault" })

/**
 * @since 0.1.0
 * @category models
 */
export interface DropFinish extends Schema.Schema.Type<typeof DropFinish> {}

/**
 * After `afterEvents` content events send an in-band error event (`data: {"error":{…}}`), then end.
 * @since 0.1.0
 * @category schemas
 */
export const ErrorEvent = Schema.Struct({
  type: Schema.Literal("errorEvent"),
  afterEvents: AfterEvents,
  message: Schema.optional(Schema.String),
  errorType: Schema.optional(Schema.String),
  code: Schema.optional(Schema.NullOr(Schema.String)),
  times: Times
}).annotations({ identifier: "ErrorEventFault" })

/**
 * @since 0.1.0
 * @category models
 */
export interface ErrorEvent extends Schema.Schema.Type<typeof ErrorEvent> {}

/**
 * Stop sending after `afterEvents` content events and hold the connection open until the client
 * goes away (keep-alive comments continue if the scenario sends them).
 * @since 0.1.0
 * @category schemas
 */
export const Stall = Schema.Struct({
  type: Schema.Literal("stall"),
  afterEvents: AfterEvents,
  times: Times
}).annotations({ identifier: "StallFault" })

/**
 * @since 0.1.0
 * @category models
 */
export interface Stall extends Schema.Schema.Type<typeof Stall> {}

/**
 * A buffering gateway: wait for the whole paced duration, then send every event in one write.
 * @since 0.1.0
 * @category schemas
 */
export const BufferedReplay = Schema.Struct({
  type: Schema.Literal("bufferedReplay"),
  times: Times
}).annotations({ identifier: "BufferedReplayFault" })

/**
 * @since 0.1.0
 * @category models
 */
export interface BufferedReplay extends Schema.Schema.Type<typeof BufferedReplay> {}

/**
 * Content event `atEvent` carries broken JSON (its closing brace is missing).
 * @since 0.1.0
 * @category schemas
 */
export const MalformedJson = Schema.Struct({
  type: Schema.Literal("malformedJson"),
  atEvent: AtEvent,
  times: Times
}).annotations({ identifier: "MalformedJsonFault" })

/**
 * @since 0.1.0
 * @category models
 */
export interface MalformedJson extends Schema.Schema.Type<typeof MalformedJson> {}

/**
 * Content event `atEvent` is valid JSON that does not fit the chunk schema (`choices` is a string).
 * @since 0.1.0
 * @category schemas
 */
export const WrongSchema = Schema.Struct({
  type: Schema.Literal("wrongSchema"),
  atEvent: AtEvent,
  times: Times
}).annotations({ identifier: "WrongSchemaFault" })

/**
 * @since 0.1.0
 * @category models
 */
export interface WrongSchema extends Schema.Schema.Type<typeof WrongSchema> {}

/**
 * Never send usage, even when the request asked for it.
 * @since 0.1.0
 * @category schemas
 */
export const OmitUsage = Schema.Struct({
  type: Schema.Literal("omitUsage"),
  times: Times
}).annotations({ identifier: "OmitUsageFault" })

/**
 * @since 0.1.0
 * @category models
 */
export interface OmitUsage extends Schema.Schema.Type<typeof OmitUsage> {}

/**
 * Multiply the streamed usage figures by `factor` (non-streamed answers are untouched).
 * @since 0.1.0
 * @category schemas
 */
export const InflateUsage = Schema.Struct({
  type: Schema.Literal("inflateUsage"),
  factor: Schema.Positive,
  times: Times
}).annotations({ identifier: "InflateUsageFault" })

/**
 * @since 0.1.0
 * @category models
 */
export interface InflateUsage extends Schema.Schema.Type<typeof InflateUsage> {}

/**
 * Send status 200 and the response headers, then nothing until the client goes away.
 * @since 0.1.0
 * @category schemas
 */
export const HeadersOnly = Schema.Struct({
  type: Schema.Literal("headersOnly"),
  times: Times
}).annotations({ identifier: "HeadersOnlyFault" })

/**
 * @since 0.1.0
 * @category models
 */
export interface HeadersOnly extends Schema.Schema.Type<typeof HeadersOnly> {}

/**
 * A 401 whose error message echoes the bearer token it received (for secret-scrubbing tests).
 * @since 0.1.0
 * @category schemas
 */
export const EchoKey = Schema.Struct({
  type: Schema.Literal("echoKey"),
  times: Times
}).annotations({ identifier: "EchoKeyFault" })

/**
 * @since 0.1.0
 * @category models
 */
export interface EchoKey extends Schema.Schema.Type<typeof EchoKey> {}

/**
 * Any fault.
 * @since 0.1.0
 * @category schemas
 */
export const Fault = Schema.Union(
  Status,
  Truncate,
  TruncateMidEvent,
  Reset,
  DropDone,
  DropFinish,
  ErrorEvent,
  Stall,
  BufferedReplay,
  MalformedJson,
  WrongSchema,
  OmitUsage,
  InflateUsage,
  HeadersOnly,
  EchoKey
).annotations({ identifier: "Fault" })

/**
 * @since 0.1.0
 * @category models
 */
export type Fault = typeof Fault.Type

/**
 * The `type` of a fault.
 * @since 0.1.0
 * @category models
 */
export type Type = Fault["type"]

type Args<F extends Fault> = Omit<F, "type">

/**
 * An HTTP error response.
 * @since 0.1.0
 * @category constructors
 */
export const status = (options: Args<Status>): Status => ({ type: "status", ...options })

/**
 * HTTP 400 with code `context_length_exceeded`, as OpenAI reports a prompt too long for the model.
 * @since 0.1.0
 * @category constructors
 */
export const contextLengthExceeded = (options: Omit<Args<Status>, "status" | "code"> = {}): Status => ({
  type: "status",
  status: 400,
  code: "context_length_exceeded",
  errorType: "invalid_request_error",
  message:
    "This model's maximum context length is 128000 tokens. However, your messages resulted in 130000 tokens. " +
    "Please reduce the length of the messages.",
  ...options
})

/**
 * End the body cleanly after `afterEvents` content events.
 * @since 0.1.0
 * @category constructors
 */
export const truncate = (afterEvents: number, options: Omit<Args<Truncate>, "afterEvents"> = {}): Truncate => ({
  type: "truncate",
  afterEvents,
  ...options
})

/**
 * Cut the body inside the event that follows content event `afterEvents`.
 * @since 0.1.0
 * @category constructors
 */
export const truncateMidEvent = (
  afterEvents: number,
  options: Omit<Args<TruncateMidEvent>, "afterEvents"> = {}
): TruncateMidEvent => ({ type: "truncateMidEvent", afterEvents, ...options })

/**
 * Destroy the connection after `afterEvents` content events.
 * @since 0.1.0
 * @category constructors
 */
export const reset = (afterEvents: number, options: Omit<Args<Reset>, "afterEvents"> = {}): Reset => ({
  type: "reset",
  afterEvents,
  ...options
})

/**
 * Omit `data: [DONE]`.
 * @since 0.1.0
 * @category constructors
 */
export const dropDone = (options: Args<DropDone> = {}): DropDone => ({ type: "dropDone", ...options })

/**
 * Omit the finish reason.
 * @since 0.1.0
 * @category constructors
 */
export const dropFinish = (options: Args<DropFinish> = {}): DropFinish => ({ type: "dropFinish", ...options })

/**
 * Send an in-band error event after `afterEvents` content events.
 * @since 0.1.0
 * @category constructors
 */
export const errorEvent = (afterEvents: number, options: Omit<Args<ErrorEvent>, "afterEvents"> = {}): ErrorEvent => ({
  type: "errorEvent",
  afterEvents,
  ...options
})

/**
 * Go silent after `afterEvents` content events, keeping the connection open.
 * @since 0.1.0
 * @category constructors
 */
export const stall = (afterEvents: number, options: Omit<Args<Stall>, "afterEvents"> = {}): Stall => ({
  type: "stall",
  afterEvents,
  ...options
})

/**
 * Replay the whole answer at once after its paced duration.
 * @since 0.1.0
 * @category constructors
 */
export const bufferedReplay = (options: Args<BufferedReplay> = {}): BufferedReplay => ({
  type: "bufferedReplay",
  ...options
})

/**
 * Break the JSON of content event `atEvent`.
 * @since 0.1.0
 * @category constructors
 */
export const malformedJson = (atEvent: number, options: Omit<Args<MalformedJson>, "atEvent"> = {}): MalformedJson => ({
  type: "malformedJson",
  atEvent,
  ...options
})

/**
 * Make content event `atEvent` valid JSON of the wrong shape.
 * @since 0.1.0
 * @category constructors
 */
export const wrongSchema = (atEvent: number, options: Omit<Args<WrongSchema>, "atEvent"> = {}): WrongSchema => ({
  type: "wrongSchema",
  atEvent,
  ...options
})

/**
 * Never send usage.
 * @since 0.1.0
 * @category constructors
 */
export const omitUsage = (options: Args<OmitUsage> = {}): OmitUsage => ({ type: "omitUsage", ...options })

/**
 * Multiply streamed usage by `factor`.
 * @since 0.1.0
 * @category constructors
 */
export const inflateUsage = (factor: number, options: Omit<Args<InflateUsage>, "factor"> = {}): InflateUsage => ({
  type: "inflateUsage",
  factor,
  ...options
})

/**
 * Send the headers, then nothing.
 * @since 0.1.0
 * @category constructors
 */
export const headersOnly = (options: Args<HeadersOnly> = {}): HeadersOnly => ({ type: "headersOnly", ...options })

/**
 * A 401 echoing the bearer token.
 * @since 0.1.0
 * @category constructors
 */
export const echoKey = (options: Args<EchoKey> = {}): EchoKey => ({ type: "echoKey", ...options })
