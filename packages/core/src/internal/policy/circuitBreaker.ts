/**
 * The circuit breaker: a provider/model that keeps failing is skipped, without a request, until a
 * cooldown ends; then one probe request decides whether it is back.
 * @internal
 */
import * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import type { ChatRequest } from "../../ChatRequest.js"
import * as LanguageModel from "../../LanguageModel.js"
import * as LlmError from "../../LlmError.js"
import type { CircuitBreakerOptions, CircuitBreakerPolicyOptions, CircuitBreakerService, CircuitKey, CircuitOutcome, CircuitPermit, CircuitState, Middleware } from "../../Policy.js"
import type { PolicyContext } from "./context.js"

/** The mutable record of one key. */
interface Entry {
  phase: "closed" | "open" | "half-open"
  /** Bumped at every change of phase: a permit from an earlier phase no longer counts. */
  generation: number
  consecutive: number
  /** Outcomes within the window, oldest first, from `head` on: times and whether each failed. */
  times: Array<number>
  failed: Array<boolean>
  head: number
  failures: number
  openedAt: number
  reopensAt: number
  probing: boolean
}

const freshEntry = (): Entry => ({
  phase: "closed",
  generation: 0,
  consecutive: 0,
  times: [],
  failed: [],
  head: 0,
  failures: 0,
  openedAt: 0,
  reopensAt: 0,
  probing: false
})

const keyOf = (key: CircuitKey): string => `${key.provider}\u0000${key.model}`

/** What changed, for the log. */
type Transition = "opened" | "reopened" | "closed" | undefined

class InMemoryBreaker implements CircuitBreakerService {
  private readonly entries = new Map<string, Entry>()
  private readonly cooldownMs: number
  private readonly windowMs: number
  private readonly consecutiveFailures: number
  private readonly failureRate: number | undefined
  private readonly minimumCalls: number

  constructor(options: CircuitBreakerOptions) {
    this.cooldownMs = Duration.toMillis(Duration.decode(options.cooldown))
    this.windowMs = Duration.toMillis(Duration.decode(options.window ?? "60 seconds"))
    this.consecutiveFailures = options.consecutiveFailures ?? 5
    this.failureRate = options.failureRate
    this.minimumCalls = options.minimumCalls ?? 10
  }

  readonly acquire = (key: CircuitKey): Effect.Effect<CircuitPermit, LlmError.CircuitOpen> =>
    Effect.clockWith((clock) =>
      Effect.suspend(() => {
        const now = clock.unsafeCurrentTimeMillis()
        const entry = this.entry(key)
        if (entry.phase === "open" && now >= entry.reopensAt) {
          entry.phase = "half-open"
          entry.generation++
          entry.probing = false
        }
        if (entry.phase === "open") {
          return Effect.fail(new LlmError.CircuitOpen({ ...key, reopensAt: entry.reopensAt }))
        }
        if (entry.phase === "half-open") {
          // Exactly one probe at a time; the others fail fast as if the breaker were still open.
          if (entry.probing) return Effect.fail(new LlmError.CircuitOpen({ ...key, reopensAt: now }))
          entry.probing = true
        }
        return Effect.succeed(this.permit(key, entry, entry.generation, entry.phase === "half-open"))
      })
    )

  readonly state = (key: CircuitKey): Effect.Effect<CircuitState> =>
    Effect.clockWith((clock) =>
      Effect.sync((): CircuitState => {
        const entry = this.entries.get(keyOf(key))
        if (entry === undefined) return { _tag: "Closed", consecutiveFailures: 0, calls: 0, failures: 0 }
        const now = clock.unsafeCurrentTimeMillis()
        switch (entry.phase) {
          case "closed":
            this.prune(entry, now)
            return {
              _tag: "Closed",
              consecutiveFailures: entry.consecutive,
              calls: entry.times.length - entry.head,
              failures: entry.failures
            }
          case "open":
            return now >= entry.reopensAt
              ? { _tag: "HalfOpen", probing: false }
              : { _tag: "Open", openedAt: entry.openedAt, reopensAt: entry.reopensAt }
          case "half-open":
            return { _tag: "HalfOpen", probing: entry.probing }
        }
      })
    )

  private entry(key: CircuitKey): Entry {
    const k = keyOf(key)
    let entry = this.entries.get(k)
    if (entry === undefined) {
      entry = freshEntry()
      this.entries.set(k, entry)
    }
    return entry
  }

  private permit(key: CircuitKey, entry: Entry, generation: number, probe: boolean): CircuitPermit {
    let settled = false
    return {
      settle: (outcome) =>
        Effect.clockWith((clock) =>
          Effect.suspend(() => {
            if (settled) return Effect.void
            settled = true
            // A permit from an earlier phase (a call that began before the breaker opened) no longer counts.
            if (entry.generation !== generation) return Effect.void
            const now = clock.unsafeCurrentTimeMillis()
            const transition = probe ? this.settleProbe(entry, outcome, now) : this.settleClosed(entry, outcome, now)
            return log(key, entry, transition)
          })
        )
    }
  }

  private settleProbe(entry: Entry, outcome: CircuitOutcome, now: number): Transition {
    switch (outcome) {
      case "success":
        this.close(entry)
        return "closed"
      case "failure":
        this.open(entry, now)
        return "reopened"
      case "ignored":
        // The probe told nothing (interrupted, a caller error): the next call probes again.
        entry.probing = false
        return undefined
    }
  }

