import { assert, describe, it } from "@effect/vitest"
import { Adapter, Completion, LanguageModel, LlmError, Policy, StreamEvent } from "@sluice/core"
import { Duration, Effect, Either, Fiber, Option, Schedule, Stream, TestClock } from "effect"
import { consume } from "./support/adapters.js"
import { answer, fake, request, serverError } from "./support/fake.js"

describe("Policy.guard", () => {
  it.effect("an end without Finish is IncompleteStream with the partial", () =>
    Effect.gen(function*() {
      const { error } = yield* consume(Stream.make(StreamEvent.textDelta("Hi ")).pipe(Policy.guard()))
      assert.strictEqual(error?._tag, "IncompleteStream")
      assert.strictEqual(error?.partial?.text, "Hi ")
      const empty = yield* consume(Stream.empty.pipe(Policy.guard()))
      assert.strictEqual(empty.error?._tag, "IncompleteStream")
      assert.isUndefined(empty.error?.partial)
    }))

  it.effect("length and content-filter become failures after every event reached the caller", () =>
    Effect.gen(function*() {
      const length = yield* consume(Stream.fromIterable(answer("cut here", "length")).pipe(Policy.guard({ failOn: ["length"] })))
      assert.strictEqual(length.received.length, 4, "usage after the finish still arrives")
      const error = length.error
      assert.isTrue(error?._tag === "IncompleteStream" && error.ending === "length")
      assert.deepStrictEqual(error?.partial, length.completion)
      const filtered = yield* consume(Stream.fromIterable(answer("no", "content-filter")).pipe(Policy.guard({ failOn: ["content-filter"] })))
      assert.isTrue(filtered.error?._tag === "InvalidRequest" && filtered.error.code === "content-filter")
      const allowed = yield* consume(Stream.fromIterable(answer("fine", "length")).pipe(Policy.guard()))
      assert.isUndefined(allowed.error)
    }))

  it.effect("requireUsage turns a missing usage into MissingUsage", () =>
    Effect.gen(function*() {
      const events = [StreamEvent.textDelta("a"), StreamEvent.finish("stop", "stop")]
      const { error } = yield* consume(Stream.fromIterable(events).pipe(Policy.guard({ requireUsage: true })))
      assert.strictEqual(error?._tag, "MissingUsage")
      assert.strictEqual(error?.partial?.finishReason, "stop")
    }))

  it.effect("a token after the finish is a DecodeError; usage after it is fine", () =>
    Effect.gen(function*() {
      const events = [StreamEvent.textDelta("a"), StreamEvent.finish("stop", "stop"), StreamEvent.textDelta("b")]
      const { error, received } = yield* consume(Stream.fromIterable(events).pipe(Policy.guard()))
      assert.strictEqual(error?._tag, "DecodeError")
      assert.strictEqual(received.length, 2)
      assert.deepStrictEqual(error?.partial, Completion.fromEvents(received))
    }))

  it.effect("applies to a service's stream and complete", () =>
    Effect.gen(function*() {
      const { service } = fake(() => Stream.fromIterable(answer("x", "length")))
      const guarded = service.pipe(Policy.guard({ failOn: ["length"] }))
      const streamed = yield* consume(guarded.stream(request))
      assert.strictEqual(streamed.error?._tag, "IncompleteStream")
      assert.strictEqual(streamed.error?.provider, "fake")
    }))
})

