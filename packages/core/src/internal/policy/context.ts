/**
 * The policy context: the one record policies hand down to the services they wrap, the deadline's abort
 * registry, and the stage that makes a stream of the user's own honour the record.
 * @internal
 */
import * as Chunk from "effect/Chunk"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as Tracer from "effect/Tracer"
import type * as Adapter from "../../Adapter.js"
import { Accumulator } from "../../Completion.js"
import * as LlmError from "../../LlmError.js"
import type { StreamEvent } from "../../StreamEvent.js"
import { unwrap } from "../unwrap.js"
import type { BufferedVerdict } from "./measure.js"

/**
 * The record as policies see it: the adapter contract's fields, and the channels between policies that no
 * service reads (carried in the same record, so they cost nothing more to hand down).
 */
export interface PolicyContext extends Adapter.PolicyContext {
  /** Where `detectBuffered` reports its verdict to the `metrics` outside it. */
  readonly buffered?: ((verdict: BufferedVerdict) => void) | undefined
}

/** The context of a call no policy wraps. */
export const empty: PolicyContext = {}

/**
 * Where the attempts of every request are reported; provide one to read them
 * (`Effect.provideService(Policy.Attempts, { record: (attempt) => … })`), or read `Summary.attempts` from `Policy.metrics`.
 * @since 0.1.0
 * @category tracking
 */
export class Attempts extends Context.Tag("@sluice/core/Policy/Attempts")<Attempts, Adapter.AttemptSink>() {}

/**
 * The record in the fiber, for what reads it there: a stream handed to a stream-level policy bare, and a
 * service of the user's own (`fromStream`), whose streams may call a service's `stream` inside.
 */
class InFiber extends Context.Tag("@sluice/core/Adapter/PolicyContext")<InFiber, PolicyContext>() {}

/** The record a fiber's context stands for: the one a policy put there, else the caller's attempt log and span. */
export const fromContext = (context: Context.Context<never>): PolicyContext => {
  const handed = Context.getOption(context, InFiber)
  const span = Context.getOption(context, Tracer.ParentSpan)
  if (Option.isSome(handed)) {
    // A span opened inside (the caller's own `withSpan` around a service's stream) parents what follows.
    return Option.isSome(span) && span.value !== handed.value.span ? { ...handed.value, span: span.value } : handed.value
  }
  const attempts = Context.getOption(context, Attempts)
  if (Option.isNone(attempts) && Option.isNone(span)) return empty
  return {
    ...(Option.isSome(attempts) ? { attempts: attempts.value } : {}),
    ...(Option.isSome(span) ? { span: span.value } : {})
  }
}

/** The record in the fiber. */
export const current: Effect.Effect<PolicyContext> = Effect.map(Effect.context<never>(), fromContext)

/** The fields a policy hands down that a stage watching the stream keeps (rather than the stream itself). */
const withoutWatch = (context: PolicyContext): PolicyContext =>
  context.abort === undefined && context.progress === undefined ? context : { ...context, abort: undefined, progress: undefined }

const fields = ["abort", "progress", "bodyProgress", "deadline", "connect", "attempts", "attempt", "span", "buffered"] as const
// Every field of the record, checked by the compiler: a field added later and left out here would be dropped.
const everyField: [Exclude<keyof PolicyContext, (typeof fields)[number]>] extends [never] ? true : never = true
void everyField

/** True when two records hold the same values. */
const same = (a: PolicyContext, b: PolicyContext): boolean => a === b || fields.every((field) => a[field] === b[field])

/** `effect` with the record in its fiber, for a service's `complete` called inside (unless it is there already). */
export const inFiber = <A, E, R>(effect: Effect.Effect<A, E, R>, context: PolicyContext): Effect.Effect<A, E, R> =>
  Effect.flatMap(Effect.context<never>(), (fiber) => (same(context, fromContext(fiber)) ? effect : Effect.provideService(effect, InFiber, context)))

/** The record with a listener of events that calls `listener` and then the one already in it, if any. */
export const listen = (context: PolicyContext, listener: (events: ReadonlyArray<StreamEvent>) => void): PolicyContext => {
  const outer = context.progress
  return {
    ...context,
    progress: outer === undefined ? listener : (events) => {
      listener(events)
      outer(events)
    }
  }
}

/** The record with the deadline `at` (or the one outside, when sooner). */
export const withDeadline = (context: PolicyContext, at: number | undefined): PolicyContext =>
  at === undefined ? context : { ...context, deadline: context.deadline === undefined ? at : Math.min(context.deadline, at) }

