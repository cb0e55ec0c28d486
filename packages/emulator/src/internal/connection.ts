/**
 * Runs a plan against a Node `ServerResponse`: the status line, timed writes each awaited until
 * handed to the socket (so one SSE event is one socket write and nothing is buffered), and the
 * ending (clean end, socket destroyed, stall). Keep-alives (comments, or Anthropic's `ping`) are
 * written during long pauses and stalls; they are not counted as SSE events in the log.
 *
 * The platform's streaming body writer does not await each write nor let a handler destroy the
 * socket or split an event across writes, so the emulator writes to the Node response itself and
 * ends it before handing the (empty) `HttpServerResponse` back to the platform, which then skips it.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import type * as Http from "node:http"
import type { Plan, Step } from "./wire.js"
import { awkwardCut } from "./wire.js"

/** @internal What the connection reports to the request log. */
export interface Tracker {
  /** Completes when the connection closes (the client went away, or the response finished). */
  readonly closed: Effect.Effect<void>
  readonly status: (status: number) => void
  readonly written: (contentEvents: number, sseEvents: number) => void
  /** The server is deliberately silent from now on. */
  readonly stalled: () => void
  /** The server is about to destroy the connection. */
  readonly reset: () => void
}

/** Runs `act`, resuming when its callback fires or the connection closes, whichever comes first. */
const untilDone = (res: Http.ServerResponse, act: (done: () => void) => void): Effect.Effect<void> =>
  Effect.async<void>((resume) => {
    if (res.destroyed || res.writableEnded) {
      resume(Effect.void)
      return
    }
    let settled = false
    const settle = () => {
      if (settled) return
      settled = true
      res.off("close", settle)
      resume(Effect.void)
    }
    res.on("close", settle)
    act(settle)
    return Effect.sync(() => {
      res.off("close", settle)
    })
  })

/** Writes bytes and waits until the socket has them. */
const write = (res: Http.ServerResponse, bytes: Uint8Array): Effect.Effect<void> =>
  untilDone(res, (done) => res.write(bytes, done))

/** Ends the body (the chunked terminator) and waits until it is out. */
const end = (res: Http.ServerResponse): Effect.Effect<void> => untilDone(res, (done) => res.end(done))

/**
 * Lets the event loop poll I/O before the next write, so a client in the same process (tests)
 * reads each write on its own instead of finding them all coalesced in its socket buffer.
 */
const yieldToEventLoop: Effect.Effect<void> = Effect.async<void>((resume) => {
  const handle = setImmediate(() => resume(Effect.void))
  return Effect.sync(() => clearImmediate(handle))
})

/** One write in `event` or `split` mode: flushed to the socket, then a turn of the event loop. */
const writeAlone = (res: Http.ServerResponse, bytes: Uint8Array): Effect.Effect<void> =>
  write(res, bytes).pipe(Effect.zipRight(yieldToEventLoop))

const pause = (res: Http.ServerResponse, ms: number, keepAlive: Plan["keepAlive"]): Effect.Effect<void> => {
  if (ms <= 0) return Effect.void
  if (keepAlive === undefined || ms < keepAlive.intervalMs) return Effect.sleep(ms)
  const bytes = keepAlive.bytes
  return Effect.gen(function*() {
    let remaining = ms
    while (remaining >= keepAlive.intervalMs) {
      yield* Effect.sleep(keepAlive.intervalMs)
      yield* write(res, bytes)
      remaining -= keepAlive.intervalMs
    }
    if (remaining > 0) yield* Effect.sleep(remaining)
  })
}

type Write = Extract<Step, { readonly _tag: "Write" }>

const concat = (writes: ReadonlyArray<Write>): Uint8Array => {
  const size = writes.reduce((n, w) => n + w.bytes.length, 0)
  const out = new Uint8Array(size)
  let offset = 0
  for (const w of writes) {
    out.set(w.bytes, offset)
    offset += w.bytes.length
  }
  return out
}

const writeAll = (res: Http.ServerResponse, writes: ReadonlyArray<Write>, tracker: Tracker): Effect.Effect<void> => {
  if (writes.length === 0) return Effect.void
  return write(res, concat(writes)).pipe(
    Effect.tap(() =>
      tracker.written(writes.filter((w) => w.content).length, writes.filter((w) => w.event).length)
    )
  )
}

