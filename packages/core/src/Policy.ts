/**
 * Resilience policies as combinators. Stream-level policies (`guard`, `timeout`, `smooth`, …) apply
 * to a `Stream` of events or to every stream of a service; request-level policies (`retry`,
 * `failover`, `continuation`, `hedge`, `circuitBreaker`) wrap a `LanguageModel.Service`, because
 * they must issue the request again. Every policy has a hard cap on attempts.
 *
 * @example
 * ```ts
 * import { NodeHttpClient } from "@effect/platform-node"
 * import { ChatRequest, Completion, Policy } from "@sluice/core"
 * import { Anthropic, OpenAiCompatible } from "@sluice/providers"
 * import { Config, Effect } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const openai = yield* OpenAiCompatible.make({
 *     baseUrl: "https://api.openai.com/v1",
 *     apiKey: yield* Config.redacted("OPENAI_API_KEY")
 *   })
 *   const anthropic = yield* Anthropic.make({ apiKey: yield* Config.redacted("ANTHROPIC_API_KEY") })
 *   const resilient = openai.pipe(
 *     Policy.timeout({ firstToken: "10 seconds", idle: "20 seconds" }), // per attempt
 *     Policy.retry({ maxAttempts: 3 }),
 *     Policy.failover([{ service: anthropic, model: "claude-sonnet-4-5" }]),
 *     Policy.timeout({ total: "2 minutes" }),                          // one deadline over everything
 *     Policy.guard({ failOn: ["length"] })
 *   )
 *   const request = ChatRequest.make({ model: "gpt-4o-mini", messages: [ChatRequest.user("Hi")] })
 *   return yield* Completion.fromStream(resilient.stream(request))
 * }).pipe(Effect.provide(NodeHttpClient.layerUndici))
 * ```
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Metric from "effect/Metric"
import type * as Schedule from "effect/Schedule"
import type * as Stream from "effect/Stream"
import type { ChatRequest } from "./ChatRequest.js"
import type { Usage } from "./Completion.js"
import * as internalBuffered from "./internal/policy/buffered.js"
import * as internalCircuitBreaker from "./internal/policy/circuitBreaker.js"
import * as internalContinuation from "./internal/policy/continuation.js"
import * as internalFailover from "./internal/policy/failover.js"
import * as internalGuard from "./internal/policy/guard.js"
import * as internalHedge from "./internal/policy/hedge.js"
import * as internalMetrics from "./internal/policy/metrics.js"
import * as internalRetry from "./internal/policy/retry.js"
import * as internalSmooth from "./internal/policy/smooth.js"
import * as internalTimeout from "./internal/policy/timeout.js"
import type * as LanguageModel from "./LanguageModel.js"
import type * as LlmError from "./LlmError.js"
import type { FinishReason, StreamEvent } from "./StreamEvent.js"

export {
  /**
   * Where the attempts of every request are reported; provide one to read them
   * (`Effect.provideService(Policy.Attempts, { record: (attempt) => … })`), or read `Summary.attempts` from `Policy.metrics`.
   * @since 0.1.0
   * @category tracking
   */
  Attempts
} from "./internal/policy/context.js"

// The two shapes of a policy.

/**
 * A request-level policy: takes a service, gives a service that issues requests its own way.
 * @since 0.1.0
 * @category models
 */
export type Middleware = (self: LanguageModel.Service) => LanguageModel.Service

/**
 * A stream-level policy: applies to one stream of events, or to every stream a service gives.
 * @since 0.1.0
 * @category models
 */
export interface StreamPolicy {
  <Self extends Stream.Stream<StreamEvent, LlmError.LlmError, unknown> | LanguageModel.Service>(self: Self): StreamPolicy.Result<Self>
}

/**
 * @since 0.1.0
 */
export declare namespace StreamPolicy {
  /**
   * A stream policy gives back what it was given: a stream of events, or a service.
   * @since 0.1.0
   * @category models
   */
  export type Result<Self> = Self extends LanguageModel.Service ? LanguageModel.Service
    : Self extends Stream.Stream<infer _A, infer _E, infer R> ? Stream.Stream<StreamEvent, LlmError.LlmError, R>
    : never
}

// Stream-level policies.

