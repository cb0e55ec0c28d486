/**
 * Deadlines for the first token, between events and overall.
 * @internal
 */
import type * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import * as LlmError from "../../LlmError.js"
import { isToken, type StreamEvent } from "../../StreamEvent.js"
import type { StreamPolicy, TimeoutOptions } from "../../Policy.js"
import { type Site, streamPolicy } from "./builders.js"
import { listen, Waits, withDeadline } from "./context.js"

const millis = (input: Duration.DurationInput | undefined): number | undefined =>
  input === undefined ? undefined : Duration.toMillis(Duration.decode(input))

/** The bounds of one `timeout`, in milliseconds. */
interface Bounds {
  readonly firstTokenMs: number | undefined
  readonly idleMs: number | undefined
  readonly totalMs: number | undefined
}

/**
 * The deadlines of one request, watched by one fiber: what arrives only moves `last` (and `gotToken`);
 * `watchdog` sleeps until the nearest deadline, looks again, and gives the failure once one passed.
 */
class Watch {
  private last: number
  private gotToken = false
  private readonly totalAt: number | undefined

  constructor(
    private readonly clock: Clock.Clock,
    private readonly start: number,
    private readonly bounds: Bounds,
    private readonly site: Site
  ) {
    this.last = start
    this.totalAt = bounds.totalMs === undefined ? undefined : start + bounds.totalMs
  }

  /** The deadline of `total`, in epoch milliseconds. */
  get deadline(): number | undefined {
    return this.totalAt
  }

  /** Something arrived now; `token` when it holds a token (a delta of a stream, a read of a non-streamed body). */
  arrived(token: boolean): void {
    this.last = this.clock.unsafeCurrentTimeMillis()
    if (token) this.gotToken = true
  }

  /** A batch of events a stream handed on. */
  readonly track = (events: ReadonlyArray<StreamEvent>): void => {
    let token = false
    if (!this.gotToken) {
      for (let i = 0; i < events.length; i++) {
        if (isToken(events[i])) {
          token = true
          break
        }
      }
    }
    this.arrived(token)
  }

  /** Gives the failure once a deadline passed. */
  watchdog(): Effect.Effect<LlmError.LlmError> {
    return Effect.suspend(() => {
      const { firstTokenMs, idleMs, totalMs } = this.bounds
      const now = this.clock.unsafeCurrentTimeMillis()
      let due = Number.POSITIVE_INFINITY
      let phase: LlmError.TimeoutPhase = "total"
      let bound = 0
      if (this.totalAt !== undefined && totalMs !== undefined) {
        due = this.totalAt
        bound = totalMs
      }
      if (!this.gotToken && firstTokenMs !== undefined && this.start + firstTokenMs < due) {
        due = this.start + firstTokenMs
        phase = "first-token"
        bound = firstTokenMs
      }
      if (idleMs !== undefined && (this.gotToken || firstTokenMs === undefined) && this.last + idleMs < due) {
        due = this.last + idleMs
        phase = "idle"
        bound = idleMs
      }
      if (now >= due) return Effect.succeed(new LlmError.Timeout({ ...this.site, phase, after: Duration.millis(bound) }))
      // Before the first token the idle bound is not yet in force, but the first token may come
      // at any moment: look again every `idle` so a stall right after it is caught in time.
      const wake = !this.gotToken && idleMs !== undefined ? Math.min(due, now + idleMs) : due
      if (wake === Number.POSITIVE_INFINITY) return Effect.never
      return Effect.flatMap(Effect.sleep(Duration.millis(wake - now)), () => this.watchdog())
    })
  }
}

/** The implementation of `Policy.timeout`. */
export const timeout = (options: TimeoutOptions): StreamPolicy => {
  const bounds: Bounds = { firstTokenMs: millis(options.firstToken), idleMs: millis(options.idle), totalMs: millis(options.total) }
  const watching = bounds.firstTokenMs !== undefined || bounds.idleMs !== undefined
  const connect = options.connect === undefined ? undefined : Duration.decode(options.connect)
  return streamPolicy(
    (inner, site, context) => {
      const connected = connect === undefined ? context : { ...context, connect }
      // A connect bound alone is kept by the adapter: no watchdog, nothing per read.
      if (!watching && bounds.totalMs === undefined) return inner(connected)
      // Scoped: the watchdog lives as long as the stream, whichever fiber pulls it first (a hedge pulls
      // a candidate's start in a fiber that ends once the race is decided).
      return Stream.unwrapScoped(
        Effect.gen(function*() {
          const clock = yield* Effect.clock
          const watch = new Watch(clock, clock.unsafeCurrentTimeMillis(), bounds, site)
          // Every wait inside registers with `waits`: the watchdog aborts them, and the failure that
          // follows (a request aborted mid-read, with what it had received) becomes the timeout. Events
          // are reported through `progress`: nothing is added per read. A total bound alone needs no
          // report; policies inside (retry) see its deadline and do not wait past it.
          const waits = new Waits(context.abort)
          yield* Effect.forkScoped(Effect.flatMap(watch.watchdog(), (timedOut) => waits.fire(timedOut)))
          const deadlined = withDeadline(connected, watch.deadline)
          return inner({ ...(watching ? listen(deadlined, watch.track) : deadlined), abort: waits }).pipe(
            Stream.mapError((failure) =>
              waits.reason === undefined
                ? failure
                : failure.partial === undefined
                ? waits.reason
                : LlmError.replacePartial(waits.reason, failure.partial)
            )
          )
        })
      )
    },
    (inner, site, context) => {
      const connected = connect === undefined ? context : { ...context, connect }
      if (!watching && bounds.totalMs === undefined) return inner(connected)
      return Effect.gen(function*() {
        const clock = yield* Effect.clock
        const watch = new Watch(clock, clock.unsafeCurrentTimeMillis(), bounds, site)
        let handed = withDeadline(connected, watch.deadline)
        if (watching) {
          // The reads of the body are this call's progress; a timeout outside sees them too.
          const outer = context.bodyProgress
          handed = {
            ...handed,
            bodyProgress: outer === undefined ? () => watch.arrived(true) : (bytes) => {
              watch.arrived(true)
              outer(bytes)
            }
          }
        }
        // One race per call (not per read): the loser, the call or the watchdog, is interrupted, which
        // aborts the request in flight.
        return yield* Effect.raceFirst(inner(handed), Effect.flatMap(watch.watchdog(), Effect.fail))
      })
    }
  )
}
