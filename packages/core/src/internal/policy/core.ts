/**
 * What every policy shares: the two shapes a policy takes, the attempt log and the deadline.
 * @internal
 */
import * as Cause from "effect/Cause"
import * as Channel from "effect/Channel"
import * as Chunk from "effect/Chunk"
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import { hasProperty } from "effect/Predicate"
import * as Stream from "effect/Stream"
import { type Completion, type Usage, usageFromEvent } from "../../Completion.js"
import * as LanguageModel from "../../LanguageModel.js"
import type { LlmError } from "../../LlmError.js"
import type { StreamEvent } from "../../StreamEvent.js"

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
  <Self extends Stream.Stream<StreamEvent, LlmError, unknown> | LanguageModel.Service>(self: Self): StreamPolicy.Result<Self>
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
    : Self extends Stream.Stream<infer _A, infer _E, infer R> ? Stream.Stream<StreamEvent, LlmError, R>
    : never
}

/** Context a stream-level policy gets: the provider and model it wraps (for errors), when known. */
export interface Site {
  readonly provider: string
  readonly model: string
}

const unknownSite: Site = { provider: "unknown", model: "unknown" }

/** Builds a policy usable on a stream or on a service. */
export const streamPolicy = (
  onStream: <R>(self: Stream.Stream<StreamEvent, LlmError, R>, site: Site) => Stream.Stream<StreamEvent, LlmError, R>,
  onComplete?: (self: Effect.Effect<Completion, LlmError>, site: Site) => Effect.Effect<Completion, LlmError>
): StreamPolicy => {
  function policy<Self extends Stream.Stream<StreamEvent, LlmError, unknown> | LanguageModel.Service>(
    self: Self
  ): StreamPolicy.Result<Self>
  function policy<R>(
    self: Stream.Stream<StreamEvent, LlmError, R> | LanguageModel.Service
  ): Stream.Stream<StreamEvent, LlmError, R> | LanguageModel.Service {
    if (hasProperty(self, Stream.StreamTypeId)) return onStream(self, unknownSite)
    const service = self
    return LanguageModel.make({
      provider: service.provider,
      capabilities: service.capabilities,
      stream: (request) => onStream(service.stream(request), { provider: service.provider, model: request.model }),
      complete: (request) =>
        onComplete === undefined
          ? service.complete(request)
          : onComplete(service.complete(request), { provider: service.provider, model: request.model })
    })
  }
  return policy
}

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
  readonly error?: { readonly _tag: LlmError["_tag"]; readonly message: string } | undefined
  /** Usage the attempt reported (a failed attempt's tokens still cost money). */
  readonly usage?: Usage | undefined
  /** For a continuation: the characters of text the caller already had when it was spliced on. */
  readonly spliceAt?: number | undefined
  /** True when the attempt was interrupted (a hedge's loser, a timeout, the caller going away). */
  readonly interrupted?: boolean | undefined
}

/**
 * Where request-level policies report their attempts; provide one (`Policy.track`) to read them.
 * @since 0.1.0
 * @category tracking
 */
export class Attempts extends Context.Tag("@sluice/core/Policy/Attempts")<Attempts, {
  readonly record: (attempt: Attempt) => void
}>() {}

/**
 * The deadline of the innermost `timeout({ total })`, in epoch milliseconds, for policies that wait (retry).
 * @since 0.1.0
 * @category tracking
 */
export class Deadline extends Context.Tag("@sluice/core/Policy/Deadline")<Deadline, { readonly at: number }>() {}

/**
 * The bound of `timeout({ connect })`: adapters fail a request whose response headers do not come in time with `Timeout{phase:"connect"}`.
 * @since 0.1.0
 * @category tracking
 */
export class ConnectTimeout extends Context.Tag("@sluice/core/Policy/ConnectTimeout")<ConnectTimeout, {
  readonly after: Duration.Duration
}>() {}

/**
 * How the request about to be made came about; request-level policies provide it to the attempt they start.
 * @since 0.1.0
 * @category tracking
 */
export class AttemptInfo extends Context.Tag("@sluice/core/Policy/AttemptInfo")<AttemptInfo, {
  readonly kind: Attempt["kind"]
  readonly spliceAt?: number | undefined
}>() {}

/** The result of a stage's look at one chunk: what to hand on, and the failure that ends the stream, if any. */
export interface ChunkResult {
  readonly emit: Chunk.Chunk<StreamEvent>
  readonly error?: LlmError | undefined
}

/** A stateful, allocation-light stream stage: one instance per stream run. */
export interface StageHandler {
  readonly onChunk: (chunk: Chunk.Chunk<StreamEvent>) => ChunkResult
  /** At the upstream end: events to add and a failure, if any. */
  readonly onEnd: () => ChunkResult
  /** An upstream failure: what it becomes (e.g. with the partial attached). */
  readonly onFailure: (error: LlmError) => LlmError
  /** Events still held back, handed on before an upstream failure passes. */
  readonly flushOnFailure?: (() => Chunk.Chunk<StreamEvent>) | undefined
}