/**
 * Options of `guard`.
 * @since 0.1.0
 * @category models
 */
export interface GuardOptions {
  /** Finish reasons that are failures: `length` → `IncompleteStream{ending:"length"}`, `content-filter` → `InvalidRequest{code:"content-filter"}`. */
  readonly failOn?: ReadonlyArray<Extract<FinishReason, "length" | "content-filter">> | undefined
  /** Usage must arrive before the end (`MissingUsage` otherwise). */
  readonly requireUsage?: boolean | undefined
  /** Nothing but usage may follow the finish (a token after it is a `DecodeError`); default true. */
  readonly strictEnd?: boolean | undefined
}

/**
 * The finish-reason guard: an end without `Finish` is `IncompleteStream`; optionally `length` and
 * `content-filter` finishes and missing usage are failures too. Failures come at the end of the
 * stream, after every event (usage included) reached the caller.
 * @since 0.1.0
 * @category policies
 */
export const guard: (options?: GuardOptions) => StreamPolicy = internalGuard.guard

/**
 * Options of `timeout`; each bound is optional.
 * @since 0.1.0
 * @category models
 */
export interface TimeoutOptions {
  /** From the start of the request to the response headers (enforced by the adapter, which sees them). */
  readonly connect?: Duration.DurationInput | undefined
  /** From the start of the request to the first text, reasoning or tool-call delta (for `complete`: to the first read of the answer's body). */
  readonly firstToken?: Duration.DurationInput | undefined
  /**
   * Between two events (before the first token too, when `firstToken` is not set); keep-alive comments do
   * not count. For `complete`: between two reads of the answer's body.
   */
  readonly idle?: Duration.DurationInput | undefined
  /** The whole request: applied outside retry and failover, one deadline over every attempt. */
  readonly total?: Duration.DurationInput | undefined
}

/**
 * Fails a stream with `Timeout{phase}` when a deadline passes, aborting the request. The deadline
 * aborts the waits inside through the policy context (one watchdog fiber per stream, nothing per read), and
 * the events that count are those the service reports (an adapter: those it decodes, before `smooth` or a
 * splice may hold them); over a Sluice adapter an answer whose last bytes had already arrived when the
 * deadline passed still ends normally. Over a bare stream or a service of your own (`fromStream`) the
 * stage around it interrupts the stream.
 * Applied to a service, `firstToken` and `idle` bound each attempt made through it, `complete` too: there
 * the first read of the answer's body counts as the first token and a gap between reads as idle (Sluice's
 * adapters report their reads to the context's `bodyProgress`; a `complete` of your own that reports none
 * must answer within `firstToken`, or `idle` when no `firstToken` is set). `total` bounds both.
 * @since 0.1.0
 * @category policies
 */
export const timeout: (options: TimeoutOptions) => StreamPolicy = internalTimeout.timeout

/**
 * Options of `smooth`.
 * @since 0.1.0
 * @category models
 */
export interface SmoothOptions {
  /**
   * Where chunks end: `"word"` (a word with the spaces and punctuation after it, by `Intl.Segmenter`, so
   * Chinese, Japanese or Thai text without spaces is cut into words too), `"line"` (after each `\n`), or a
   * RegExp whose matches end chunks (e.g. `/[.!?]\s+/` for sentences; a match is taken to start at most 256
   * characters before the text that completes it). With "word" or a RegExp, text that goes 2,048 characters
   * without a boundary is handed on as it is.
   */
  readonly chunking: "word" | "line" | RegExp
  /** The least time between two emitted text chunks (a burst is paced out); default none. */
  readonly delay?: Duration.DurationInput | undefined
}

/**
 * Re-chunks `TextDelta`s (and, separately, `ReasoningDelta`s) into whole words, lines or RegExp-delimited
 * pieces, for steady rendering; `delay` paces the pieces. The text is exactly preserved, and nothing is
 * held back at the end: any other event (tool call, usage, finish) first flushes the buffer, and so do the
 * end of the stream and a failure (whose `partial` is then what the caller received).
 * @since 0.1.0
 * @category policies
 */
export const smooth: (options: SmoothOptions) => StreamPolicy = internalSmooth.smooth

