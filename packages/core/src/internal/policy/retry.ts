/**
 * Retrying a request on retryable failures, driven by an Effect `Schedule`.
 * @internal
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as ScheduleDecision from "effect/ScheduleDecision"
import * as ScheduleIntervals from "effect/ScheduleIntervals"
import * as Stream from "effect/Stream"
import type { ChatRequest } from "../../ChatRequest.js"
import { Accumulator } from "../../Completion.js"
import * as LanguageModel from "../../LanguageModel.js"
import * as LlmError from "../../LlmError.js"
import type { StreamEvent } from "../../StreamEvent.js"
import type { Middleware, RetryOptions } from "../../Policy.js"
import { abortableSleep, deadlinePassed, listen, type PolicyContext } from "./context.js"

/** The implementation of `Policy.defaultRetrySchedule`. */
export const defaultRetrySchedule: Schedule.Schedule<unknown, LlmError.LlmError> = Schedule.exponential("250 millis", 2).pipe(
  Schedule.jittered,
  Schedule.intersect(Schedule.recurs(3))
)

/** Steps a schedule by hand, so the wait can be compared with `retryAfter` and the deadline before sleeping. */
class Stepper {
  private state: unknown
  constructor(private readonly schedule: Schedule.Schedule<unknown, LlmError.LlmError>) {
    this.state = schedule.initial
  }
  /** The delay before the next attempt in milliseconds, or none when the schedule is done. */
  next(now: number, error: LlmError.LlmError): Effect.Effect<Option.Option<number>> {
    return Effect.map(this.schedule.step(now, error, this.state), ([state, , decision]) => {
      this.state = state
      if (ScheduleDecision.isDone(decision)) return Option.none()
      return Option.some(Math.max(0, ScheduleIntervals.start(decision.intervals) - now))
    })
  }
}

/** The retry decision for one request: shared by its stream and complete forms. */
class Retrier {
  attempts = 1
  private readonly steppers = new Map<string, Stepper>()
  constructor(private readonly options: RetryOptions) {}

  /** Waits before the next attempt and returns true, or returns false when the error must stand. */
  shouldRetry(error: LlmError.LlmError, context: PolicyContext): Effect.Effect<boolean> {
    return Effect.gen(this, function*() {
      // A deadline outside that already passed would abort the next attempt at once: stop here.
      if (deadlinePassed(context) !== undefined) return false
      const retryable = this.options.while ?? LlmError.isRetryable
      if (!retryable(error) || this.attempts >= (this.options.maxAttempts ?? 4)) return false
      let stepper = this.steppers.get(error._tag)
      if (stepper === undefined) {
        stepper = new Stepper(this.options.schedules?.[error._tag] ?? this.options.schedule ?? defaultRetrySchedule)
        this.steppers.set(error._tag, stepper)
      }
      const clock = yield* Effect.clock
      const now = clock.unsafeCurrentTimeMillis()
      const delay = yield* stepper.next(now, error)
      if (Option.isNone(delay)) return false
      // The server's own wait wins over a shorter schedule delay.
      const wait = error._tag === "RateLimited" && error.retryAfter !== undefined
        ? Math.max(delay.value, Duration.toMillis(error.retryAfter))
        : delay.value
      // A wait that ends past the total deadline cannot lead to an answer in time: fail now.
      if (context.deadline !== undefined && now + wait >= context.deadline) return false
      // A deadline that passes during the wait ends it, and the error stands (the timeout reports it).
      if (wait > 0 && Either.isLeft(yield* Effect.either(abortableSleep(context, Duration.millis(wait))))) return false
      this.attempts++
      return true
    })
  }
}

const retryInfo = { kind: "retry" } as const

/** The implementation of `Policy.retry`. */
export const retry = (options: RetryOptions = {}): Middleware => (self) => {
  const streamWith = (request: ChatRequest, context: PolicyContext) =>
    Stream.suspend(() => {
      const retrier = new Retrier(options)
      const retried: PolicyContext = { ...context, attempt: retryInfo }
      const attempt = (first: boolean): Stream.Stream<StreamEvent, LlmError.LlmError> => {
        let emitted = false
        return self.streamWith(request, listen(first ? context : retried, () => (emitted = true))).pipe(
          Stream.catchAll((error) =>
            emitted && options.afterOutput !== true
              ? Stream.fail(error)
              : LanguageModel.unwrap(Effect.map(retrier.shouldRetry(error, context), (again) => (again ? attempt(false) : Stream.fail(error))))
          )
        )
      }
      if (options.afterOutput !== true) return attempt(true)
      // Retried after output, the caller may hold several attempts' text: a failure's partial is all of it.
      const received = new Accumulator()
      return attempt(true).pipe(
        Stream.mapChunks((chunk) => {
          for (const event of chunk) received.add(event)
          return chunk
        }),
        Stream.mapError((error) => (received.events === 0 ? error : LlmError.replacePartial(error, received.snapshot())))
      )
    })
  const completeWith = (request: ChatRequest, context: PolicyContext) =>
    Effect.suspend(() => {
      const retrier = new Retrier(options)
      const retried: PolicyContext = { ...context, attempt: retryInfo }
      const attempt = (first: boolean): ReturnType<LanguageModel.Service["complete"]> =>
        self.completeWith(request, first ? context : retried).pipe(
          Effect.catchAll((error) => Effect.flatMap(retrier.shouldRetry(error, context), (again) => (again ? attempt(false) : Effect.fail(error))))
        )
      return attempt(true)
    })
  return LanguageModel.make({ provider: self.provider, capabilities: self.capabilities, streamWith, completeWith })
}
