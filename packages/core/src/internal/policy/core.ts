/**
 * What every policy shares: the two shapes a policy takes, the attempt log and the deadline.
 * @internal
 */
import * as Cause from "effect/Cause"
import * as Channel from "effect/Channel"
import * as Chunk from "effect/Chunk"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import { hasProperty } from "effect/Predicate"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { type Accumulator, type Completion, type Usage, usageFromEvent } from "../../Completion.js"
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

/**
 * How a stream-level policy runs: `inner` starts the stream it wraps with the context it chooses (the
 * context it was given, plus its own services), so nothing is provided per read.
 */
export type OnStream = <R>(
  inner: (context: Context.Context<never>) => Stream.Stream<StreamEvent, LlmError, R>,
  site: Site,
  context: Context.Context<never>,
  /** True when `inner` honours the `Abort` and `Progress` in its context (`Capabilities.policyAware`). */
  aware: boolean
) => Stream.Stream<StreamEvent, LlmError, R>

/** Builds a policy usable on a stream or on a service. */
export const streamPolicy = (
  onStream: OnStream,
  onComplete?: (self: Effect.Effect<Completion, LlmError>, site: Site) => Effect.Effect<Completion, LlmError>
): StreamPolicy => {
  function policy<Self extends Stream.Stream<StreamEvent, LlmError, unknown> | LanguageModel.Service>(
    self: Self
  ): StreamPolicy.Result<Self>
  function policy<R>(
    self: Stream.Stream<StreamEvent, LlmError, R> | LanguageModel.Service
  ): Stream.Stream<StreamEvent, LlmError, R> | LanguageModel.Service {
    if (hasProperty(self, Stream.StreamTypeId)) {
      const stream = self
      // A bare stream reads its services from the fiber: what a policy adds is provided to it.
      return LanguageModel.unwrap(Effect.map(Effect.context<never>(), (context) =>
        onStream(
          (inner) => (inner === context ? stream : Stream.provideSomeContext(stream, inner)),
          unknownSite,
          context,
          false
        )))
    }
    const service = self
    const aware = LanguageModel.isPolicyAware(service)
    return LanguageModel.make({
      provider: service.provider,
      capabilities: combinedCapabilities(service, []),
      streamIn: (request, context) =>
        onStream(
          (inner) => LanguageModel.streamIn(service, request, inner),
          { provider: service.provider, model: request.model },
          context,
          aware
        ),
      complete: (request) =>
        onComplete === undefined
          ? service.complete(request)
          : onComplete(service.complete(request), { provider: service.provider, model: request.model })
    })
  }
  return policy
}

/** The capabilities of a policy over one or more services: the first's, policy-aware only when every one is. */
export const combinedCapabilities = (
  first: LanguageModel.Service,
  others: ReadonlyArray<LanguageModel.Service>
): LanguageModel.Capabilities => {
  const policyAware = LanguageModel.isPolicyAware(first) && others.every(LanguageModel.isPolicyAware)
  return policyAware === (first.capabilities.policyAware === true) ? first.capabilities : { ...first.capabilities, policyAware }
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
  /** False when the server answered the streaming request with a whole JSON completion instead of a stream; absent when it streamed. */
  readonly streamed?: false | undefined
}

/**
 * Where request-level policies report their attempts; provide one to read them
 * (`Effect.provideService(Policy.Attempts, { record: (attempt) => … })`), or read `Summary.attempts` from `Policy.metrics`.
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
 * How a deadline reaches the waits inside a stream. `Policy.timeout` provides one to the services it wraps;
 * Sluice's adapters and policies register each wait (a request in flight, a pause before a retry) so that
 * the deadline aborts the wait itself rather than racing every read. A wait registered after the
 * deadline passed is aborted at once.
 * @since 0.1.0
 * @category tracking
 */
export class Abort extends Context.Tag("@sluice/core/Policy/Abort")<Abort, {
  /** Registers a wait's abort until the scope closes; `reason` is the failure the deadline gives. */
  readonly register: (abort: (reason: LlmError) => Effect.Effect<void>) => Effect.Effect<void, never, Scope.Scope>
  /** The deadline's failure once it passed (here or in a timeout outside), else undefined. */
  readonly fired: () => LlmError | undefined
}>() {}

/**
 * The failure of a deadline that already passed, from the `Abort` in `context`: a request-level policy
 * that would start another attempt fails with it instead (the attempt would be aborted at once).
 * @since 0.1.0
 * @category tracking
 */
export const deadlinePassed = (context: Context.Context<never>): LlmError | undefined => {
  const registry = Context.getOption(context, Abort)
  return Option.isNone(registry) ? undefined : registry.value.fired()
}

/**
 * Registers `abort` with the `Abort` in `context` (if any) until `scope` closes.
 * @since 0.1.0
 * @category tracking
 */
export const onAbort = (
  context: Context.Context<never>,
  abort: (reason: LlmError) => Effect.Effect<void>
): Effect.Effect<void, never, Scope.Scope> => {
  const registry = Context.getOption(context, Abort)
  return Option.isNone(registry) ? Effect.void : registry.value.register(abort)
}

/**
 * Where a policy-aware adapter reports each batch of events as it hands it on, so that policies can watch
 * a stream (when the last event came, whether a token did, whether anything reached the caller) without a
 * stage of their own. A policy that listens passes each batch on to the `Progress` it found in its context.
 * @since 0.1.0
 * @category tracking
 */