/**
 * What one request measured, handed to `onSummary` once at its end (success, failure or interruption).
 * Durations are milliseconds on the `Clock` service; `null` where there is nothing to measure.
 * @since 0.1.0
 * @category models
 */
export interface Summary {
  readonly provider: string
  readonly model: string
  /** `"stream"` or `"complete"`. */
  readonly call: "stream" | "complete"
  /**
   * Whether the answer arrived as a stream: false for `complete`, and for a stream whose server answered with a
   * whole JSON completion instead (a gateway that ignores `stream: true`; its attempt says `streamed: false`).
   */
  readonly streamed: boolean
  /** Epoch milliseconds. */
  readonly startedAt: number
  /** From the start to the first text, reasoning or tool-call delta, in whole milliseconds. */
  readonly ttftMs: number | null
  /** From the start to the end of the stream (or of the call), in whole milliseconds. */
  readonly durationMs: number
  /** The gaps between successive token deltas (deltas that arrived together count as 0). */
  readonly interTokenMs: { readonly p50: number; readonly p90: number; readonly max: number } | null
  /** Output tokens per second of generation (from the first token to the end; the whole call for `complete`). */
  readonly tokensPerSecond: number | null
  /** From usage when the provider reported it, else the number of token deltas (see `outputTokensEstimated`). */
  readonly outputTokens: number | null
  /** True when `outputTokens` counts deltas because no usage came. */
  readonly outputTokensEstimated: boolean
  /** The usage of the answer the caller received. */
  readonly usage: Usage | null
  /** Usage added up over every attempt, failed ones included (they cost money too); `usage` when none was recorded. */
  readonly totalUsage: Usage | null
  /** Every try, as the request-level policies inside recorded them (one, made up here, when none did). */
  readonly attempts: ReadonlyArray<Attempt>
  readonly finishReason: FinishReason | null
  /** `complete`: the stream ended (or the call returned); `failure`: it failed; `interrupted`: the caller went away or stopped reading. */
  readonly ending: "complete" | "failure" | "interrupted"
  /** The failure, when `ending` is `failure` (a defect has none). */
  readonly error?: { readonly _tag: LlmError.LlmError["_tag"]; readonly message: string } | undefined
  /** Set when the stream looked like a buffered replay (by an inner `detectBuffered`, else by its default criterion). */
  readonly buffered?: BufferedWarning | undefined
}

/**
 * Options of `metrics`.
 * @since 0.1.0
 * @category models
 */
export interface MetricsOptions {
  /** Called once at the end of each request with its summary. */
  readonly onSummary?: ((summary: Summary) => Effect.Effect<void>) | undefined
  /** The provider to report when applied to a bare stream (a service reports its own). */
  readonly provider?: string | undefined
  /** The model to report when applied to a bare stream (a service reports the request's). */
  readonly model?: string | undefined
}

/**
 * The Effect metrics `metrics` updates, each tagged with `provider` and `model` (plus the fiber's metric labels).
 * @since 0.1.0
 * @category metrics
 */
export const instruments: {
  /** Time to first token, per streamed request. */
  readonly timeToFirstToken: Metric.Metric.Histogram<number>
  /** The gap before each arrival of token deltas (deltas handed over in one read are one arrival). */
  readonly interToken: Metric.Metric.Histogram<number>
  /** Duration of each request. */
  readonly duration: Metric.Metric.Histogram<number>
  /** Output tokens per second of generation, per request. */
  readonly tokensPerSecond: Metric.Metric.Histogram<number>
  /** Requests, tagged also with `outcome`: `complete`, `interrupted` or the error's tag. */
  readonly requests: Metric.Metric.Counter<number>
  /** Output tokens (from usage, or counted deltas). */
  readonly outputTokens: Metric.Metric.Counter<number>
  /** Attempts, tagged with the attempt's own provider and model, `kind` and `outcome`. */
  readonly attempts: Metric.Metric.Counter<number>
  /** Streams flagged as buffered replays. */
  readonly bufferedStreams: Metric.Metric.Counter<number>
} = internalMetrics.instruments