  private settleClosed(entry: Entry, outcome: CircuitOutcome, now: number): Transition {
    if (outcome === "ignored") return undefined
    const failed = outcome === "failure"
    entry.consecutive = failed ? entry.consecutive + 1 : 0
    if (entry.consecutive >= this.consecutiveFailures) {
      this.open(entry, now)
      return "opened"
    }
    if (this.failureRate === undefined) return undefined
    entry.times.push(now)
    entry.failed.push(failed)
    if (failed) entry.failures++
    this.prune(entry, now)
    const calls = entry.times.length - entry.head
    if (calls >= this.minimumCalls && entry.failures / calls >= this.failureRate) {
      this.open(entry, now)
      return "opened"
    }
    return undefined
  }

  /** Drops outcomes older than the window (compacting the arrays now and then). */
  private prune(entry: Entry, now: number): void {
    const since = now - this.windowMs
    while (entry.head < entry.times.length && entry.times[entry.head] <= since) {
      if (entry.failed[entry.head]) entry.failures--
      entry.head++
    }
    if (entry.head > 64 && entry.head * 2 > entry.times.length) {
      entry.times = entry.times.slice(entry.head)
      entry.failed = entry.failed.slice(entry.head)
      entry.head = 0
    }
  }

  private open(entry: Entry, now: number): void {
    entry.phase = "open"
    entry.generation++
    entry.openedAt = now
    entry.reopensAt = now + this.cooldownMs
    entry.probing = false
    this.clearCounts(entry)
  }

  private close(entry: Entry): void {
    entry.phase = "closed"
    entry.generation++
    entry.probing = false
    this.clearCounts(entry)
  }

  private clearCounts(entry: Entry): void {
    entry.consecutive = 0
    entry.times = []
    entry.failed = []
    entry.head = 0
    entry.failures = 0
  }
}

const log = (key: CircuitKey, entry: Entry, transition: Transition): Effect.Effect<void> => {
  if (transition === undefined) return Effect.void
  const annotations = { "sluice.provider": key.provider, "sluice.model": key.model }
  const where = `${key.provider}/${key.model}`
  const until = new Date(entry.reopensAt).toISOString()
  const message = transition === "closed"
    ? `circuit closed for ${where}: the probe succeeded`
    : transition === "opened"
    ? `circuit opened for ${where} until ${until}`
    : `circuit reopened for ${where} until ${until}: the probe failed`
  return Effect.annotateLogs(transition === "closed" ? Effect.logInfo(message) : Effect.logWarning(message), annotations)
}

/** The implementation of `Policy.makeCircuitBreaker`. */
export const makeCircuitBreaker = (options: CircuitBreakerOptions): Effect.Effect<CircuitBreakerService> =>
  Effect.suspend(() => {
    const invalid = validate(options)
    return invalid === undefined ? Effect.succeed(new InMemoryBreaker(options)) : Effect.dieMessage(`circuitBreaker: ${invalid}`)
  })

const validate = (options: CircuitBreakerOptions): string | undefined => {
  const n = options.consecutiveFailures
  if (n !== undefined && !(Number.isInteger(n) && n >= 1)) return "consecutiveFailures must be an integer of at least 1"
  const rate = options.failureRate
  if (rate !== undefined && !(rate > 0 && rate <= 1)) return "failureRate must be in (0, 1]"
  const min = options.minimumCalls
  if (min !== undefined && !(Number.isInteger(min) && min >= 1)) return "minimumCalls must be an integer of at least 1"
  if (Duration.toMillis(Duration.decode(options.cooldown)) <= 0) return "cooldown must be positive"
  return undefined
}

/** The implementation of `Policy.isCircuitFailure`. */
export const isCircuitFailure = (error: LlmError.LlmError): boolean =>
  // Exactly the retryable failures, and garbage on the wire besides.
  error._tag === "DecodeError" || LlmError.isRetryable(error)

/** The implementation of `Policy.circuitBreaker`. */
export const circuitBreaker = (breaker: CircuitBreakerService, options: CircuitBreakerPolicyOptions = {}): Middleware => {
  const isFailure = options.isFailure ?? isCircuitFailure
  const outcomeOf = (exit: Exit.Exit<unknown, unknown>, completed: boolean): CircuitOutcome => {
    if (Exit.isSuccess(exit)) return completed ? "success" : "ignored"
    const failure = Cause.failureOption(exit.cause)
    return Option.isSome(failure) && LlmError.isLlmError(failure.value) && isFailure(failure.value) ? "failure" : "ignored"
  }
  return (self) => {
    const streamWith = (request: ChatRequest, context: PolicyContext) =>
      Stream.suspend(() => {
        const key: CircuitKey = { provider: self.provider, model: request.model }
        let completed = false
        return Stream.unwrapScoped(Effect.map(
          // Acquired uninterruptibly and settled when the stream's scope closes, whatever ends it (the
          // scope's exit is the stream's): a probe can never be left running in the breaker's books.
          Effect.acquireRelease(breaker.acquire(key), (permit, exit) => permit.settle(outcomeOf(exit, completed))),
          () => Stream.concat(self.streamWith(request, context), Stream.execute(Effect.sync(() => (completed = true))))
        ))
      })
    const completeWith = (request: ChatRequest, context: PolicyContext) =>
      Effect.acquireUseRelease(
        breaker.acquire({ provider: self.provider, model: request.model }),
        () => self.completeWith(request, context),
        (permit, exit) => permit.settle(outcomeOf(exit, true))
      )
    return LanguageModel.make({ provider: self.provider, capabilities: self.capabilities, streamWith, completeWith })
  }
}
