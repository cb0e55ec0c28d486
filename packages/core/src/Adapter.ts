/**
 * The adapter contract: what a service needs to honour the policies over it. Policies hand every call one
 * record, the `PolicyContext` (the deadline's abort, where to report events, the connect bound, the attempt
 * log, the span…), extended with a spread by each policy on the way down. A service built with
 * `LanguageModel.make` receives it in `streamWith` / `completeWith` and honours it itself, as Sluice's
 * adapters do: it registers each wait with `onAbort`, reports each batch of events it decodes to
 * `progress`, and records each request with `recordAttempt` / `recordCall`. A service built with
 * `LanguageModel.fromStream` needs none of this: a stage around its stream honours the record.
 *
 * @example
 * ```ts
 * import { Effect, Stream } from "effect"
 * import { Adapter, type ChatRequest, Completion, LanguageModel, StreamEvent } from "@sluice/core"
 *
 * const events = [StreamEvent.textDelta("hi"), StreamEvent.finish("stop", "stop")]
 * const answer = (request: ChatRequest.ChatRequest, context: Adapter.PolicyContext) => {
 *   const site = { provider: "echo", model: request.model }
 *   // One wait that a deadline ends, then the events, reported as they are handed on.
 *   const stream = Stream.fromEffect(Effect.as(Adapter.abortableSleep(context, "10 millis"), events)).pipe(
 *     Stream.tap((batch) => Effect.sync(() => context.progress?.(batch))),
 *     Stream.flatMap(Stream.fromIterable)
 *   )
 *   return Adapter.recordAttempt(stream, site, context)
 * }
 * const echo = LanguageModel.make({
 *   provider: "echo",
 *   streamWith: answer,
 *   completeWith: (request, context) => Completion.fromStream(answer(request, context))
 * })
 * ```
 *
 * @since 0.1.0
 */
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import type * as Stream from "effect/Stream"
import type * as Tracer from "effect/Tracer"
import type { Accumulator, Completion } from "./Completion.js"
import * as internalAttempts from "./internal/policy/attempts.js"
import * as internalContext from "./internal/policy/context.js"
import type { LlmError } from "./LlmError.js"
import type { Attempt } from "./Policy.js"
import type { StreamEvent } from "./StreamEvent.js"

/**
 * What the policies over a call hand down to it: every field is optional, and absent means no policy asks
 * for it. Immutable: a policy passes on a copy with its own fields (`{ ...context, deadline }`), once per
 * call, never per event.
 * @since 0.1.0
 * @category models
 */
export interface PolicyContext {
  /** The innermost deadline's aborts (`Policy.timeout`): register every wait with `onAbort`, or use `abortableSleep`. */
  readonly abort?: Abort | undefined
  /** Called with each batch of events the stream hands on, as it decodes them: how policies watch a stream without a stage. */
  readonly progress?: ((events: ReadonlyArray<StreamEvent>) => void) | undefined
  /** Called with the size of each read of a non-streamed answer's body (`completeWith`): the first is the first token, a gap is idle. */
  readonly bodyProgress?: ((bytes: number) => void) | undefined
  /** The earliest total deadline over the call, in epoch milliseconds: a policy that waits (retry) does not wait past it. */
  readonly deadline?: number | undefined
  /** The bound of `timeout({ connect })`: a request whose response headers do not come in time fails with `Timeout{phase:"connect"}`. */
  readonly connect?: Duration.Duration | undefined
  /** Where each request is recorded as an `Attempt` (`recordAttempt`, `recordCall`). */
  readonly attempts?: AttemptSink | undefined
  /** How the request about to be made came about; absent for the first try. */
  readonly attempt?: AttemptInfo | undefined
  /** The span the service's own spans go under (the caller's, or the one `Policy.metrics` made). */
  readonly span?: Tracer.AnySpan | undefined
}

/**
 * The aborts of a deadline: a wait registered with it ends when the deadline passes, with the deadline's
 * failure. A wait registered after the deadline passed is aborted at once.
 * @since 0.1.0
 * @category models
 */