/**
 * Measures every request: time to first token (to the first text, reasoning or tool-call delta), the gaps
 * between token deltas, tokens per second, duration and attempts (collected from the request-level policies
 * inside, and passed on to any collector outside). Updates the Effect metrics in `instruments`, runs the
 * request in a span `sluice.stream` / `sluice.complete` with `sluice.provider`, `sluice.model` and the
 * figures as attributes, and hands `onSummary` the `Summary` once at the end.
 * @since 0.1.0
 * @category policies
 */
export const metrics: (options?: MetricsOptions) => StreamPolicy = internalMetrics.metrics

/**
 * A measured stream and its summary: `summary` waits for the stream's end (run the stream first, or alongside).
 * @since 0.1.0
 * @category models
 */
export interface Measured<R> {
  readonly stream: Stream.Stream<StreamEvent, LlmError.LlmError, R>
  readonly summary: Effect.Effect<Summary>
}

/**
 * Wraps a stream in `metrics` and gives a handle to its summary, e.g.
 * `const { stream, summary } = yield* Policy.withSummary(model.stream(request), { provider: model.provider, model: request.model })`.
 * @since 0.1.0
 * @category policies
 */
export const withSummary: {
  (options?: MetricsOptions): <R>(self: Stream.Stream<StreamEvent, LlmError.LlmError, R>) => Effect.Effect<Measured<R>>
  <R>(self: Stream.Stream<StreamEvent, LlmError.LlmError, R>, options?: MetricsOptions): Effect.Effect<Measured<R>>
} = internalMetrics.withSummary

/**
 * A buffered-stream warning: the answer's text came at once instead of as it was generated — all of
 * it within a small margin of the first token, or most of it in one burst after a hold behind the
 * first few tokens.
 * @since 0.1.0
 * @category models
 */
export interface BufferedWarning {
  /** From the start of the request to the first token. */
  readonly firstTokenMs: number
  /** From the first token to the last. */
  readonly spreadMs: number
  /** From the start of the request to the last token. */
  readonly totalMs: number
  /** Characters of text, reasoning and tool-call arguments. */
  readonly chars: number
  /** Token events (text, reasoning and tool-call deltas). */
  readonly deltas: number
  /** The silence before the replayed text (0 when the whole answer came with its first token). */
  readonly heldMs: number
  /** The characters that came at once (`chars` when the whole answer did). */
  readonly replayedChars: number
}

/**
 * Options of `detectBuffered`.
 * @since 0.1.0
 * @category models
 */
export interface DetectBufferedOptions {
  /** Answers shorter than this (characters of text, reasoning and tool-call arguments) are never flagged; default 200. */
  readonly minChars?: number | undefined
  /** The largest spread (first to last token), as a fraction of the total time (start to last token); default 0.1. */
  readonly margin?: number | undefined
  /** A spread up to this long counts as "at once" however short the answer; default 50 ms. */
  readonly minMargin?: Duration.DurationInput | undefined
  /** Fail the stream at its end with `BufferedStream` (carrying the whole answer as `partial`) instead of warning. */
  readonly fail?: boolean | undefined
}

/**
 * Flags a stream whose text came at once instead of as it was generated, on an answer long enough to
 * tell (a gateway that buffered the answer and replayed it). The criterion: at least `minChars`
 * characters, and either a spread from the first to the last token of at most `margin` (10 %) of the
 * time from the start to the last token and at most `max(minMargin, chars ÷ 20,000/s)` — faster than
 * any model generates, so an answer that merely started late (hidden reasoning) is not flagged — or,
 * for a gateway that lets the first word through and holds the rest, a last burst of two deltas or more
 * arriving that fast with at least 80 % of the characters, within the last `margin` of the time. By default a flagged
 * stream logs a warning and reports to an enclosing `metrics` (its summary's `buffered`; put
 * `detectBuffered` before `metrics` in the pipe); with `fail: true` it fails at its end with
 * `BufferedStream`. Times come from the `Clock` service.
 * @since 0.1.0
 * @category policies
 */
export const detectBuffered: (options?: DetectBufferedOptions) => StreamPolicy = internalBuffered.detectBuffered

// Request-level policies.

/**
 * One try at a request, as the request-level policies record it.
 * @since 0.1.0
 * @category models
 */