const body = (res: Http.ServerResponse, plan: Plan, tracker: Tracker): Effect.Effect<void> => {
  const writes = plan.steps.filter((s): s is Write => s._tag === "Write")
  // A plan that ends silent counts as stalled from its last write on: once that write is out
  // there is nothing more to send (the client may well read it before this fiber runs again).
  const silent = plan.ending === "stall" || plan.ending === "hang"
  const last = writes.length === 0 ? undefined : writes[writes.length - 1]
  const beforeWrite = (step: Write) => Effect.sync(() => silent && step === last && tracker.stalled())
  /** Waits for the pauses among `steps`, then writes all of them at once. */
  const replay = (steps: ReadonlyArray<Step>, paced: boolean) => {
    const total = paced ? steps.reduce((n, s) => (s._tag === "Pause" ? n + s.ms : n), 0) : 0
    return pause(res, total, plan.keepAlive).pipe(
      Effect.zipRight(Effect.sync(() => silent && tracker.stalled())),
      Effect.zipRight(writeAll(res, steps.filter((s): s is Write => s._tag === "Write"), tracker))
    )
  }
  const stepByStep = (steps: ReadonlyArray<Step>) =>
    Effect.forEach(steps, (step) => {
      if (step._tag === "Pause") return pause(res, step.ms, plan.keepAlive)
      const counted = Effect.sync(() => tracker.written(step.content ? 1 : 0, step.event ? 1 : 0))
      // Counted as soon as the socket has the bytes, before the turn of the event loop.
      if (plan.write === "split" && step.event && step.bytes.length > 1) {
        const at = awkwardCut(step.bytes)
        return beforeWrite(step).pipe(
          Effect.zipRight(writeAlone(res, step.bytes.subarray(0, at))),
          Effect.zipRight(write(res, step.bytes.subarray(at))),
          Effect.zipRight(counted),
          Effect.zipRight(yieldToEventLoop)
        )
      }
      return beforeWrite(step).pipe(
        Effect.zipRight(write(res, step.bytes)),
        Effect.zipRight(counted),
        Effect.zipRight(yieldToEventLoop)
      )
    }, { discard: true })
  if (plan.buffered !== undefined) {
    // The steps up to and including content event `buffered` go out as streamed; the rest is held.
    let held = 0
    for (let content = 0; held < plan.steps.length && content < plan.buffered; held++) {
      const step = plan.steps[held]
      if (step._tag === "Write" && step.content) content++
    }
    return stepByStep(plan.steps.slice(0, held)).pipe(Effect.zipRight(replay(plan.steps.slice(held), true)))
  }
  return plan.write === "bulk" ? replay(plan.steps, false) : stepByStep(plan.steps)
}

const ending = (res: Http.ServerResponse, plan: Plan, tracker: Tracker): Effect.Effect<void> => {
  switch (plan.ending) {
    case "end":
      return end(res)
    case "reset":
    case "rst":
      return Effect.sync(() => {
        tracker.reset()
        const socket = res.socket
        if (socket === null) res.destroy()
        else if (plan.ending === "rst") socket.resetAndDestroy()
        else socket.destroy()
      })
    case "stall": {
      const keepAlive = plan.keepAlive
      return Effect.sync(tracker.stalled).pipe(
        Effect.zipRight(
          keepAlive === undefined
            ? Effect.never
            : Effect.forever(Effect.sleep(keepAlive.intervalMs).pipe(
              Effect.zipRight(write(res, keepAlive.bytes))
            ))
        )
      )
    }
    case "hang":
      return Effect.sync(tracker.stalled).pipe(Effect.zipRight(Effect.never))
  }
}

/**
 * @internal Runs the plan until it ends or the connection closes, whichever comes first. On any
 * exit the Node response is left ended, so the platform never writes to it again.
 */
export const run = (res: Http.ServerResponse, plan: Plan, tracker: Tracker): Effect.Effect<void> =>
  Effect.sync(() => {
    if (plan.head !== undefined && !res.headersSent && !res.destroyed) {
      res.writeHead(plan.head.status, plan.head.headers)
      res.flushHeaders()
      tracker.status(plan.head.status)
    }
  }).pipe(
    Effect.zipRight(body(res, plan, tracker)),
    Effect.zipRight(ending(res, plan, tracker)),
    Effect.raceFirst(tracker.closed),
    Effect.ensuring(Effect.sync(() => {
      if (!res.writableEnded) {
        // Interrupted (client gone, or the emulator shutting down) or deliberately reset:
        // make sure nothing more goes out, then mark the response ended.
        res.destroy()
        res.end()
      }
    }))
  )