/** Registers `abort` with the record's deadline (if any) until the scope closes. */
export const onAbort = (
  context: Adapter.PolicyContext,
  abort: (reason: LlmError.LlmError) => Effect.Effect<void>
): Effect.Effect<void, never, Scope.Scope> => (context.abort === undefined ? Effect.void : context.abort.register(abort))

/** The failure of a deadline that already passed, else undefined. */
export const deadlinePassed = (context: Adapter.PolicyContext): LlmError.LlmError | undefined =>
  context.abort === undefined ? undefined : context.abort.fired()

/** Sleeps, unless the record's deadline passes first: then fails with the deadline's failure. */
export const abortableSleep = (context: Adapter.PolicyContext, duration: Duration.DurationInput): Effect.Effect<void, LlmError.LlmError> => {
  const registry = context.abort
  if (registry === undefined) return Effect.sleep(duration)
  return Effect.scoped(Effect.flatMap(Deferred.make<void, LlmError.LlmError>(), (aborted) =>
    Effect.zipRight(
      registry.register((reason) => Effect.asVoid(Deferred.fail(aborted, reason))),
      Effect.raceFirst(Effect.sleep(duration), Deferred.await(aborted))
    )))
}

/** The waits registered with one deadline, aborted together when it passes (and by any deadline outside it). */
export class Waits implements Adapter.Abort {
  private readonly entries = new Set<(reason: LlmError.LlmError) => Effect.Effect<void>>()
  /** The failure this deadline gave, once it passed. */
  reason: LlmError.LlmError | undefined
  constructor(private readonly outer: Adapter.Abort | undefined) {}

  readonly register = (abort: (reason: LlmError.LlmError) => Effect.Effect<void>): Effect.Effect<void, never, Scope.Scope> => {
    // One entry per registration, so the same function registered twice is removed twice.
    const entry = (reason: LlmError.LlmError) => abort(reason)
    const added = Effect.acquireRelease(Effect.sync(() => this.entries.add(entry)), () => Effect.sync(() => this.entries.delete(entry)))
    return Effect.zipRight(
      this.outer === undefined ? added : Effect.zipRight(added, this.outer.register(abort)),
      Effect.suspend(() => (this.reason === undefined ? Effect.void : abort(this.reason)))
    )
  }

  readonly fired = (): LlmError.LlmError | undefined => this.reason ?? this.outer?.fired()

  fire(reason: LlmError.LlmError): Effect.Effect<void> {
    return Effect.suspend(() => {
      this.reason = reason
      return Effect.forEach([...this.entries], (abort) => abort(reason), { discard: true })
    })
  }
}

/**
 * Makes a stream that knows nothing of the record honour it: reports each batch it hands on to `progress`
 * (one `mapChunks`), and ends with the deadline's failure (with what it handed on as `partial`) when the
 * `abort` fires, racing its reads. The rest of the record is provided in the fiber, for a service's `stream`
 * called inside (only when it is not there already: providing costs on every read).
 */
export const watched = <R>(
  self: Stream.Stream<StreamEvent, LlmError.LlmError, R>,
  context: PolicyContext
): Stream.Stream<StreamEvent, LlmError.LlmError, R> =>
  unwrap(Effect.map(Effect.context<never>(), (fiber) => {
    const handed = withoutWatch(context)
    let source = self
    if (!same(handed, fromContext(fiber))) {
      const parent = Context.getOption(fiber, Tracer.ParentSpan)
      const inFiber = Context.make(InFiber, handed)
      source = Stream.provideSomeContext(
        self,
        handed.span === undefined || (Option.isSome(parent) && parent.value === handed.span)
          ? inFiber
          : Context.add(inFiber, Tracer.ParentSpan, handed.span)
      )
    }
    const { abort, progress } = context
    if (abort === undefined && progress === undefined) return source
    const received = abort === undefined ? undefined : new Accumulator()
    const reported = Stream.mapChunks(source, (chunk) => {
      if (chunk.length > 0) {
        const events = Chunk.toReadonlyArray(chunk)
        if (received !== undefined) for (let i = 0; i < events.length; i++) received.add(events[i])
        if (progress !== undefined) progress(events)
      }
      return chunk
    })
    if (abort === undefined || received === undefined) return reported
    return Stream.unwrapScoped(Effect.gen(function*() {
      const aborted = yield* Deferred.make<never, LlmError.LlmError>()
      yield* abort.register((reason) => Effect.asVoid(Deferred.fail(aborted, reason)))
      return Stream.interruptWhen(
        reported,
        Effect.mapError(Deferred.await(aborted), (reason) => (received.events === 0 ? reason : LlmError.replacePartial(reason, received.snapshot())))
      )
    }))
  }))