export interface Attempt {
  readonly provider: string
  readonly model: string
  /** Which policy made it: the first try, a retry, a failover, a hedge or a continuation. */
  readonly kind: "initial" | "retry" | "failover" | "hedge" | "continuation"
  readonly startedAt: number
  readonly endedAt: number
  /** Events this attempt handed on. */
  readonly events: number
  /** The failure that ended it, if any. */
  readonly error?: { readonly _tag: LlmError.LlmError["_tag"]; readonly message: string } | undefined
  /** Usage the attempt reported (a failed attempt's tokens still cost money). */
  readonly usage?: Usage | undefined
  /** For a continuation: the characters of text the caller already had when it was spliced on. */
  readonly spliceAt?: number | undefined
  /** True when the attempt was interrupted (a hedge's loser, a timeout, the caller going away). */
  readonly interrupted?: boolean | undefined
  /** False when the server answered the streaming request with a whole JSON completion instead of a stream; absent when it streamed. */
  readonly streamed?: false | undefined
}

/**
 * Options of `retry`.
 * @since 0.1.0
 * @category models
 */
export interface RetryOptions {
  /** The schedule between attempts (default: exponential from 250 ms, doubling, jittered, at most 3 retries). */
  readonly schedule?: Schedule.Schedule<unknown, LlmError.LlmError> | undefined
  /** A schedule per error tag, e.g. more patience for `RateLimited` than for `ServerError`. */
  readonly schedules?: { readonly [Tag in LlmError.LlmError["_tag"]]?: Schedule.Schedule<unknown, LlmError.LlmError> } | undefined
  /** Hard cap on attempts, the first included, whatever the schedules say (default 4). */
  readonly maxAttempts?: number | undefined
  /** Which failures to retry (default `LlmError.isRetryable`). */
  readonly while?: ((error: LlmError.LlmError) => boolean) | undefined
  /** Retry a stream that already handed events to the caller (default false: they would see text twice; see `continuation`). */
  readonly afterOutput?: boolean | undefined
}

/**
 * The default retry schedule: exponential from 250 ms, doubling, jittered, at most 3 retries.
 * @since 0.1.0
 * @category constants
 */
export const defaultRetrySchedule: Schedule.Schedule<unknown, LlmError.LlmError> = internalRetry.defaultRetrySchedule

/**
 * Retries failed requests on a `Schedule`: only retryable errors, honouring `retryAfter`, within any
 * total deadline, by default only while nothing reached the caller, never more than `maxAttempts`.
 * @since 0.1.0
 * @category policies
 */
export const retry: (options?: RetryOptions) => Middleware = internalRetry.retry

/**
 * A fallback: another service (default: the one being wrapped) and/or another model (default: the request's).
 * @since 0.1.0
 * @category models
 */
export interface Route {
  readonly service?: LanguageModel.Service | undefined
  readonly model?: string | undefined
}

/**
 * Options of `failover`.
 * @since 0.1.0
 * @category models
 */
export interface FailoverOptions {
  /** Retries on each route before moving on; errors that say "this route will not answer" leave at once. */
  readonly retry?: RetryOptions | undefined
  /** Which failures move on to the next route (default `shouldFailover`). */
  readonly when?: ((error: LlmError.LlmError) => boolean) | undefined
}

/**
 * The default routing rule: move on for anything the next route may answer — retryable failures,
 * a prompt too long for this model, credentials this provider refused, a content-policy rejection,
 * an open circuit — but not for a broken request or data the client could not decode.
 * @since 0.1.0
 * @category routing
 */
export const shouldFailover: (error: LlmError.LlmError) => boolean = internalFailover.shouldFailover

/**
 * Errors after which retrying the same route is pointless: it timed out or never answered, the prompt
 * does not fit, or its policy rejects the content — the next route is tried at once.
 * @since 0.1.0
 * @category routing
 */
export const leaveAtOnce: (error: LlmError.LlmError) => boolean = internalFailover.leaveAtOnce

/**
 * Tries each route in order while a failure comes before the first event and the routing rule allows;
 * the first route is the service being wrapped. At most one run per route (times its own retries).
 * @since 0.1.0
 * @category policies
 */
export const failover: (routes: ReadonlyArray<Route>, options?: FailoverOptions) => Middleware = internalFailover.failover

/**
 * Options of `hedge`.
 * @since 0.1.0
 * @category models
 */