describe("Policy.timeout", () => {
  it.effect("first-token timeout fires when no token comes in time (usage and finish do not count)", () =>
    Effect.gen(function*() {
      const slow = Stream.fromEffect(Effect.as(Effect.sleep("10 seconds"), StreamEvent.textDelta("late")))
      const fiber = yield* consume(slow.pipe(Policy.timeout({ firstToken: "2 seconds" }))).pipe(Effect.fork)
      yield* TestClock.adjust("1999 millis")
      assert.isTrue(Option.isNone(yield* Fiber.poll(fiber)))
      yield* TestClock.adjust("1 millis")
      const { error } = yield* Fiber.join(fiber)
      assert.isTrue(error?._tag === "Timeout" && error.phase === "first-token")
      assert.deepStrictEqual(error?._tag === "Timeout" ? error.after : undefined, Duration.seconds(2))
    }))

  it.effect("idle timeout fires between events and carries the partial", () =>
    Effect.gen(function*() {
      const stalls = Stream.make(StreamEvent.textDelta("one "), StreamEvent.textDelta("two ")).pipe(
        Stream.concat(Stream.fromEffect(Effect.as(Effect.sleep("1 minute"), StreamEvent.textDelta("never"))))
      )
      const fiber = yield* consume(stalls.pipe(Policy.timeout({ firstToken: "1 second", idle: "5 seconds" }))).pipe(Effect.fork)
      yield* TestClock.adjust("5 seconds")
      const { error, received } = yield* Fiber.join(fiber)
      assert.isTrue(error?._tag === "Timeout" && error.phase === "idle")
      assert.strictEqual(error?.partial?.text, "one two ")
      assert.strictEqual(received.length, 2)
    }))

  it.effect("a steady stream never trips the idle timeout", () =>
    Effect.gen(function*() {
      const steady = Stream.fromIterable(answer("a b c d e f")).pipe(Stream.schedule(Schedule.spaced("3 seconds")))
      const fiber = yield* consume(steady.pipe(Policy.timeout({ idle: "4 seconds" }))).pipe(Effect.fork)
      yield* TestClock.adjust("1 minute")
      const { completion, error } = yield* Fiber.join(fiber)
      assert.isUndefined(error)
      assert.strictEqual(completion.text, "a b c d e f")
    }))

  it.effect("total is one deadline over every retry; a retry that cannot fit is not waited for", () =>
    Effect.gen(function*() {
      const { service, state } = fake(() => Stream.fromEffect(Effect.zipRight(Effect.sleep("1 second"), Effect.fail(serverError()))))
      const model = service.pipe(
        Policy.retry({ schedule: Schedule.spaced("1 second"), maxAttempts: 100 }),
        Policy.timeout({ total: "4500 millis" })
      )
      const fiber = yield* consume(model.stream(request)).pipe(Effect.fork)
      yield* TestClock.adjust("4500 millis")
      const { error } = yield* Fiber.join(fiber)
      // attempts at 0-1 s, 2-3 s, then a wait to 4 s and an attempt to 5 s would pass the deadline
      assert.isAtMost(state.calls, 3)
      assert.isTrue(error?._tag === "ServerError" || (error?._tag === "Timeout" && error.phase === "total"))
    }))

  it.effect("total bounds complete too", () =>
    Effect.gen(function*() {
      const { service } = fake(() => Stream.fromEffect(Effect.as(Effect.sleep("1 minute"), StreamEvent.textDelta("x"))))
      const fiber = yield* service.pipe(Policy.timeout({ total: "3 seconds" })).complete(request).pipe(Effect.either, Effect.fork)
      yield* TestClock.adjust("3 seconds")
      const result = yield* Fiber.join(fiber)
      assert.isTrue(Either.isLeft(result) && result.left._tag === "Timeout" && result.left.phase === "total")
    }))
})

/**
 * A service whose `complete` reads its body as an adapter does: a read reported to the `bodyProgress`
 * of its policy context after each pause of `reads` (milliseconds), then the answer.
 */
const readingBody = (reads: ReadonlyArray<number>) =>
  LanguageModel.make({
    provider: "fake",
    capabilities: { continuation: "instruction" },
    streamWith: () => Stream.die("not used"),
    completeWith: (_request, context) =>
      Effect.gen(function*() {
        for (const pause of reads) {
          yield* Effect.sleep(Duration.millis(pause))
          context.bodyProgress?.(100)
        }
        return { text: "done", reasoning: "", toolCalls: [], usage: null, finishReason: "stop" as const }
      })
  })

