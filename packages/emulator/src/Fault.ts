/**
 * Faults the emulator can inject into an answer, as plain JSON objects discriminated by `type`.
 *
 * Event counting is the same in every format: "events" are the content events of a streamed
 * answer, numbered from 1 — the events that carry text, reasoning or a tool-call fragment. What
 * comes before event 1 is never counted (OpenAI's role chunk and Azure's prompt-filter chunk;
 * Anthropic's `message_start`, the first `content_block_start` of a text or thinking block and
 * `ping`), nor is structure between content events (Anthropic's `content_block_stop`, the
 * `content_block_start` of text and thinking blocks, `signature_delta`, the empty first
 * `input_json_delta`); the finish (OpenAI's finish chunk, Anthropic's `message_delta`, Gemini's
 * last chunk), usage and end marker (`[DONE]`, `message_stop`) come after the last one.
 * `afterEvents: 0` acts just before the first content event; `afterEvents: n` acts right after
 * content event `n` (nothing that follows it is sent); at or past the number of content events it
 * acts after the last one (before the finish). `atEvent: n` targets content event `n`; past the last
 * content event it targets the finish.
 *
 * What a content event is, per format:
 *
 * | delta | OpenAI | Anthropic | Gemini |
 * | --- | --- | --- | --- |
 * | text | a chunk with `delta.content` | `text_delta` | a chunk with a text part |
 * | reasoning | a chunk with `delta.reasoning_content` | `thinking_delta` | a chunk with a `thought: true` part |
 * | tool call start | the chunk with id and name | `content_block_start` of the `tool_use` block | the chunk with the whole `functionCall` part |
 * | arguments fragment | a chunk with `function.arguments` | `input_json_delta` (none when the arguments are `{}`) | none (the call is whole) |
 *
 * So the same scenario has fewer content events in Gemini when it calls tools (one per call), and
 * one fewer in Anthropic per tool call whose arguments are `{}`.
 *
 * Each fault may carry `times`: it then applies only to the first `times` requests that chose the
 * same scenario (the same raw `x-sluice-scenario` header value, or the server default), counted
 * per server. Ending faults (`truncate`, `truncateMidEvent`, `reset`, `errorEvent`, `stall`) do
 * not combine: the first active one in list order wins.
 *
 * @example
 * ```ts
 * import { Fault, Scenario } from "@sluice/emulator"
 * // 503 with Retry-After twice, then a normal answer
 * const scenario: Scenario.Scenario = {
 *   faults: [Fault.status({ status: 503, retryAfter: 1, times: 2 })]
 * }
 * ```
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
 * An HTTP error response with the format's error body (`message` and `errorType` default to what the
 * provider says for that status: OpenAI's `type`, Anthropic's `error.type`, Gemini's `status`;
 * `code` is OpenAI's string code); `retryAfter` (seconds, or an HTTP date) sets `Retry-After`,
 * `retryAfterMs` sets `retry-after-ms`. Anthropic's overload is `status: 529`.
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
 * End the body cleanly after `afterEvents` content events: no finish, no end marker (OpenAI: no
 * finish chunk and no `[DONE]`; Anthropic: no `content_block_stop`, `message_delta`, `message_stop`;
 * Gemini: no last chunk with `finishReason`).
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
 * Send everything, finish included, but not the end marker: OpenAI's `data: [DONE]`, Anthropic's
 * `message_stop`. Gemini has no end marker: there the fault changes nothing (and is not logged).
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
 * Never send a finish reason; the end marker is still sent. OpenAI: when the usage style puts usage
 * on the finish chunk (`deepseek`, `groq`, `continuous`) that chunk is kept with `finish_reason:
 * null`. Anthropic: `message_delta` carries `stop_reason: null` (and its usage). Gemini: the last
 * chunk carries its usage but no `finishReason` (it is left out when there is no usage either).
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
 * After `afterEvents` content events send an in-band error event, then end: OpenAI
 * `data: {"error":{…}}`, Anthropic `event: error` with `{"type":"error","error":{"type","message"}}`
 * (default `overloaded_error`), Gemini `data: {"error":{"code","message","status"}}` (`errorType` is
 * the status, e.g. `UNAVAILABLE`; default `INTERNAL`). A non-streamed request gets the error body
 * with status 200.
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
 * A buffering gateway: wait for the whole paced duration, then send every event in one write. With
 * `afterEvents: n` the first `n` content events go out paced, as streamed, and only the rest is held
 * for its paced duration and then sent in one write (a gateway that lets the first word through and
 * buffers the answer behind it).
 * @since 0.1.0
 * @category schemas
 */