export interface HedgeOptions {
  /** How long to wait for a first token before starting the next route too. */
  readonly after: Duration.DurationInput
  /** The routes to hedge with, in order (the wrapped service is the first). */
  readonly routes: ReadonlyArray<Route>
}

/**
 * If no first token comes within `after`, starts the next route as well (at once if the current
 * one fails); the first to emit a token wins and the others are interrupted, their requests aborted.
 * At most one request per route.
 * @since 0.1.0
 * @category policies
 */
export const hedge: (options: HedgeOptions) => Middleware = internalHedge.hedge

/**
 * Options of `continuation`.
 * @since 0.1.0
 * @category models
 */
export interface ContinuationOptions {
  /** Hard cap on continuations of one answer (default 2). */
  readonly maxContinuations?: number | undefined
  /** Which mid-stream failures to heal (default `LlmError.isRetryable`). */
  readonly when?: ((error: LlmError.LlmError) => boolean) | undefined
  /** The service that continues (default the one wrapped), e.g. the next model of a failover. */
  readonly via?: LanguageModel.Service | undefined
  /** The user message that asks for the rest, for providers without prefill. */
  readonly instruction?: string | undefined
  /** The shortest repeated text removed at the splice (default 8 characters; repeated whitespace always is). */
  readonly minOverlap?: number | undefined
  /** How much of the continuation's start is held back to look for a repeat (default 256 characters). */
  readonly maxOverlap?: number | undefined
}

/**
 * The default instruction sent to providers that cannot continue a prefilled answer.
 * @since 0.1.0
 * @category constants
 */
export const defaultInstruction: string = internalContinuation.defaultInstruction

/**
 * The request that asks for the rest of `partialText`: a prefilled assistant message where the
 * provider continues those, else the partial answer plus a user instruction.
 * @since 0.1.0
 * @category continuation
 */
export const continuationRequest: (
  request: ChatRequest,
  partialText: string,
  capabilities: LanguageModel.Capabilities,
  instruction?: string
) => ChatRequest = internalContinuation.continuationRequest

/**
 * How many leading characters of `next` repeat the end of `before`: the longest such run of at
 * least `minOverlap` characters, or a run of whitespace.
 * @since 0.1.0
 * @category continuation
 */
export const overlap: (before: string, next: string, minOverlap: number) => number = internalContinuation.overlap

/**
 * On a failure after text reached the caller, re-requests the rest of the answer (prefill where the
 * provider supports it, else an instruction) and splices it on, so the caller sees one stream with
 * no repeated or missing text. Never continues while a tool call is in flight. The splice point is
 * recorded in the continuation's `Attempt` (`spliceAt`).
 * @since 0.1.0
 * @category policies
 */
export const continuation: (options?: ContinuationOptions) => Middleware = internalContinuation.continuation

/**
 * What a breaker is kept per: a provider and a model.
 * @since 0.1.0
 * @category models
 */
export interface CircuitKey {
  readonly provider: string
  readonly model: string
}

/**
 * The state of one breaker. `Closed` counts outcomes; `Open` fails calls fast until `reopensAt`;
 * `HalfOpen` lets one probe through (`probing` while it runs).
 * @since 0.1.0
 * @category models
 */
export type CircuitState =
  | {
    readonly _tag: "Closed"
    /** Failures since the last success. */
    readonly consecutiveFailures: number
    /** Counted calls within the rate window. */
    readonly calls: number
    /** Failures among them. */
    readonly failures: number
  }
  | { readonly _tag: "Open"; readonly openedAt: number; readonly reopensAt: number }
  | { readonly _tag: "HalfOpen"; readonly probing: boolean }

/**
 * How a call went, as the breaker counts it: `ignored` neither helps nor hurts (a caller error, an interruption).
 * @since 0.1.0
 * @category models
 */
export type CircuitOutcome = "success" | "failure" | "ignored"

/**
 * Leave to make one call: settle it with the outcome (the first settlement counts; later ones do nothing).
 * @since 0.1.0
 * @category models
 */
export interface CircuitPermit {
  readonly settle: (outcome: CircuitOutcome) => Effect.Effect<void>
}