export class Progress extends Context.Tag("@sluice/core/Policy/Progress")<Progress, {
  readonly onEvents: (events: ReadonlyArray<StreamEvent>) => void
}>() {}

/**
 * Where an adapter reports each read of a non-streamed answer's body (`complete`), so that `timeout`'s
 * first-token and idle bounds apply to it: the first read is the first token, a gap between reads is idle.
 * `timeout` provides one to the `complete` it wraps (in the fiber's context), passing each read on to the
 * `BodyProgress` outside it, if any.
 * @since 0.1.0
 * @category tracking
 */
export class BodyProgress extends Context.Tag("@sluice/core/Policy/BodyProgress")<BodyProgress, {
  readonly onRead: (bytes: number) => void
}>() {}

/**
 * The context with a `Progress` that calls `listener` and then the `Progress` already in it, if any.
 * @since 0.1.0
 * @category tracking
 */
export const listen = (context: Context.Context<never>, listener: (events: ReadonlyArray<StreamEvent>) => void): Context.Context<never> => {
  const outer = Context.getOption(context, Progress)
  if (Option.isNone(outer)) return Context.add(context, Progress, { onEvents: listener })
  const next = outer.value.onEvents
  return Context.add(context, Progress, {
    onEvents: (events) => {
      listener(events)
      next(events)
    }
  })
}

/**
 * Calls `onEvents` with every batch of events the stream hands on: through `Progress` when the stream is
 * policy-aware (no stage), else with a stage. Gives the context for the source and the stream to run.
 */
export const observe = <R>(
  aware: boolean,
  context: Context.Context<never>,
  onEvents: (events: ReadonlyArray<StreamEvent>) => void,
  source: (context: Context.Context<never>) => Stream.Stream<StreamEvent, LlmError, R>
): Stream.Stream<StreamEvent, LlmError, R> =>
  aware
    ? source(listen(context, onEvents))
    : Stream.mapChunks(source(context), (chunk) => {
      if (chunk.length > 0) onEvents(Chunk.toReadonlyArray(chunk))
      return chunk
    })

/**
 * Sleeps, unless the `Abort` in `context` fires first: then fails with the deadline's failure.
 * @since 0.1.0
 * @category tracking
 */
export const abortableSleep = (context: Context.Context<never>, duration: Duration.Duration): Effect.Effect<void, LlmError> => {
  const registry = Context.getOption(context, Abort)
  if (Option.isNone(registry)) return Effect.sleep(duration)
  return Effect.scoped(Effect.flatMap(Deferred.make<void, LlmError>(), (aborted) =>
    Effect.zipRight(
      registry.value.register((reason) => Effect.asVoid(Deferred.fail(aborted, reason))),
      Effect.raceFirst(Effect.sleep(duration), Deferred.await(aborted))
    )))
}

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
export const recordAttempt = <R>(
  self: Stream.Stream<StreamEvent, LlmError, R>,
  site: Site,
  /** Where to find `Attempts` and `AttemptInfo` (default: the fiber's context when the stream starts). */
  context?: Context.Context<never>,
  /** A fold the stream's own decoder keeps of every event it hands on: read at the end instead of watching the stream. */
  fold?: Accumulator,
  /** Read at the end: `streamed` false when the server answered with a whole JSON completion instead of a stream. */
  reply?: { readonly streamed: boolean }
): Stream.Stream<StreamEvent, LlmError, R> =>
  LanguageModel.unwrap(
    Effect.gen(function*() {
      const services = context ?? (yield* Effect.context<never>())
      const attempts = Context.getOption(services, Attempts)
      if (Option.isNone(attempts)) return self
      const info = Context.getOption(services, AttemptInfo)
      const clock = yield* Effect.clock
      const startedAt = clock.unsafeCurrentTimeMillis()
      const record = (events: number, usage: Usage | undefined, exit: Exit.Exit<unknown, LlmError>) =>
        Effect.sync(() =>
          attempts.value.record(attemptOf(site, info, startedAt, clock.unsafeCurrentTimeMillis(), events, usage, exit, reply?.streamed ?? true))
        )
      if (fold !== undefined) return Stream.ensuringWith(self, (exit) => record(fold.events, fold.usage ?? undefined, exit))
      let events = 0
      let usage: Usage | undefined
      return self.pipe(
        Stream.mapChunks((chunk) => {
          events += chunk.length
          for (const event of chunk) if (event._tag === "Usage") usage = usageFromEvent(event)
          return chunk
        }),
        Stream.ensuringWith((exit) => record(events, usage, exit))
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
        attempts.value.record(attemptOf(site, info, startedAt, clock.unsafeCurrentTimeMillis(), 0, usage, exit, true))
      }))
  })

const attemptOf = (
  site: Site,
  info: Option.Option<Context.Tag.Service<AttemptInfo>>,
  startedAt: number,
  endedAt: number,
  events: number,
  usage: Usage | undefined,
  exit: Exit.Exit<unknown, LlmError>,
  streamed: boolean
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
    spliceAt: Option.isSome(info) ? info.value.spliceAt : undefined,
    ...(streamed ? {} : { streamed: false })
  }
}