describe("Policy.timeout on complete (the non-streamed call)", () => {
  const outcome = (fiber: Fiber.RuntimeFiber<Either.Either<Completion.Completion, LlmError.LlmError>>) =>
    Effect.map(Fiber.poll(fiber), Option.map((exit) => exit._tag === "Success" ? exit.value : undefined))
  const phaseOf = (result: Either.Either<Completion.Completion, LlmError.LlmError>) =>
    Either.isLeft(result) && result.left._tag === "Timeout" ? [result.left.phase, Duration.toMillis(result.left.after)] : result

  it.effect("firstToken bounds the wait for the first byte of the answer: a call that never answers times out", () =>
    Effect.gen(function*() {
      const { service } = fake(() => Stream.never)
      const fiber = yield* service.pipe(Policy.timeout({ firstToken: "2 seconds", idle: "10 seconds" })).complete(request).pipe(Effect.either, Effect.fork)
      yield* TestClock.adjust("1999 millis")
      assert.isTrue(Option.isNone(yield* outcome(fiber)))
      yield* TestClock.adjust("1 millis")
      assert.deepStrictEqual(phaseOf(yield* Fiber.join(fiber)), ["first-token", 2000])
    }))

  it.effect("without firstToken, idle bounds the wait for the first byte, as it bounds a stream's wait for its first event", () =>
    Effect.gen(function*() {
      const { service } = fake(() => Stream.never)
      const fiber = yield* service.pipe(Policy.timeout({ idle: "3 seconds" })).complete(request).pipe(Effect.either, Effect.fork)
      yield* TestClock.adjust("2999 millis")
      assert.isTrue(Option.isNone(yield* outcome(fiber)))
      yield* TestClock.adjust("1 millis")
      assert.deepStrictEqual(phaseOf(yield* Fiber.join(fiber)), ["idle", 3000])
    }))

  it.effect("reads of the body reported to the context's bodyProgress: the first is the first token, gaps between them are idle", () =>
    Effect.gen(function*() {
      const bounds = Policy.timeout({ firstToken: "1500 millis", idle: "1 second" })
      // the first read at 1.2 s, then reads 0.9 s apart: the answer, at 3 s, though it took longer than either bound
      const steady = yield* bounds(readingBody([1200, 900, 900])).complete(request).pipe(Effect.either, Effect.fork)
      yield* TestClock.adjust("3 seconds")
      const done = yield* Fiber.join(steady)
      assert.isTrue(Either.isRight(done) && done.right.text === "done")
      // the first read at 1.2 s, then a gap of 2 s: idle, 1 s after the last read
      const stalled = yield* bounds(readingBody([1200, 2000])).complete(request).pipe(Effect.either, Effect.fork)
      yield* TestClock.adjust("2199 millis")
      assert.isTrue(Option.isNone(yield* outcome(stalled)))
      yield* TestClock.adjust("1 millis")
      assert.deepStrictEqual(phaseOf(yield* Fiber.join(stalled)), ["idle", 1000])
      // no read within the first-token bound
      const late = yield* bounds(readingBody([1600])).complete(request).pipe(Effect.either, Effect.fork)
      yield* TestClock.adjust("1500 millis")
      assert.deepStrictEqual(phaseOf(yield* Fiber.join(late)), ["first-token", 1500])
    }))

  it.effect("an outer timeout sees the reads through an inner one; total still bounds every attempt together", () =>
    Effect.gen(function*() {
      const model = readingBody([500, 500, 500, 500, 500, 500]).pipe(
        Policy.timeout({ firstToken: "1 second" }),
        Policy.timeout({ idle: "800 millis", total: "2 seconds" })
      )
      const fiber = yield* model.complete(request).pipe(Effect.either, Effect.fork)
      yield* TestClock.adjust("1999 millis")
      assert.isTrue(Option.isNone(yield* outcome(fiber)))
      yield* TestClock.adjust("1 millis")
      assert.deepStrictEqual(phaseOf(yield* Fiber.join(fiber)), ["total", 2000])
    }))
})

/**
 * A service that honours the policy context, as an adapter does: each word comes after a pause of `gapMs` that ends when the
 * deadline's `abort` in its policy context fires, and is reported to its `progress`; `aborted` records the
 * failures the deadline gave its waits.
 */
const awareWords = (words: ReadonlyArray<string>, gapMs: number) => {
  const aborted: Array<LlmError.LlmError> = []
  const service = LanguageModel.make({
    provider: "fake",
    capabilities: { continuation: "instruction" },
    streamWith: (_request, context) => {
      const word = (text: string) =>
        Adapter.abortableSleep(context, Duration.millis(gapMs)).pipe(
          Effect.tapError((error) => Effect.sync(() => aborted.push(error))),
          Effect.as(StreamEvent.textDelta(text)),
          Effect.tap((event) => Effect.sync(() => context.progress?.([event])))
        )
      return Stream.fromIterable(words).pipe(Stream.mapEffect(word), Stream.concat(Stream.make(StreamEvent.finish("stop", "stop"))))
    },
    completeWith: () => Effect.die("not used")
  })
  return { service, aborted }
}