/**
 * A circuit breaker: asks for leave before each call and hears how it went. The in-memory one is
 * `makeCircuitBreaker`; the interface leaves room for one shared across machines.
 * @since 0.1.0
 * @category models
 */
export interface CircuitBreakerService {
  /** Leave for one call, or `CircuitOpen` when the breaker for `key` is open (or half-open with its probe running). */
  readonly acquire: (key: CircuitKey) => Effect.Effect<CircuitPermit, LlmError.CircuitOpen>
  /** The state for `key`, for inspection (an unknown key is a fresh `Closed`). */
  readonly state: (key: CircuitKey) => Effect.Effect<CircuitState>
}

/**
 * Options of `makeCircuitBreaker`.
 * @since 0.1.0
 * @category models
 */
export interface CircuitBreakerOptions {
  /** How long an opened breaker fails calls fast before it lets a probe through. */
  readonly cooldown: Duration.DurationInput
  /** Open after this many failures in a row; default 5. */
  readonly consecutiveFailures?: number | undefined
  /** Also open when the failure rate within `window` reaches this (0 to 1); default off. */
  readonly failureRate?: number | undefined
  /** The rate is judged only over at least this many calls; default 10. */
  readonly minimumCalls?: number | undefined
  /** The sliding window of the rate; default 60 seconds. */
  readonly window?: Duration.DurationInput | undefined
}

/**
 * The breaker service, so an application shares one across requests: `Policy.CircuitBreaker.layer(options)`.
 * @since 0.1.0
 * @category tags
 */
export class CircuitBreaker extends Context.Tag("@sluice/core/Policy/CircuitBreaker")<CircuitBreaker, CircuitBreakerService>() {
  /**
   * The in-memory breaker (`makeCircuitBreaker`) as a layer.
   * @since 0.1.0
   * @category layers
   */
  static readonly layer = (options: CircuitBreakerOptions): Layer.Layer<CircuitBreaker> =>
    Layer.effect(CircuitBreaker, internalCircuitBreaker.makeCircuitBreaker(options))
}

/**
 * Makes an in-memory circuit breaker, one state per provider/model, timed by the `Clock` service.
 * @since 0.1.0
 * @category constructors
 */
export const makeCircuitBreaker: (options: CircuitBreakerOptions) => Effect.Effect<CircuitBreakerService> = internalCircuitBreaker.makeCircuitBreaker

/**
 * The failures that count against a provider: those that say it is unhealthy (the retryable ones: `ServerError`, `RateLimited`,
 * `Timeout`, `TransportError`, `IncompleteStream`, a retryable `ProviderStreamError`, and `DecodeError`, a
 * provider or gateway sending garbage). Caller errors (`InvalidRequest`, `ContextLengthExceeded`,
 * `AuthenticationFailed`) and the verdicts of other policies (`MissingUsage`, `BufferedStream`,
 * `CircuitOpen`) do not count either way.
 * @since 0.1.0
 * @category predicates
 */
export const isCircuitFailure: (error: LlmError.LlmError) => boolean = internalCircuitBreaker.isCircuitFailure

/**
 * Options of `circuitBreaker`.
 * @since 0.1.0
 * @category models
 */
export interface CircuitBreakerPolicyOptions {
  /** Which failures count against the provider (default `isCircuitFailure`); the others are ignored. */
  readonly isFailure?: ((error: LlmError.LlmError) => boolean) | undefined
}

/**
 * Guards a service with a breaker, per provider and model: while open, calls fail fast with
 * `CircuitOpen { reopensAt }` and no request is made. A stream succeeds when it ends (a caller that stops
 * reading early or is interrupted leaves no mark, so an interrupted probe frees the way for the next one);
 * failures count as `isFailure` says. Apply it after per-attempt timeouts (so a provider that hangs
 * counts as failing) and before retry and failover, with the shared service:
 * `model.pipe(Policy.timeout({ firstToken: "10 seconds" }), Policy.circuitBreaker(yield* Policy.CircuitBreaker), Policy.retry())`.
 * @since 0.1.0
 * @category policies
 */
export const circuitBreaker: (breaker: CircuitBreakerService, options?: CircuitBreakerPolicyOptions) => Middleware = internalCircuitBreaker.circuitBreaker
