/**
 * Every way a request or a stream can fail, as tagged errors named for the cause a caller acts on.
 *
 * Each error carries `provider` and `model`; an error raised after the first event also
 * carries `partial`, the completion the caller already received.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { ChatRequest, LanguageModel, LlmError } from "@sluice/core"
 * const request = ChatRequest.make({ model: "gpt-4o-mini", messages: [ChatRequest.user("Hi")] })
 * const program = LanguageModel.complete(request).pipe(
 *   // What arrived before the cut is on the error.
 *   Effect.catchTag("IncompleteStream", (e) => Effect.succeed(e.partial)),
 *   // Any other failure: would the same request succeed if sent again?
 *   Effect.tapError((e) => Effect.logWarning(`${e._tag}, retryable: ${LlmError.isRetryable(e)}`))
 * )
 * ```
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import * as Predicate from "effect/Predicate"
import * as Schema from "effect/Schema"
import * as Completion from "./Completion.js"

const common = {
  provider: Schema.String,
  model: Schema.String,
  partial: Schema.optional(Completion.Completion)
}

const where = (e: { readonly provider: string; readonly model: string }): string => `${e.provider}/${e.model}`

const said = (providerMessage: string | undefined): string =>
  providerMessage === undefined || providerMessage === "" ? "" : `: ${providerMessage}`

const received = (partial: Completion.Completion | undefined): string => {
  if (partial === undefined) return ""
  const parts: Array<string> = []
  if (partial.text.length > 0) parts.push(`${partial.text.length} characters`)
  if (partial.reasoning.length > 0) parts.push(`${partial.reasoning.length} characters of reasoning`)
  if (partial.toolCalls.length > 0) parts.push(`${partial.toolCalls.length} tool call(s)`)
  return parts.length === 0 ? "" : ` after ${parts.join(", ")}`
}

/**
 * HTTP 429: the provider asks us to slow down; `retryAfter` is the wait it asked for, when it said.
 * @since 0.1.0
 * @category errors
 */
export class RateLimited extends Schema.TaggedError<RateLimited>()("RateLimited", {
  ...common,
  retryAfter: Schema.optional(Schema.DurationFromSelf),
  providerMessage: Schema.optional(Schema.String)
}) {
  override get message(): string {
    const after = this.retryAfter === undefined ? "" : `; retry after ${Duration.format(this.retryAfter)}`
    return `${where(this)} is rate limited (HTTP 429)${after}${said(this.providerMessage)}`
  }
}

/**
 * HTTP 401 or 403: the key is missing, wrong or lacks access to the model.
 * @since 0.1.0
 * @category errors
 */
export class AuthenticationFailed extends Schema.TaggedError<AuthenticationFailed>()("AuthenticationFailed", {
  ...common,
  status: Schema.Int,
  providerMessage: Schema.optional(Schema.String)
}) {
  override get message(): string {
    return `${where(this)} refused the credentials (HTTP ${this.status}); check the API key${said(this.providerMessage)}`
  }
}

/**
 * The prompt is too long for the model's context window.
 * @since 0.1.0
 * @category errors
 */
export class ContextLengthExceeded extends Schema.TaggedError<ContextLengthExceeded>()("ContextLengthExceeded", {
  ...common,
  providerMessage: Schema.optional(Schema.String)
}) {
  override get message(): string {
    return `${where(this)}: the prompt is too long for the model's context window${said(this.providerMessage)}`
  }
}

/**
 * Any other 4xx (content-policy rejections included, with the provider's reason), or a request Sluice refused to send.
 * @since 0.1.0
 * @category errors
 */
export class InvalidRequest extends Schema.TaggedError<InvalidRequest>()("InvalidRequest", {
  ...common,
  status: Schema.optional(Schema.Int),
  code: Schema.optional(Schema.String),
  providerMessage: Schema.optional(Schema.String)
}) {
  override get message(): string {
    if (this.status === undefined && this.code !== "content-filter") {
      // Refused before any network call (or by a policy): the provider never saw it.
      return `the request to ${where(this)} was not sent${said(this.providerMessage)}`
    }
    const status = this.status === undefined ? "" : ` (HTTP ${this.status}${this.code === undefined ? "" : `, ${this.code}`})`
    return `${where(this)} rejected the request${status}${said(this.providerMessage)}`
  }
}

/**
 * HTTP 5xx (or Anthropic's 529 "overloaded"): the provider failed; trying again may work.
 * @since 0.1.0
 * @category errors
 */
export class ServerError extends Schema.TaggedError<ServerError>()("ServerError", {
  ...common,
  status: Schema.Int,
  providerMessage: Schema.optional(Schema.String)
}) {
  override get message(): string {
    return `${where(this)} failed with HTTP ${this.status}${received(this.partial)}${said(this.providerMessage)}`
  }
}

/**
 * The phase of a request that a timeout bounds.
 * @since 0.1.0
 * @category models
 */
export const TimeoutPhase = Schema.Literal("connect", "first-token", "idle", "total")

/**
 * @since 0.1.0
 * @category models
 */
