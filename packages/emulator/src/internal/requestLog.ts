/**
 * The request log: one record per request, updated from the Node response's events (so a client
 * going away is seen even while the handler is busy), and waiters woken on every change.
 *
 * @internal
 */
import type * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FiberId from "effect/FiberId"
import * as Option from "effect/Option"
import type * as Http from "node:http"
import type { Ending, RequestRecord } from "../Emulator.js"
import type { Tracker } from "./connection.js"

type Mutable<A> = { -readonly [K in keyof A]: A[K] }

/** How many request records the log keeps. */
const maxRecords = 10_000

/** @internal A request in the log. */
export interface Entry {
  readonly id: string
  readonly tracker: Tracker
  readonly update: (patch: Partial<Mutable<RequestRecord>>) => void
  readonly end: (ending: Ending) => void
}

/** @internal */
export class RequestLog {
  private records: Array<RequestRecord> = []
  /** Where each record sits in `records`, so a per-write patch is O(1), not a scan of the log. */
  private readonly index = new Map<string, number>()
  private readonly live = new Map<string, { stalled: boolean; end: (ending: Ending) => void }>()
  private readonly listeners = new Set<() => void>()
  private count = 0

  constructor(private readonly clock: Clock.Clock) {}

  /** The next request id. */
  nextId(): { readonly id: string; readonly number: number } {
    this.count++
    return { id: `req_${this.count}`, number: this.count }
  }

  snapshot(): ReadonlyArray<RequestRecord> {
    return this.records.slice()
  }

  clear(): void {
    this.records = []
    this.index.clear()
    this.notify()
  }

  /** A long-running server keeps the newest `maxRecords` (the oldest half goes when the log is full). */
  private push(record: RequestRecord): void {
    if (this.records.length >= maxRecords) {
      this.records = this.records.slice(this.records.length - maxRecords / 2)
      this.index.clear()
      this.records.forEach((r, i) => this.index.set(r.id, i))
    }
    this.index.set(record.id, this.records.length)
    this.records.push(record)
  }

  private notify(): void {
    for (const listener of Array.from(this.listeners)) listener()
  }

  private patch(id: string, patch: Partial<Mutable<RequestRecord>>): void {
    const i = this.index.get(id)
    if (i === undefined) return
    this.records[i] = { ...this.records[i], ...patch }
    this.notify()
  }

  /** Starts a record and follows the response's `finish` and `close` events. */
  start(
    init: Omit<RequestRecord, "status" | "events" | "sseEvents" | "ending" | "startedAt" | "endedAt">,
    res: Http.ServerResponse
  ): Entry {
    const id = init.id
    const closed = Deferred.unsafeMake<void>(FiberId.none)
    const state = { stalled: false, ended: false }
    let events = 0
    let sseEvents = 0
    this.push({
      ...init,
      status: null,
      events: 0,
      sseEvents: 0,
      ending: null,
      startedAt: this.clock.unsafeCurrentTimeMillis(),
      endedAt: null
    })
    const end = (ending: Ending) => {
      if (state.ended) return
      state.ended = true
      this.live.delete(id)
      this.patch(id, {
        ending,
        endedAt: this.clock.unsafeCurrentTimeMillis(),
        ...(res.headersSent ? { status: res.statusCode } : {})
      })
    }
    this.live.set(id, {
      get stalled() {
        return state.stalled
      },
      end
    })
    res.on("finish", () => end("complete"))
    res.on("close", () => {
      // `close` before `finish`: the connection went away before the body was complete.
      end(res.writableFinished ? "complete" : "client-closed")
      Deferred.unsafeDone(closed, Exit.void)
    })
    const tracker: Tracker = {
      closed: Deferred.await(closed),
      status: (status) => this.patch(id, { status }),
      written: (content, sse) => {
        events += content
        sseEvents += sse
        this.patch(id, { events, sseEvents })
      },
      stalled: () => {
        state.stalled = true
      },
      reset: () => end("reset")
    }
    this.notify()
    return { id, tracker, update: (patch) => this.patch(id, patch), end }
  }

  /** On shutdown: requests still open end as `stalled` (when deliberately silent) or `reset`. */
  shutdown(): void {
    for (const { stalled, end } of Array.from(this.live.values())) end(stalled ? "stalled" : "reset")
  }

  /** Waits until `f` finds something in the log. */
  waitFor<A>(f: (records: ReadonlyArray<RequestRecord>) => Option.Option<A>): Effect.Effect<A> {
    return Effect.async<A>((resume) => {
      const check = (): boolean => {
        const found = f(this.snapshot())
        if (Option.isNone(found)) return false
        this.listeners.delete(check)
        resume(Effect.succeed(found.value))
        return true
      }
      if (check()) return
      this.listeners.add(check)
      return Effect.sync(() => {
        this.listeners.delete(check)
      })
    })
  }
}