export const BufferedReplay = Schema.Struct({
  type: Schema.Literal("bufferedReplay"),
  afterEvents: Schema.optional(AfterEvents),
  times: Times
}).annotations({ identifier: "BufferedReplayFault" })

/**
 * @since 0.1.0
 * @category models
 */
export interface BufferedReplay extends Schema.Schema.Type<typeof BufferedReplay> {}

/**
 * Content event `atEvent` carries broken JSON (its last closing brace is missing).
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
 * Content event `atEvent` is valid JSON that does not fit the format's schema: OpenAI `choices`,
 * Gemini `candidates`, Anthropic the event's body (`delta`, `content_block`, `message`) is a string.
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
 * Never send usage, even when the request asked for it (Anthropic: no `usage` in `message_start`
 * nor `message_delta`; Gemini: no `usageMetadata`).
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
 * An authentication error whose message echoes the key it received (for secret-scrubbing tests):
 * OpenAI 401 with the bearer token, Anthropic 401 with `x-api-key` (or the bearer token), Gemini 403
 * `PERMISSION_DENIED` with `x-goog-api-key` (or `?key=`, or the bearer token), as Gemini words a suspended key.
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
 * The prompt is refused, each format its own way: Gemini answers 200 with
 * `{"promptFeedback":{"blockReason":…}}` and no candidates (streamed: one such chunk), Anthropic
 * answers 200 with no content and `stop_reason: "refusal"`, OpenAI answers 400 with code
 * `content_filter` (Azure's prompt filter). `reason` is Gemini's block reason; default `SAFETY`.
 * @since 0.1.0
 * @category schemas
 */
export const PromptBlocked = Schema.Struct({
  type: Schema.Literal("promptBlocked"),
  reason: Schema.optional(Schema.String),
  times: Times
}).annotations({ identifier: "PromptBlockedFault" })

/**
 * @since 0.1.0
 * @category models
 */
export interface PromptBlocked extends Schema.Schema.Type<typeof PromptBlocked> {}

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
  EchoKey,
  PromptBlocked
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
 * HTTP 400 saying the prompt is too long for the model, in each format's words: OpenAI code
 * `context_length_exceeded`, Anthropic `prompt is too long: … tokens > … maximum`, Gemini
 * `The input token count (…) exceeds the maximum number of tokens allowed (…)`.
 * @since 0.1.0
 * @category constructors
 */
export const contextLengthExceeded = (options: Omit<Args<Status>, "status" | "code"> = {}): Status => ({
  type: "status",
  status: 400,
  code: "context_length_exceeded",
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
 * Replay the whole answer (or what follows content event `afterEvents`) at once after its paced duration.
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
 * An authentication error echoing the key.
 * @since 0.1.0
 * @category constructors
 */
export const echoKey = (options: Args<EchoKey> = {}): EchoKey => ({ type: "echoKey", ...options })

/**
 * Refuse the prompt (Gemini's `promptFeedback.blockReason`).
 * @since 0.1.0
 * @category constructors
 */
export const promptBlocked = (options: Args<PromptBlocked> = {}): PromptBlocked => ({
  type: "promptBlocked",
  ...options
})
