/**
 * The policies the CLI puts around a request, composed once for the prompt command and the demo:
 * per attempt a first-token and an idle deadline; per route retries on a jittered exponential
 * schedule (honouring `Retry-After`); failover along the `--fallback` routes; a mid-stream failure
 * healed by continuation (so text already printed is never printed again); one total deadline over all.
 * @internal
 */
import { LlmError, type LanguageModel, Policy } from "@sluice/core"
import * as Duration from "effect/Duration"
import * as Schedule from "effect/Schedule"

/** A model to try: its service and the model name it is asked for. */
export interface Target {
  readonly service: LanguageModel.Service
  readonly model: string
}

/** How hard to try. */
export interface Options {
  /** Retries per route before moving on, and continuations of one answer. */
  readonly retries: number
  readonly firstToken?: Duration.Duration | undefined
  readonly idle?: Duration.Duration | undefined
  readonly total?: Duration.Duration | undefined
  /** The first wait between attempts (default 500 ms; the demo uses less). */
  readonly baseDelay?: Duration.DurationInput | undefined
}

/** A server that asks for a wait longer than this is not retried: the CLI reports it at once. */
const longestRetryAfter = Duration.minutes(1)

const retryable = (error: LlmError.LlmError): boolean =>
  LlmError.isRetryable(error) &&
  !(error._tag === "RateLimited" && error.retryAfter !== undefined && Duration.greaterThan(error.retryAfter, longestRetryAfter))

/** The primary and its fallbacks as one service with every CLI policy applied. */
export const resilient = (
  primary: Target,
  fallbacks: ReadonlyArray<Target>,
  options: Options
): LanguageModel.Service => {
  const perAttempt = (service: LanguageModel.Service): LanguageModel.Service =>
    options.firstToken === undefined && options.idle === undefined
      ? service
      : service.pipe(Policy.timeout({ firstToken: options.firstToken, idle: options.idle }))
  const schedule = Schedule.exponential(options.baseDelay ?? "500 millis", 2).pipe(
    Schedule.union(Schedule.spaced("10 seconds")),
    Schedule.jittered
  )
  let model = perAttempt(primary.service).pipe(
    Policy.failover(
      fallbacks.map((target) => ({ service: perAttempt(target.service), model: target.model })),
      { retry: { schedule, maxAttempts: options.retries + 1, while: retryable } }
    )
  )
  if (options.retries > 0) model = model.pipe(Policy.continuation({ maxContinuations: options.retries, when: retryable }))
  if (options.total !== undefined) model = model.pipe(Policy.timeout({ total: options.total }))
  return model
}