describe("Policy.timeout over a service that honours the policy context (no race per read)", () => {
  it.effect("the deadline aborts the wait in flight, and the stream fails with the timeout", () =>
    Effect.gen(function*() {
      const { aborted, service } = awareWords(["a ", "b "], 60_000)
      const fiber = yield* consume(service.pipe(Policy.timeout({ firstToken: "2 seconds" })).stream(request)).pipe(Effect.fork)
      yield* TestClock.adjust("2 seconds")
      const { error } = yield* Fiber.join(fiber)
      assert.isTrue(error?._tag === "Timeout" && error.phase === "first-token")
      assert.strictEqual(aborted.length, 1)
      assert.strictEqual(aborted[0]._tag, "Timeout")
    }))

  it.effect("reported events reset the idle clock; a longer gap trips it", () =>
    Effect.gen(function*() {
      const steady = awareWords(["a ", "b ", "c ", "d "], 1000)
      const ok = yield* consume(steady.service.pipe(Policy.timeout({ idle: "1500 millis" })).stream(request)).pipe(Effect.fork)
      yield* TestClock.adjust("5 seconds")
      const done = yield* Fiber.join(ok)
      assert.isUndefined(done.error)
      assert.strictEqual(done.completion.text, "a b c d ")
      const slow = awareWords(["a ", "b "], 2000)
      const late = yield* consume(slow.service.pipe(Policy.timeout({ idle: "1500 millis" })).stream(request)).pipe(Effect.fork)
      yield* TestClock.adjust("10 seconds")
      const timedOut = yield* Fiber.join(late)
      assert.isTrue(timedOut.error?._tag === "Timeout" && timedOut.error.phase === "idle")
    }))

  it.effect("an outer deadline reaches a wait through an inner timeout and a retry's pause", () =>
    Effect.gen(function*() {
      // Every attempt fails at once: the retry pauses 10 s, longer than the total deadline allows… unless
      // the pause could not be cut, which is what the deadline must do.
      let calls = 0
      const failing = LanguageModel.make({
        provider: "fake",
        capabilities: { continuation: "instruction" },
        streamWith: () => Stream.suspend(() => {
          calls++
          return Stream.fail(serverError())
        }),
        completeWith: () => Effect.die("not used")
      })
      const fiber = yield* consume(
        failing.pipe(Policy.timeout({ idle: "1 minute" }), Policy.retry({ schedule: Schedule.spaced("10 seconds") }), Policy.timeout({ total: "25 seconds" }))
          .stream(request)
      ).pipe(Effect.fork)
      yield* TestClock.adjust("25 seconds")
      const { error } = yield* Fiber.join(fiber)
      // Attempts at 0 s, 10 s and 20 s; the pause after the third would end past the deadline.
      assert.strictEqual(calls, 3)
      assert.isTrue(error?._tag === "ServerError" || (error?._tag === "Timeout" && error.phase === "total"))
    }))

  it.effect("a wait registered after the deadline passed is aborted at once", () =>
    Effect.gen(function*() {
      let endedAt: number | undefined
      // 3 s of work that cannot be cut short (nothing registered when the deadline passes at 2 s), then a
      // 60 s wait that registers: it must end at once, not a minute later.
      const service = LanguageModel.make({
        provider: "fake",
        capabilities: { continuation: "instruction" },
        streamWith: (_request, context) =>
          Stream.fromEffect(Effect.gen(function*() {
            yield* Effect.sleep("3 seconds")
            yield* Adapter.abortableSleep(context, Duration.minutes(1)).pipe(
              Effect.ensuring(Effect.flatMap(Effect.clock, (clock) => Effect.sync(() => (endedAt = clock.unsafeCurrentTimeMillis()))))
            )
            return StreamEvent.textDelta("late")
          })),
        completeWith: () => Effect.die("not used")
      })
      const fiber = yield* consume(service.pipe(Policy.timeout({ total: "2 seconds" })).stream(request)).pipe(Effect.fork)
      yield* TestClock.adjust("3 seconds")
      const { error, received } = yield* Fiber.join(fiber)
      assert.isTrue(error?._tag === "Timeout" && error.phase === "total")
      assert.strictEqual(endedAt, 3000)
      assert.strictEqual(received.length, 0)
    }))
})

