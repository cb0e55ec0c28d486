/**
 * Deadlines for the first token, between events and overall.
 * @internal
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import { Accumulator } from "../../Completion.js"
import * as LlmError from "../../LlmError.js"
import { isToken } from "../../StreamEvent.js"
import { ConnectTimeout, Deadline, type Site, streamPolicy, type StreamPolicy } from "./core.js"

/**
 * Options of `timeout`; each bound is optional.
 * @since 0.1.0
 * @category models
 */
export interface TimeoutOptions {
  /** From the start of the request to the response headers (enforced by the adapter, which sees them). */
  readonly connect?: Duration.DurationInput | undefined
  /** From the start of the request to the first text, reasoning or tool-call delta. */
  readonly firstToken?: Duration.DurationInput | undefined
  /** Between two events (before the first token too, when `firstToken` is not set). Keep-alive comments do not count. */
  readonly idle?: Duration.DurationInput | undefined
  /** The whole request: applied outside retry and failover, one deadline over every attempt. */
  readonly total?: Duration.DurationInput | undefined
}

const millis = (input: Duration.DurationInput | undefined): number | undefined =>
  input === undefined ? undefined : Duration.toMillis(Duration.decode(input))

/**
 * Fails a stream with `Timeout{phase}` when a deadline passes, interrupting (and so aborting) the request.
 * Applied to a service, `firstToken` and `idle` bound each attempt made through it; `total` also bounds `complete`.
 * @since 0.1.0
 * @category policies
 */
export const timeout = (options: TimeoutOptions): StreamPolicy => {
  const firstTokenMs = millis(options.firstToken)
  const idleMs = millis(options.idle)
  const totalMs = millis(options.total)
  const connect = options.connect === undefined ? undefined : { after: Duration.decode(options.connect) }
  const error = (site: Site, phase: LlmError.TimeoutPhase, ms: number, acc: Accumulator) =>
    new LlmError.Timeout({
      ...site,
      phase,
      after: Duration.millis(ms),
      ...(acc.events === 0 ? {} : { partial: acc.snapshot() })
    })
  return streamPolicy(
    (self, site) =>
      Stream.unwrap(
        Effect.gen(function*() {
          const clock = yield* Effect.clock
          const start = clock.unsafeCurrentTimeMillis()
          const outer = yield* Effect.serviceOption(Deadline)
          const totalAt = totalMs === undefined ? undefined : start + totalMs
          const acc = new Accumulator()
          let last = start
          let gotToken = false
          // One watchdog per stream, not a timer per event: events only move `last`; the watchdog
          // sleeps until the nearest deadline and looks again.
          const watchdog: Effect.Effect<never, LlmError.LlmError> = Effect.suspend(() => {
            const now = clock.unsafeCurrentTimeMillis()
            let due = Number.POSITIVE_INFINITY
            let phase: LlmError.TimeoutPhase = "total"
            let bound = 0
            if (totalAt !== undefined && totalMs !== undefined) {
              due = totalAt
              bound = totalMs
            }
            if (!gotToken && firstTokenMs !== undefined && start + firstTokenMs < due) {
              due = start + firstTokenMs
              phase = "first-token"
              bound = firstTokenMs
            }
            if (idleMs !== undefined && (gotToken || firstTokenMs === undefined) && last + idleMs < due) {
              due = last + idleMs
              phase = "idle"
              bound = idleMs
            }
            if (now >= due) return Effect.fail(error(site, phase, bound, acc))
            // Before the first token the idle bound is not yet in force, but the first token may come
            // at any moment: look again every `idle` so a stall right after it is caught in time.
            const wake = !gotToken && idleMs !== undefined ? Math.min(due, now + idleMs) : due
            if (wake === Number.POSITIVE_INFINITY) return Effect.never
            return Effect.flatMap(Effect.sleep(Duration.millis(wake - now)), () => watchdog)
          })
          const watched = self.pipe(
            Stream.mapChunks((chunk) => {
              last = clock.unsafeCurrentTimeMillis()
              for (const event of chunk) {
                if (!gotToken && isToken(event)) gotToken = true
                acc.add(event)
              }
              return chunk
            }),
            Stream.interruptWhen(watchdog)
          )
          const bounded = connect === undefined ? watched : Stream.provideService(watched, ConnectTimeout, connect)
          if (totalAt === undefined) return bounded
          // Policies inside (retry) see the deadline and do not wait past it.
          const at = Option.isSome(outer) ? Math.min(outer.value.at, totalAt) : totalAt
          return Stream.provideService(bounded, Deadline, { at })
        })
      ),
    (self, site) => {
      const connected = connect === undefined ? self : Effect.provideService(self, ConnectTimeout, connect)
      return totalMs === undefined
        ? connected
        : Effect.gen(function*() {
          const clock = yield* Effect.clock
          const outer = yield* Effect.serviceOption(Deadline)
          const totalAt = clock.unsafeCurrentTimeMillis() + totalMs
          const at = Option.isSome(outer) ? Math.min(outer.value.at, totalAt) : totalAt
          return yield* connected.pipe(
            Effect.provideService(Deadline, { at }),
            Effect.timeoutFail({
              duration: Duration.millis(totalMs),
              onTimeout: () => error(site, "total", totalMs, new Accumulator())
            })
          )
        })
    }
  )
}
