/**
 * Deadlines for the first token, between events and overall.
 * @internal
 */
import type * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { Accumulator } from "../../Completion.js"
import * as LlmError from "../../LlmError.js"
import { isToken, type StreamEvent } from "../../StreamEvent.js"
import { Abort, BodyProgress, ConnectTimeout, Deadline, listen, type Site, streamPolicy, type StreamPolicy } from "./core.js"

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

const millis = (input: Duration.DurationInput | undefined): number | undefined =>
  input === undefined ? undefined : Duration.toMillis(Duration.decode(input))

/** The waits registered with one timeout, aborted together when its deadline passes (and by any timeout outside it). */
class Waits implements Context.Tag.Service<Abort> {
  private readonly entries = new Set<(reason: LlmError.LlmError) => Effect.Effect<void>>()
  /** The failure this timeout's deadline gave, once it passed. */
  reason: LlmError.LlmError | undefined
  constructor(private readonly outer: Option.Option<Context.Tag.Service<Abort>>) {}

  readonly register = (abort: (reason: LlmError.LlmError) => Effect.Effect<void>): Effect.Effect<void, never, Scope.Scope> => {
    // One entry per registration, so the same function registered twice is removed twice.
    const entry = (reason: LlmError.LlmError) => abort(reason)
    const added = Effect.acquireRelease(Effect.sync(() => this.entries.add(entry)), () => Effect.sync(() => this.entries.delete(entry)))
    return Effect.zipRight(
      Option.isNone(this.outer) ? added : Effect.zipRight(added, this.outer.value.register(abort)),
      Effect.suspend(() => (this.reason === undefined ? Effect.void : abort(this.reason)))
    )
  }

  readonly fired = (): LlmError.LlmError | undefined =>
    this.reason ?? (Option.isSome(this.outer) ? this.outer.value.fired() : undefined)

  fire(reason: LlmError.LlmError): Effect.Effect<void> {
    return Effect.suspend(() => {
      this.reason = reason
      return Effect.forEach([...this.entries], (abort) => abort(reason), { discard: true })
    })
  }
}

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

/** The context with the `Deadline` of `at` (or of a deadline outside, when sooner). */
const withDeadline = (context: Context.Context<never>, at: number | undefined): Context.Context<never> => {
  if (at === undefined) return context
  const outer = Context.getOption(context, Deadline)
  return Context.add(context, Deadline, { at: Option.isSome(outer) ? Math.min(outer.value.at, at) : at })
}

/**
 * Fails a stream with `Timeout{phase}` when a deadline passes, aborting the request. Over a Sluice service
 * the deadline aborts the wait in flight directly (one watchdog fiber per stream, nothing per read) and the
 * events that count are those the adapter decodes (before `smooth` or a splice may hold them); an answer
 * whose last bytes had already arrived when the deadline passed still ends normally. Over a bare stream or
 * a service of your own it interrupts the stream.
 * Applied to a service, `firstToken` and `idle` bound each attempt made through it, `complete` too: there
 * the first read of the answer's body counts as the first token and a gap between reads as idle (Sluice's
 * adapters report their reads to `BodyProgress`; a `complete` of your own that reports none must answer
 * within `firstToken`, or `idle` when no `firstToken` is set). `total` bounds both.
 * @since 0.1.0
 * @category policies
 */
export const timeout = (options: TimeoutOptions): StreamPolicy => {
  const bounds: Bounds = { firstTokenMs: millis(options.firstToken), idleMs: millis(options.idle), totalMs: millis(options.total) }
  const watching = bounds.firstTokenMs !== undefined || bounds.idleMs !== undefined
  const connect = options.connect === undefined ? undefined : { after: Duration.decode(options.connect) }
  return streamPolicy(
    (inner, site, context, aware) =>
      // Scoped: the watchdog lives as long as the stream, whichever fiber pulls it first (a hedge pulls
      // a candidate's start in a fiber that ends once the race is decided).
      Stream.unwrapScoped(
        Effect.gen(function*() {
          const clock = yield* Effect.clock
          const watch = new Watch(clock, clock.unsafeCurrentTimeMillis(), bounds, site)
          // Policies inside (retry) see the deadline and do not wait past it.
          const services = withDeadline(connect === undefined ? context : Context.add(context, ConnectTimeout, connect), watch.deadline)
          // A connect bound alone is kept by the adapter: no watchdog, nothing per read.
          if (!watching && bounds.totalMs === undefined) return inner(services)
          if (!aware) {
            // Nothing inside promises to end its waits on an abort: race every read with the watchdog.
            const acc = new Accumulator()
            return inner(services).pipe(
              Stream.mapChunks((chunk) => {
                const events = Chunk.toReadonlyArray(chunk)
                if (events.length > 0) watch.track(events)
                for (let i = 0; i < events.length; i++) acc.add(events[i])
                return chunk
              }),
              Stream.interruptWhen(Effect.flatMap(watch.watchdog(), (timedOut) =>
                Effect.fail(acc.events === 0 ? timedOut : LlmError.replacePartial(timedOut, acc.snapshot()))))
            )
          }
          // Every wait inside registers with `waits`: the watchdog aborts them, and the failure that
          // follows (a request aborted mid-read, with what it had received) becomes the timeout. Events
          // are reported through `Progress`: nothing is added per read. A total bound alone needs neither.
          const waits = new Waits(Context.getOption(context, Abort))
          yield* Effect.forkScoped(Effect.flatMap(watch.watchdog(), (timedOut) => waits.fire(timedOut)))
          return inner(Context.add(watching ? listen(services, watch.track) : services, Abort, waits)).pipe(
            Stream.mapError((failure) =>
              waits.reason === undefined
                ? failure
                : failure.partial === undefined
                ? waits.reason
                : LlmError.replacePartial(waits.reason, failure.partial)
            )
          )
        })
      ),
    (self, site) => {
      const connected = connect === undefined ? self : Effect.provideService(self, ConnectTimeout, connect)
      if (!watching && bounds.totalMs === undefined) return connected
      return Effect.gen(function*() {
        const clock = yield* Effect.clock
        const watch = new Watch(clock, clock.unsafeCurrentTimeMillis(), bounds, site)
        const context = yield* Effect.context<never>()
        let services = withDeadline(context, watch.deadline)
        if (watching) {
          // The reads of the body are this call's progress; a timeout outside sees them too.
          const outer = Context.getOption(context, BodyProgress)
          const onRead = Option.isNone(outer)
            ? () => watch.arrived(true)
            : (bytes: number) => {
              watch.arrived(true)
              outer.value.onRead(bytes)
            }
          services = Context.add(services, BodyProgress, { onRead })
        }
        // One race per call (not per read): the loser, the call or the watchdog, is interrupted, which
        // aborts the request in flight.
        return yield* Effect.raceFirst(
          Effect.provide(connected, services),
          Effect.flatMap(watch.watchdog(), Effect.fail)
        )
      })
    }
  )
}