/** Runs a handler as one channel stage. */
export const stage = <R>(
  self: Stream.Stream<StreamEvent, LlmError, R>,
  make: () => StageHandler
): Stream.Stream<StreamEvent, LlmError, R> =>
  Stream.suspend(() => {
    const handler = make()
    type Out = Channel.Channel<Chunk.Chunk<StreamEvent>, Chunk.Chunk<StreamEvent>, LlmError, LlmError, unknown, unknown>
    const finish = (result: ChunkResult, then: Out): Out => {
      const next = result.error === undefined ? then : Channel.fail(result.error)
      return Chunk.isEmpty(result.emit) ? next : Channel.zipRight(Channel.write(result.emit), next)
    }
    const loop: Out = Channel.readWithCause({
      onInput: (chunk: Chunk.Chunk<StreamEvent>) => finish(handler.onChunk(chunk), loop),
      onFailure: (cause) => {
        const failed = Channel.failCause(Cause.map(cause, handler.onFailure))
        const held = handler.flushOnFailure === undefined ? Chunk.empty<StreamEvent>() : handler.flushOnFailure()
        return Chunk.isEmpty(held) ? failed : Channel.zipRight(Channel.write(held), failed)
      },
      onDone: () => finish(handler.onEnd(), Channel.void)
    })
    return Stream.pipeThroughChannel(self, loop)
  })

/** A chunk result that hands the chunk on unchanged. */
export const pass = (emit: Chunk.Chunk<StreamEvent>): ChunkResult => ({ emit })

/** The empty end of a stage. */
export const nothing: ChunkResult = { emit: Chunk.empty() }

/**
 * Records each run of a stream as an `Attempt` when an `Attempts` service is in context.
 * Provider adapters wrap every request with it; request-level policies say what kind it was through `AttemptInfo`.
 * @since 0.1.0
 * @category tracking
 */
export const recordAttempt = <R>(self: Stream.Stream<StreamEvent, LlmError, R>, site: Site): Stream.Stream<StreamEvent, LlmError, R> =>
  Stream.unwrap(
    Effect.gen(function*() {
      const attempts = yield* Effect.serviceOption(Attempts)
      if (Option.isNone(attempts)) return self
      const info = yield* Effect.serviceOption(AttemptInfo)
      const clock = yield* Effect.clock
      const startedAt = clock.unsafeCurrentTimeMillis()
      let events = 0
      let usage: Usage | undefined
      return self.pipe(
        Stream.mapChunks((chunk) => {
          events += chunk.length
          for (const event of chunk) if (event._tag === "Usage") usage = usageFromEvent(event)
          return chunk
        }),
        Stream.ensuringWith((exit) =>
          Effect.sync(() => attempts.value.record(attemptOf(site, info, startedAt, clock.unsafeCurrentTimeMillis(), events, usage, exit)))
        )
      )
    })
  )

/**
 * Records one non-streaming call as an `Attempt` when an `Attempts` service is in context.
 * @since 0.1.0
 * @category tracking
 */
export const recordCall = <A extends Completion>(self: Effect.Effect<A, LlmError>, site: Site): Effect.Effect<A, LlmError> =>
  Effect.gen(function*() {
    const attempts = yield* Effect.serviceOption(Attempts)
    if (Option.isNone(attempts)) return yield* self
    const info = yield* Effect.serviceOption(AttemptInfo)
    const clock = yield* Effect.clock
    const startedAt = clock.unsafeCurrentTimeMillis()
    return yield* Effect.onExit(self, (exit) =>
      Effect.sync(() => {
        const usage = Exit.isSuccess(exit) && exit.value.usage !== null ? exit.value.usage : undefined
        attempts.value.record(attemptOf(site, info, startedAt, clock.unsafeCurrentTimeMillis(), 0, usage, exit))
      }))
  })

const attemptOf = (
  site: Site,
  info: Option.Option<Context.Tag.Service<AttemptInfo>>,
  startedAt: number,
  endedAt: number,
  events: number,
  usage: Usage | undefined,
  exit: Exit.Exit<unknown, LlmError>
): Attempt => {
  const failure = Exit.isFailure(exit) ? Cause.failureOption(exit.cause) : Option.none()
  const interrupted = Exit.isFailure(exit) && Option.isNone(failure) && Cause.isInterruptedOnly(exit.cause)
  const partialUsage = Option.isSome(failure) ? failure.value.partial?.usage ?? undefined : undefined
  return {
    provider: site.provider,
    model: site.model,
    kind: Option.isSome(info) ? info.value.kind : "initial",
    startedAt,
    endedAt,
    events,
    error: Option.isSome(failure) ? { _tag: failure.value._tag, message: failure.value.message } : undefined,
    interrupted,
    usage: usage ?? partialUsage,
    spliceAt: Option.isSome(info) ? info.value.spliceAt : undefined
  }
}