describe("Policy.retry", () => {
  it.effect("retries retryable failures before the first event, then succeeds", () =>
    Effect.gen(function*() {
      const { service, state } = fake((call) => (call < 3 ? Stream.fail(serverError()) : Stream.fromIterable(answer("ok"))))
      const fiber = yield* consume(service.pipe(Policy.retry()).stream(request)).pipe(Effect.fork)
      yield* TestClock.adjust("1 minute")
      const { completion, error } = yield* Fiber.join(fiber)
      assert.isUndefined(error)
      assert.strictEqual(completion.text, "ok")
      assert.strictEqual(state.calls, 3)
    }))

  it.effect("never retries a non-retryable error", () =>
    Effect.gen(function*() {
      const auth = new LlmError.AuthenticationFailed({ provider: "fake", model: "m", status: 401 })
      const { service, state } = fake(() => Stream.fail(auth))
      const { error } = yield* consume(service.pipe(Policy.retry()).stream(request))
      assert.strictEqual(error?._tag, "AuthenticationFailed")
      assert.strictEqual(state.calls, 1)
    }))

  it.effect("has a hard cap on attempts whatever the schedule", () =>
    Effect.gen(function*() {
      const { service, state } = fake(() => Stream.fail(serverError()))
      const fiber = yield* consume(service.pipe(Policy.retry({ schedule: Schedule.forever, maxAttempts: 5 })).stream(request)).pipe(Effect.fork)
      yield* TestClock.adjust("1 minute")
      const { error } = yield* Fiber.join(fiber)
      assert.strictEqual(error?._tag, "ServerError")
      assert.strictEqual(state.calls, 5)
    }))

  it.effect("waits the server's retryAfter when it is longer than the schedule's delay", () =>
    Effect.gen(function*() {
      const limited = new LlmError.RateLimited({ provider: "fake", model: "m", retryAfter: Duration.seconds(20) })
      const { service, state } = fake((call) => (call === 1 ? Stream.fail(limited) : Stream.fromIterable(answer("ok"))))
      const fiber = yield* consume(service.pipe(Policy.retry({ schedule: Schedule.spaced("10 millis") })).stream(request)).pipe(Effect.fork)
      yield* TestClock.adjust("19 seconds")
      assert.strictEqual(state.calls, 1)
      yield* TestClock.adjust("1 second")
      const { error } = yield* Fiber.join(fiber)
      assert.isUndefined(error)
      assert.strictEqual(state.calls, 2)
    }))

  it.effect("fails at once when retryAfter does not fit the total deadline", () =>
    Effect.gen(function*() {
      const limited = new LlmError.RateLimited({ provider: "fake", model: "m", retryAfter: Duration.seconds(30) })
      const { service, state } = fake(() => Stream.fail(limited))
      const model = service.pipe(Policy.retry(), Policy.timeout({ total: "10 seconds" }))
      const { error } = yield* consume(model.stream(request))
      assert.strictEqual(error?._tag, "RateLimited")
      assert.strictEqual(state.calls, 1)
    }))

  it.effect("a schedule per error tag", () =>
    Effect.gen(function*() {
      const limited = new LlmError.RateLimited({ provider: "fake", model: "m" })
      const { service, state } = fake((call) => Stream.fail(call <= 4 ? limited : serverError()))
      const model = service.pipe(
        Policy.retry({
          maxAttempts: 10,
          schedules: { RateLimited: Schedule.recurs(5), ServerError: Schedule.recurs(1) }
        })
      )
      const fiber = yield* consume(model.stream(request)).pipe(Effect.fork)
      yield* TestClock.adjust("1 minute")
      const { error } = yield* Fiber.join(fiber)
      assert.strictEqual(error?._tag, "ServerError")
      // 4 rate-limited attempts (patient), then 2 server errors (one retry)
      assert.strictEqual(state.calls, 6)
    }))

  it.effect("does not retry once events reached the caller", () =>
    Effect.gen(function*() {
      const cut = Stream.make(StreamEvent.textDelta("part")).pipe(Stream.concat(Stream.fail(serverError())))
      const { service, state } = fake(() => cut)
      const { error, received } = yield* consume(service.pipe(Policy.retry()).stream(request))
      assert.strictEqual(error?._tag, "ServerError")
      assert.strictEqual(state.calls, 1)
      assert.strictEqual(received.length, 1)
    }))

  it.effect("retries complete the same way", () =>
    Effect.gen(function*() {
      const { service, state } = fake((call) => (call === 1 ? Stream.fail(serverError()) : Stream.fromIterable(answer("ok"))))
      const fiber = yield* service.pipe(Policy.retry()).complete(request).pipe(Effect.fork)
      yield* TestClock.adjust("1 minute")
      const completion = yield* Fiber.join(fiber)
      assert.strictEqual(completion.text, "ok")
      assert.strictEqual(state.calls, 2)
    }))
})