export type TimeoutPhase = typeof TimeoutPhase.Type

/**
 * A deadline passed: before the response (`connect`), before the first token, between events (`idle`) or overall (`total`).
 * @since 0.1.0
 * @category errors
 */
export class Timeout extends Schema.TaggedError<Timeout>()("Timeout", {
  ...common,
  phase: TimeoutPhase,
  after: Schema.DurationFromSelf
}) {
  override get message(): string {
    const what = {
      connect: "no response",
      "first-token": "no first token",
      idle: "no event",
      total: "the request did not finish"
    }[this.phase]
    return `${where(this)}: ${what} within ${Duration.format(this.after)} (${this.phase} timeout)${received(this.partial)}`
  }
}

/**
 * The connection failed: refused, reset, or the body was cut off.
 * @since 0.1.0
 * @category errors
 */
export class TransportError extends Schema.TaggedError<TransportError>()("TransportError", {
  ...common,
  reason: Schema.String,
  cause: Schema.optional(Schema.Defect)
}) {
  override get message(): string {
    return `${where(this)}: connection failed${received(this.partial)}: ${this.reason}`
  }
}

/**
 * The stream ended without a finish reason: a silent truncation made loud.
 * @since 0.1.0
 * @category errors
 */
export class IncompleteStream extends Schema.TaggedError<IncompleteStream>()("IncompleteStream", {
  ...common,
  /**
   * How it ended: the body closed, `[DONE]` came without a finish, the body closed inside an event,
   * a second answer started before the first finished (a proxy spliced a retried response onto a cut
   * one), or (with `Policy.guard({ failOn: ["length"] })`) the model hit its token limit.
   */
  ending: Schema.Literal("eof", "done-without-finish", "ended-mid-event", "restarted", "length")
}) {
  override get message(): string {
    const how = {
      eof: "ended without a finish reason",
      "done-without-finish": "sent [DONE] without a finish reason",
      "ended-mid-event": "ended in the middle of an event, without a finish reason",
      restarted: "started over mid-answer (a second message_start before a finish reason)",
      length: "stopped at the token limit (finish reason length)"
    }[this.ending]
    const after = received(this.partial)
    return `the stream from ${where(this)} ${how}${after === "" ? " before any output" : after}`
  }
}

/**
 * The provider reported an error inside the stream; `retryable` follows its type.
 * @since 0.1.0
 * @category errors
 */
export class ProviderStreamError extends Schema.TaggedError<ProviderStreamError>()("ProviderStreamError", {
  ...common,
  errorType: Schema.optional(Schema.String),
  providerMessage: Schema.String,
  retryable: Schema.Boolean
}) {
  override get message(): string {
    const type = this.errorType === undefined ? "" : ` (${this.errorType})`
    return `${where(this)} sent an error in the stream${type}${received(this.partial)}: ${this.providerMessage}`
  }
}

/**
 * The provider sent bytes Sluice cannot read: malformed JSON, a chunk off the wire schema, an event over the size limit.
 * @since 0.1.0
 * @category errors
 */
export class DecodeError extends Schema.TaggedError<DecodeError>()("DecodeError", {
  ...common,
  reason: Schema.String,
  /** The start of the offending data, for diagnosis. */
  data: Schema.optional(Schema.String)
}) {
  override get message(): string {
    const data = this.data === undefined ? "" : ` in ${JSON.stringify(this.data)}`
    return `${where(this)} sent data that could not be decoded${received(this.partial)}: ${this.reason}${data}`
  }
}

/**
 * Usage was required but the stream finished without it.
 * @since 0.1.0
 * @category errors
 */
export class MissingUsage extends Schema.TaggedError<MissingUsage>()("MissingUsage", {
  ...common
}) {
  override get message(): string {
    return `the stream from ${where(this)} finished without reporting usage (was include_usage dropped by a proxy?)`
  }
}

/**
 * Every candidate's circuit breaker is open: Sluice failed fast without a request; `reopensAt` is the earliest probe time.
 * @since 0.1.0
 * @category errors
 */
export class CircuitOpen extends Schema.TaggedError<CircuitOpen>()("CircuitOpen", {
  ...common,
  /** Epoch milliseconds at which the first breaker lets a probe through. */
  reopensAt: Schema.Number
}) {
  override get message(): string {
    return `${where(this)}: circuit open after repeated failures; skipped without a request until ${new Date(this.reopensAt).toISOString()}`
  }
}

/**
 * The "stream" was a buffered replay: its first token came only when the whole answer did, or its first
 * tokens came at once and the rest was held and then replayed (asked for with `Policy.detectBuffered({ fail: true })`).
 * @since 0.1.0
 * @category errors
 */
