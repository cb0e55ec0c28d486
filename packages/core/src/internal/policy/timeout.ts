/**
 * Deadlines for the first token, between events and overall.
 * @internal
 */
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
import { Abort, ConnectTimeout, Deadline, listen, type Site, streamPolicy, type StreamPolicy } from "./core.js"

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

/**
 * Fails a stream with `Timeout{phase}` when a deadline passes, aborting the request. Over a Sluice service
 * the deadline aborts the wait in flight directly (one watchdog fiber per stream, nothing per read) and the
 * events that count are those the adapter decodes (before `smooth` or a splice may hold them); an answer
 * whose last bytes had already arrived when the deadline passed still ends normally. Over a bare stream or
 * a service of your own it interrupts the stream.
 * Applied to a service, `firstToken` and `idle` bound each attempt made through it; `total` also bounds `complete`.
 * @since 0.1.0
 * @category policies
 */
export const timeout = (options: TimeoutOptions): StreamPolicy => {
  const firstTokenMs = millis(options.firstToken)
  const idleMs = millis(options.idle)
  const totalMs = millis(options.total)
  const connect = options.connect === undefined ? undefined : { after: Duration.decode(options.connect) }
  const error = (site: Site, phase: LlmError.TimeoutPhase, ms: number) =>
    new LlmError.Timeout({ ...site, phase, after: Duration.millis(ms) })
  return streamPolicy(
    (inner, site, context, aware) =>
      // Scoped: the watchdog lives as long as the stream, whichever fiber pulls it first (a hedge pulls
      // a candidate's start in a fiber that ends once the race is decided).
      Stream.unwrapScoped(
        Effect.gen(function*() {
          const clock = yield* Effect.clock
          const start = clock.unsafeCurrentTimeMillis()
          const outer = Context.getOption(context, Deadline)
          const totalAt = totalMs === undefined ? undefined : start + totalMs
          let last = start
          let gotToken = false
          // One watchdog per stream, not a timer per event: events only move `last`; the watchdog
          // sleeps until the nearest deadline, looks again, and gives the failure once one passed.
          const watchdog: Effect.Effect<LlmError.LlmError> = Effect.suspend(() => {
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
            if (now >= due) return Effect.succeed(error(site, phase, bound))
            // Before the first token the idle bound is not yet in force, but the first token may come
            // at any moment: look again every `idle` so a stall right after it is caught in time.
            const wake = !gotToken && idleMs !== undefined ? Math.min(due, now + idleMs) : due
            if (wake === Number.POSITIVE_INFINITY) return Effect.never
            return Effect.flatMap(Effect.sleep(Duration.millis(wake - now)), () => watchdog)
          })
          const track = (events: ReadonlyArray<StreamEvent>): void => {
            last = clock.unsafeCurrentTimeMillis()
            if (!gotToken) {
              for (let i = 0; i < events.length; i++) {
                if (isToken(events[i])) {
                  gotToken = true
                  break
                }
              }
            }
          }
          let services = connect === undefined ? context : Context.add(context, ConnectTimeout, connect)
          // Policies inside (retry) see the deadline and do not wait past it.
          if (totalAt !== undefined) {
            services = Context.add(services, Deadline, { at: Option.isSome(outer) ? Math.min(outer.value.at, totalAt) : totalAt })
          }
          // A connect bound alone is kept by the adapter: no watchdog, nothing per read.
          if (firstTokenMs === undefined && idleMs === undefined && totalAt === undefined) return inner(services)
          if (!aware) {
            // Nothing inside promises to end its waits on an abort: race every read with the watchdog.
            const acc = new Accumulator()
            return inner(services).pipe(
              Stream.mapChunks((chunk) => {
                const events = Chunk.toReadonlyArray(chunk)
                if (events.length > 0) track(events)
                for (let i = 0; i < events.length; i++) acc.add(events[i])
                return chunk
              }),
              Stream.interruptWhen(Effect.flatMap(watchdog, (timedOut) =>
                Effect.fail(acc.events === 0 ? timedOut : LlmError.replacePartial(timedOut, acc.snapshot()))))
            )
          }
          // Every wait inside registers with `waits`: the watchdog aborts them, and the failure that
          // follows (a request aborted mid-read, with what it had received) becomes the timeout. Events
          // are reported through `Progress`: nothing is added per read. A total bound alone needs neither.
          const waits = new Waits(Context.getOption(context, Abort))
          yield* Effect.forkScoped(Effect.flatMap(watchdog, (timedOut) => waits.fire(timedOut)))
          const watching = firstTokenMs !== undefined || idleMs !== undefined
          return inner(Context.add(watching ? listen(services, track) : services, Abort, waits)).pipe(
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
              onTimeout: () => error(site, "total", totalMs)
            })
          )
        })
    }
  )
}