describe("Policy.failover", () => {
  it.effect("moves on after a retryable failure before the first event; at most one run per route", () =>
    Effect.gen(function*() {
      const primary = fake(() => Stream.fail(serverError("primary")), { provider: "primary" })
      const secondary = fake(() => Stream.fail(serverError("secondary")), { provider: "secondary" })
      const third = fake(() => Stream.fromIterable(answer("from third")), { provider: "third" })
      const model = primary.service.pipe(Policy.failover([{ service: secondary.service }, { service: third.service, model: "big" }]))
      const { completion, error } = yield* consume(model.stream(request))
      assert.isUndefined(error)
      assert.strictEqual(completion.text, "from third")
      assert.deepStrictEqual([primary.state.calls, secondary.state.calls, third.state.calls], [1, 1, 1])
      assert.strictEqual(third.state.requests[0].model, "big")
    }))

  it.effect("a prompt too long goes straight to the next (larger) model, without retries", () =>
    Effect.gen(function*() {
      const tooLong = new LlmError.ContextLengthExceeded({ provider: "fake", model: "small" })
      const { service, state } = fake((_, req) => (req.model === "small" ? Stream.fail(tooLong) : Stream.fromIterable(answer("fits"))))
      const model = service.pipe(Policy.failover([{ model: "large" }], { retry: { maxAttempts: 5 } }))
      const { completion } = yield* consume(model.stream({ ...request, model: "small" }))
      assert.strictEqual(completion.text, "fits")
      assert.strictEqual(state.calls, 2)
    }))

  it.effect("a timed-out route is left at once; other retryable errors are retried on the route first", () =>
    Effect.gen(function*() {
      const timeout = new LlmError.Timeout({ provider: "fake", model: "a", phase: "first-token", after: Duration.seconds(1) })
      const a = fake(() => Stream.fail(timeout))
      const b = fake((call) => (call === 1 ? Stream.fail(serverError()) : Stream.fromIterable(answer("b answers"))))
      const model = a.service.pipe(Policy.failover([{ service: b.service }], { retry: { schedule: Schedule.spaced("1 second") } }))
      const fiber = yield* consume(model.stream(request)).pipe(Effect.fork)
      yield* TestClock.adjust("1 minute")
      const { completion } = yield* Fiber.join(fiber)
      assert.strictEqual(completion.text, "b answers")
      assert.deepStrictEqual([a.state.calls, b.state.calls], [1, 2])
    }))

  it.effect("does not fail over after output reached the caller, nor on a broken request", () =>
    Effect.gen(function*() {
      const cut = Stream.make(StreamEvent.textDelta("half")).pipe(Stream.concat(Stream.fail(serverError())))
      const a = fake(() => cut)
      const b = fake(() => Stream.fromIterable(answer("never")))
      const after = yield* consume(a.service.pipe(Policy.failover([{ service: b.service }])).stream(request))
      assert.strictEqual(after.error?._tag, "ServerError")
      assert.strictEqual(b.state.calls, 0)
      const invalid = new LlmError.InvalidRequest({ provider: "fake", model: "m", status: 400, providerMessage: "bad temperature" })
      const c = fake(() => Stream.fail(invalid))
      const broken = yield* consume(c.service.pipe(Policy.failover([{ service: b.service }])).stream(request))
      assert.strictEqual(broken.error?._tag, "InvalidRequest")
      assert.strictEqual(b.state.calls, 0)
    }))

  it.effect("when every breaker is open, fails with the earliest reopen time", () =>
    Effect.gen(function*() {
      const open = (at: number) => fake(() => Stream.fail(new LlmError.CircuitOpen({ provider: "fake", model: "m", reopensAt: at })))
      const model = open(3000).service.pipe(Policy.failover([{ service: open(1000).service }, { service: open(2000).service }]))
      const { error } = yield* consume(model.stream(request))
      assert.isTrue(error?._tag === "CircuitOpen" && error.reopensAt === 1000)
    }))
})