export interface Abort {
  /** Registers a wait's abort until the scope closes; `reason` is the failure the deadline gives. */
  readonly register: (abort: (reason: LlmError) => Effect.Effect<void>) => Effect.Effect<void, never, Scope.Scope>
  /** The deadline's failure once it passed (this one's or an outer one's), else undefined. */
  readonly fired: () => LlmError | undefined
}

/**
 * Where attempts are recorded: what `Policy.Attempts` provides, and what `Policy.metrics` collects.
 * @since 0.1.0
 * @category models
 */
export interface AttemptSink {
  readonly record: (attempt: Attempt) => void
}

/**
 * How a request came about: which policy made it (`Attempt["kind"]`) and, for a continuation, where it is spliced on.
 * @since 0.1.0
 * @category models
 */
export interface AttemptInfo {
  readonly kind: Attempt["kind"]
  readonly spliceAt?: number | undefined
}

/**
 * The provider and model a request goes to, as attempts and errors name them.
 * @since 0.1.0
 * @category models
 */
export interface Site {
  readonly provider: string
  readonly model: string
}

/**
 * The context of a call no policy wraps.
 * @since 0.1.0
 * @category constructors
 */
export const empty: PolicyContext = internalContext.empty

/**
 * The policy context in the fiber: what a policy applied to a bare stream hands down, else the
 * `Policy.Attempts` and the span the caller provided. `service.stream(request)` streams with it.
 * @since 0.1.0
 * @category constructors
 */
export const current: Effect.Effect<PolicyContext> = internalContext.current

/**
 * Registers `abort` with the context's deadline (if any) until `scope` closes.
 * @since 0.1.0
 * @category aborts
 */
export const onAbort: (
  context: PolicyContext,
  abort: (reason: LlmError) => Effect.Effect<void>
) => Effect.Effect<void, never, Scope.Scope> = internalContext.onAbort

/**
 * Sleeps, unless the context's deadline passes first: then fails with the deadline's failure.
 * @since 0.1.0
 * @category aborts
 */
export const abortableSleep: (context: PolicyContext, duration: Duration.DurationInput) => Effect.Effect<void, LlmError> =
  internalContext.abortableSleep

/**
 * The failure of a deadline over the context that already passed, else undefined: a policy that would start
 * another attempt fails with it instead (the attempt would be aborted at once).
 * @since 0.1.0
 * @category aborts
 */
export const deadlinePassed: (context: PolicyContext) => LlmError | undefined = internalContext.deadlinePassed

/**
 * What `recordAttempt` may read at the end of the stream instead of watching it.
 * @since 0.1.0
 * @category models
 */
export interface Observed {
  /** A fold the stream's own decoder keeps of every event it hands on. */
  readonly fold?: Accumulator | undefined
  /** `streamed` false when the server answered with a whole JSON completion instead of a stream. */
  readonly reply?: { readonly streamed: boolean } | undefined
}

/**
 * Records each run of a stream as an `Attempt` when the context has an attempt log (`context.attempts`); its
 * kind is `context.attempt`'s. Without `context`, the one in the fiber when the stream starts (`current`).
 * @since 0.1.0
 * @category attempts
 */
export const recordAttempt: <R>(
  self: Stream.Stream<StreamEvent, LlmError, R>,
  site: Site,
  context?: PolicyContext,
  observed?: Observed
) => Stream.Stream<StreamEvent, LlmError, R> = internalAttempts.recordAttempt

/**
 * Records one non-streaming call as an `Attempt` when the context has an attempt log. Without `context`,
 * the one in the fiber.
 * @since 0.1.0
 * @category attempts
 */
export const recordCall: <A extends Completion, R>(
  self: Effect.Effect<A, LlmError, R>,
  site: Site,
  context?: PolicyContext
) => Effect.Effect<A, LlmError, R> = internalAttempts.recordCall