export class BufferedStream extends Schema.TaggedError<BufferedStream>()("BufferedStream", {
  ...common,
  /** Milliseconds from the first token to the end of the answer. */
  spreadMs: Schema.Number,
  /** Milliseconds from the start of the request to the first token. */
  firstTokenMs: Schema.Number,
  /** When the text was held behind its first tokens: milliseconds of silence before the rest came at once. */
  heldMs: Schema.optional(Schema.Number),
  /** When the text was held behind its first tokens: the characters that then came at once. */
  replayedChars: Schema.optional(Schema.Number)
}) {
  override get message(): string {
    const first = `the stream from ${where(this)} was replayed from a buffer: the first token came after ${Math.round(this.firstTokenMs)} ms`
    return this.heldMs === undefined
      ? `${first} and the whole answer within ${Math.round(this.spreadMs)} ms of it`
      : `${first}, then nothing for ${Math.round(this.heldMs)} ms, then ${this.replayedChars ?? 0} characters at once`
  }
}

/**
 * Every failure class, listed once: the `LlmError` type, its schema and `isLlmError`'s tags come
 * from this list, and `byTag` is typed from it.
 */
const classes = [
  RateLimited,
  AuthenticationFailed,
  ContextLengthExceeded,
  InvalidRequest,
  ServerError,
  Timeout,
  TransportError,
  IncompleteStream,
  ProviderStreamError,
  DecodeError,
  MissingUsage,
  CircuitOpen,
  BufferedStream
] as const

type ErrorClass = (typeof classes)[number]

/**
 * Any Sluice failure.
 * @since 0.1.0
 * @category models
 */
export type LlmError = InstanceType<ErrorClass>

/**
 * The schema of every failure, for serialisation.
 * @since 0.1.0
 * @category schemas
 */
export const LlmError = Schema.Union(...classes)

type Tag = LlmError["_tag"]

const tags: ReadonlySet<string> = new Set(classes.map((c) => c._tag))

/**
 * True for any Sluice failure.
 * @since 0.1.0
 * @category refinements
 */
export const isLlmError = (u: unknown): u is LlmError =>
  Predicate.hasProperty(u, "_tag") && typeof u._tag === "string" && tags.has(u._tag) &&
  Predicate.hasProperty(u, "provider") && Predicate.hasProperty(u, "model")

/** Each class's instances and the fields its constructor takes, under its tag. */
type Instances = { readonly [C in ErrorClass as C["_tag"]]: InstanceType<C> }
type Props = { readonly [C in ErrorClass as C["_tag"]]: ConstructorParameters<C>[0] }

/**
 * Per tag: the class (to rebuild an error with another `partial`) and whether the same request tried
 * again may succeed. Its type comes from `classes`, so a tag left out, one too many or the wrong class
 * under a tag does not compile.
 */
const byTag: {
  readonly [K in Tag]: {
    readonly Class: new(props: Props[K]) => Instances[K]
    readonly retryable: boolean | ((error: Instances[K]) => boolean)
  }
} = {
  RateLimited: { Class: RateLimited, retryable: true },
  AuthenticationFailed: { Class: AuthenticationFailed, retryable: false },
  ContextLengthExceeded: { Class: ContextLengthExceeded, retryable: false },
  InvalidRequest: { Class: InvalidRequest, retryable: false },
  ServerError: { Class: ServerError, retryable: true },
  Timeout: { Class: Timeout, retryable: true },
  TransportError: { Class: TransportError, retryable: true },
  IncompleteStream: { Class: IncompleteStream, retryable: true },
  ProviderStreamError: { Class: ProviderStreamError, retryable: (error) => error.retryable },
  DecodeError: { Class: DecodeError, retryable: false },
  MissingUsage: { Class: MissingUsage, retryable: false },
  CircuitOpen: { Class: CircuitOpen, retryable: false },
  BufferedStream: { Class: BufferedStream, retryable: false }
}

/** Indexed by a tag type `K`, the table's entry and the error agree on their class. */
const retryableAs = <K extends Tag>(tag: K, error: Instances[K]): boolean => {
  const retryable = byTag[tag].retryable
  return typeof retryable === "boolean" ? retryable : retryable(error)
}

/**
 * Whether trying the same request again may succeed.
 * @since 0.1.0
 * @category predicates
 */
export const isRetryable = (error: LlmError): boolean => retryableAs(error._tag, error)

/**
 * The same error, of its own class, with `partial` replaced: every other field is copied as it is,
 * `cause` by name because `Error` makes it a non-enumerable property, which a spread skips.
 */
const rebuild = <K extends Tag>(tag: K, error: Instances[K], partial: Completion.Completion): Instances[K] =>
  new byTag[tag].Class({ ...error, ...(Predicate.hasProperty(error, "cause") ? { cause: error.cause } : {}), partial })

/**
 * The same error with `partial` set to what the caller received (unchanged when it already has one).
 * @since 0.1.0
 * @category combinators
 */
export const withPartial = (error: LlmError, partial: Completion.Completion): LlmError =>
  error.partial !== undefined ? error : replacePartial(error, partial)

/**
 * The same error with `partial` replaced (a policy that spliced several attempts into one stream knows the whole of it).
 * @since 0.1.0
 * @category combinators
 */
export const replacePartial = (error: LlmError, partial: Completion.Completion): LlmError => rebuild(error._tag, error, partial)