describe("Policy.continuation", () => {
  const full = "The quick brown fox jumps over the lazy dog and keeps on running."
  /** A service that answers `full` but cuts the first `cuts` answers after `at` words; it continues whatever prefix it is given. */
  const cutting = (cuts: number, at: number, mode: "prefill" | "instruction") =>
    fake((call, req) => {
      const last = req.messages[req.messages.length - 1]
      const prefix = mode === "prefill"
        ? (last.role === "assistant" ? last.content : "")
        : (req.messages.length >= 2 && req.messages[req.messages.length - 2].role === "assistant" ? req.messages[req.messages.length - 2].content : "")
      const rest = full.startsWith(prefix) ? full.slice(prefix.length) : full
      const events = answer(rest)
      const words = events.filter((e) => e._tag === "TextDelta")
      if (call <= cuts) return Stream.fromIterable(words.slice(0, at)).pipe(Stream.concat(Stream.fail(serverError())))
      return Stream.fromIterable(events)
    }, { continuation: mode })

  for (const mode of ["prefill", "instruction"] as const) {
    it.effect(`splices the rest on so the caller sees the exact text once (${mode})`, () =>
      Effect.gen(function*() {
        const { service, state } = cutting(2, 3, mode)
        const { completion, error } = yield* consume(service.pipe(Policy.continuation()).stream(request))
        assert.isUndefined(error)
        assert.strictEqual(completion.text, full)
        assert.strictEqual(state.calls, 3)
        const last = state.requests[1].messages
        if (mode === "prefill") assert.deepInclude(last[last.length - 1], { role: "assistant", prefix: true })
        else assert.strictEqual(last[last.length - 1].role, "user")
      }))
  }

  it.effect("removes text the continuation repeats", () =>
    Effect.gen(function*() {
      const { service } = fake((call) =>
        call === 1
          ? Stream.make(StreamEvent.textDelta("Once upon a time there "), StreamEvent.textDelta("was a ")).pipe(Stream.concat(Stream.fail(serverError())))
          : Stream.fromIterable([StreamEvent.textDelta("time there was a king."), StreamEvent.finish("stop", "stop")])
      )
      const { completion } = yield* consume(service.pipe(Policy.continuation()).stream(request))
      assert.strictEqual(completion.text, "Once upon a time there was a king.")
    }))

  it.effect("has a hard cap, and the final partial is everything received", () =>
    Effect.gen(function*() {
      const { service, state } = cutting(100, 2, "prefill")
      const { completion, error } = yield* consume(service.pipe(Policy.continuation({ maxContinuations: 2 })).stream(request))
      assert.strictEqual(error?._tag, "ServerError")
      assert.strictEqual(state.calls, 3)
      assert.deepStrictEqual(error?.partial, completion)
      assert.isTrue(full.startsWith(completion.text) && completion.text.length > 0)
    }))

  it.effect("never continues while a tool call is in flight", () =>
    Effect.gen(function*() {
      const { service, state } = fake(() =>
        Stream.make(StreamEvent.textDelta("Let me check. "), StreamEvent.toolCallDelta({ index: 0, id: "c", name: "f", argumentsDelta: "{\"a\":" })).pipe(
          Stream.concat(Stream.fail(serverError()))
        )
      )
      const { error } = yield* consume(service.pipe(Policy.continuation()).stream(request))
      assert.strictEqual(error?._tag, "ServerError")
      assert.strictEqual(error?.partial?.toolCalls.length, 1)
      assert.strictEqual(state.calls, 1)
    }))
})

describe("Policy.hedge", () => {
  const after = (delay: Duration.DurationInput, text: string) => Stream.fromEffect(Effect.sleep(delay)).pipe(Stream.drain, Stream.concat(Stream.fromIterable(answer(text))))

  it.effect("starts the next route when the first token is late; the first to emit wins, the loser is interrupted", () =>
    Effect.gen(function*() {
      let slowInterrupted = false
      const slow = fake(() => after("10 seconds", "slow").pipe(Stream.onEnd(Effect.void), Stream.ensuring(Effect.sync(() => {
        slowInterrupted = true
      }))))
      const fast = fake(() => after("1 second", "fast"))
      const fiber = yield* consume(slow.service.pipe(Policy.hedge({ after: "2 seconds", routes: [{ service: fast.service }] })).stream(request)).pipe(Effect.fork)
      yield* TestClock.adjust("2 seconds")
      assert.strictEqual(fast.state.calls, 1)
      yield* TestClock.adjust("1 second")
      const { completion, error } = yield* Fiber.join(fiber)
      assert.isUndefined(error)
      assert.strictEqual(completion.text, "fast")
      assert.isTrue(slowInterrupted)
    }))

  it.effect("does not hedge when the first token is on time", () =>
    Effect.gen(function*() {
      const quick = fake(() => after("1 second", "quick"))
      const spare = fake(() => Stream.fromIterable(answer("spare")))
      const fiber = yield* consume(quick.service.pipe(Policy.hedge({ after: "2 seconds", routes: [{ service: spare.service }] })).stream(request)).pipe(Effect.fork)
      yield* TestClock.adjust("10 seconds")
      const { completion } = yield* Fiber.join(fiber)
      assert.strictEqual(completion.text, "quick")
      assert.strictEqual(spare.state.calls, 0)
    }))

  it.effect("a route that fails starts the next at once; all failing gives the last error", () =>
    Effect.gen(function*() {
      const failing = fake(() => Stream.fail(serverError()))
      const spare = fake(() => Stream.fromIterable(answer("spare")))
      const result = yield* consume(failing.service.pipe(Policy.hedge({ after: "1 hour", routes: [{ service: spare.service }] })).stream(request))
      assert.strictEqual(result.completion.text, "spare")
      const both = yield* consume(failing.service.pipe(Policy.hedge({ after: "1 hour", routes: [{ service: failing.service }] })).stream(request))
      assert.strictEqual(both.error?._tag, "ServerError")
    }))
})

