/**
 * Recording each request a service makes as an `Attempt`, in the attempt log of the policy context.
 * @internal
 */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import type * as Adapter from "../../Adapter.js"
import { type Completion, type Usage, usageFromEvent } from "../../Completion.js"
import type { LlmError } from "../../LlmError.js"
import type { StreamEvent } from "../../StreamEvent.js"
import type { Attempt } from "../../Policy.js"
import { unwrap } from "../unwrap.js"
import { current } from "./context.js"

/** Records each run of a stream as an `Attempt` when the record (default: the fiber's) has an attempt log. */
export const recordAttempt = <R>(
  self: Stream.Stream<StreamEvent, LlmError, R>,
  site: Adapter.Site,
  context?: Adapter.PolicyContext,
  observed?: Adapter.Observed
): Stream.Stream<StreamEvent, LlmError, R> =>
  unwrap(
    Effect.gen(function*() {
      const record = context ?? (yield* current)
      const attempts = record.attempts
      if (attempts === undefined) return self
      const info = record.attempt
      const clock = yield* Effect.clock
      const startedAt = clock.unsafeCurrentTimeMillis()
      const reply = observed?.reply
      const done = (events: number, usage: Usage | undefined, exit: Exit.Exit<unknown, LlmError>) =>
        Effect.sync(() =>
          attempts.record(attemptOf(site, info, startedAt, clock.unsafeCurrentTimeMillis(), events, usage, exit, reply?.streamed ?? true))
        )
      const fold = observed?.fold
      if (fold !== undefined) return Stream.ensuringWith(self, (exit) => done(fold.events, fold.usage ?? undefined, exit))
      let events = 0
      let usage: Usage | undefined
      return self.pipe(
        Stream.mapChunks((chunk) => {
          events += chunk.length
          for (const event of chunk) if (event._tag === "Usage") usage = usageFromEvent(event)
          return chunk
        }),
        Stream.ensuringWith((exit) => done(events, usage, exit))
      )
    })
  )

/** Records one non-streaming call as an `Attempt` when the record (default: the fiber's) has an attempt log. */
export const recordCall = <A extends Completion, R>(
  self: Effect.Effect<A, LlmError, R>,
  site: Adapter.Site,
  context?: Adapter.PolicyContext
): Effect.Effect<A, LlmError, R> =>
  Effect.gen(function*() {
    const record = context ?? (yield* current)
    const attempts = record.attempts
    if (attempts === undefined) return yield* self
    const info = record.attempt
    const clock = yield* Effect.clock
    const startedAt = clock.unsafeCurrentTimeMillis()
    return yield* Effect.onExit(self, (exit) =>
      Effect.sync(() => {
        const usage = Exit.isSuccess(exit) && exit.value.usage !== null ? exit.value.usage : undefined
        attempts.record(attemptOf(site, info, startedAt, clock.unsafeCurrentTimeMillis(), 0, usage, exit, true))
      }))
  })

const attemptOf = (
  site: Adapter.Site,
  info: Adapter.AttemptInfo | undefined,
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
    kind: info === undefined ? "initial" : info.kind,
    startedAt,
    endedAt,
    events,
    error: Option.isSome(failure) ? { _tag: failure.value._tag, message: failure.value.message } : undefined,
    interrupted,
    usage: usage ?? partialUsage,
    spliceAt: info === undefined ? undefined : info.spliceAt,
    ...(streamed ? {} : { streamed: false })
  }
}