describe("LanguageModel.fromStream", () => {
  it.effect("a span the caller opens inside a service of its own parents the service it calls, under a policy", () =>
    Effect.gen(function*() {
      const seen: Array<string | undefined> = []
      // A service that honours the record itself, as an adapter does: it reports the span it was handed.
      const inner = LanguageModel.make({
        provider: "inner",
        streamWith: (_req, context) => {
          seen.push(context.span?._tag === "Span" ? context.span.name : undefined)
          return Stream.fromIterable(answer("ok"))
        },
        completeWith: () => Completion.fromStream(Stream.fromIterable(answer("ok")))
      })
      const outer = LanguageModel.fromStream({
        provider: "outer",
        stream: (req) => inner.stream(req).pipe(Stream.withSpan("mine")),
        complete: (req) => inner.complete(req)
      })
      const completion = yield* Completion.fromStream(outer.pipe(Policy.timeout({ total: "1 minute" })).stream(request)).pipe(
        Effect.withSpan("caller")
      )
      assert.strictEqual(completion.text, "ok")
      assert.deepStrictEqual(seen, ["mine"])
    }))
})

describe("Policy attempts", () => {
  it.effect("retry and failover attempts are recorded with their kind", () =>
    Effect.gen(function*() {
      const attempts: Array<Policy.Attempt> = []
      // Adapters record each request; these fakes do the same.
      const recorded = (svc: LanguageModel.Service) =>
        LanguageModel.fromStream({ ...svc, stream: (req) => Adapter.recordAttempt(svc.stream(req), { provider: svc.provider, model: req.model }) })
      const ra = recorded(fake(() => Stream.fail(serverError()), { provider: "a" }).service)
      const rb = recorded(fake(() => Stream.fromIterable(answer("b")), { provider: "b" }).service)
      const composed = Policy.failover([{ service: rb }], { retry: { maxAttempts: 2, schedule: Schedule.spaced("1 second") } })(ra)
      const fiber = yield* composed.stream(request).pipe(
        Stream.runDrain,
        Effect.provideService(Policy.Attempts, { record: (attempt) => attempts.push(attempt) }),
        Effect.fork
      )
      yield* TestClock.adjust("1 minute")
      yield* Fiber.join(fiber)
      assert.deepStrictEqual(attempts.map((x) => [x.provider, x.kind, x.error?._tag]), [
        ["a", "initial", "ServerError"],
        ["a", "retry", "ServerError"],
        ["b", "failover", undefined]
      ])
      assert.deepStrictEqual(attempts[2].usage, { inputTokens: 3, outputTokens: 4, totalTokens: 7 })
    }))

  it.effect("a complete of your own sees the policy context in its fiber: its calls are recorded with their kind", () =>
    Effect.gen(function*() {
      const attempts: Array<Policy.Attempt> = []
      const svc = fake((call) => (call === 1 ? Stream.fail(serverError()) : Stream.fromIterable(answer("ok")))).service
      const recorded = LanguageModel.fromStream({
        ...svc,
        complete: (req) => Adapter.recordCall(svc.complete(req), { provider: svc.provider, model: req.model })
      })
      const fiber = yield* recorded.pipe(Policy.retry({ schedule: Schedule.spaced("1 second") })).complete(request).pipe(
        Effect.provideService(Policy.Attempts, { record: (attempt) => attempts.push(attempt) }),
        Effect.fork
      )
      yield* TestClock.adjust("1 minute")
      const completion = yield* Fiber.join(fiber)
      assert.strictEqual(completion.text, "ok")
      assert.deepStrictEqual(attempts.map((x) => [x.kind, x.error?._tag]), [["initial", "ServerError"], ["retry", undefined]])
    }))
})
