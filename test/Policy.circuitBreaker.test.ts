/**
 * `Policy.circuitBreaker`: a provider/model that keeps failing is skipped until a cooldown ends, then probed once.
 */
import { assert, describe, it, layer } from "@effect/vitest"
import { ChatRequest, Completion, LanguageModel, LlmError, Policy, StreamEvent } from "@sluice/core"
import { Emulator, Fault, Scenario } from "@sluice/emulator"
import { Deferred, Duration, Effect, Either, Fiber, Stream, TestClock } from "effect"
import { modelFor as openAiModel, request, TestLayer } from "./support/onEmulator.js"

// ---------------------------------------------------------------------------------------------
// helpers

const finish = StreamEvent.finish("stop", "stop")
const ok = Stream.make(StreamEvent.textDelta("ok"), finish)
const serverError = (model: string) => new LlmError.ServerError({ provider: "fake", model, status: 503 })

/** What the fake provider does on the next call. */
type Behaviour = Stream.Stream<StreamEvent.StreamEvent, LlmError.LlmError>

/** A provider that plays the queued behaviours (then succeeds), counting the requests it was asked for. */
const fakeProvider = () => {
  const queue: Array<Behaviour> = []
  const calls: Array<string> = []
  const service = LanguageModel.fromStream({
    provider: "fake",
    stream: (request) =>
      Stream.suspend(() => {
        calls.push(request.model)
        return queue.shift() ?? ok
      }),
    complete: (request) =>
      Effect.suspend(() => {
        calls.push(request.model)
        return Completion.fromStream(queue.shift() ?? ok)
      })
  })
  return { service, queue, calls }
}

const requestFor = (model: string) => ChatRequest.make({ model, messages: [ChatRequest.user("hi")] })

const outcome = (service: LanguageModel.Service, model = "m") =>
  Effect.either(Completion.fromStream(service.stream(requestFor(model))))

const tagOf = (result: Either.Either<unknown, LlmError.LlmError>) => (Either.isLeft(result) ? result.left._tag : "ok")

describe("Policy.circuitBreaker", () => {
  it.effect("opens after N consecutive failures and then fails fast without a request, naming the reopen time", () =>
    Effect.gen(function*() {
      const breaker = yield* Policy.makeCircuitBreaker({ consecutiveFailures: 3, cooldown: "30 seconds" })
      const fake = fakeProvider()
      const model = fake.service.pipe(Policy.circuitBreaker(breaker))
      yield* TestClock.adjust("1000 millis")
      fake.queue.push(Stream.fail(serverError("m")), Stream.fail(serverError("m")), Stream.fail(serverError("m")))
      for (let i = 0; i < 3; i++) assert.strictEqual(tagOf(yield* outcome(model)), "ServerError")
      assert.strictEqual(fake.calls.length, 3)
      const open = yield* outcome(model)
      assert.isTrue(Either.isLeft(open))
      if (Either.isLeft(open)) {
        assert.strictEqual(open.left._tag, "CircuitOpen")
        if (open.left._tag === "CircuitOpen") assert.strictEqual(open.left.reopensAt, 1000 + 30_000)
        assert.strictEqual(open.left.provider, "fake")
        assert.strictEqual(open.left.model, "m")
      }
      // complete fails fast too, and no request was made.
      assert.strictEqual(tagOf(yield* Effect.either(model.complete(requestFor("m")))), "CircuitOpen")
      assert.strictEqual(fake.calls.length, 3)
      assert.deepStrictEqual(yield* breaker.state({ provider: "fake", model: "m" }), {
        _tag: "Open",
        openedAt: 1000,
        reopensAt: 31_000
      })
      // Keyed per model: another model of the same provider is unaffected.
      assert.strictEqual(tagOf(yield* outcome(model, "other")), "ok")
    }))

  it.effect("after the cooldown exactly one probe goes through; its success closes the breaker", () =>
    Effect.gen(function*() {
      const breaker = yield* Policy.makeCircuitBreaker({ consecutiveFailures: 2, cooldown: "10 seconds" })
      const fake = fakeProvider()
      const model = fake.service.pipe(Policy.circuitBreaker(breaker))
      fake.queue.push(Stream.fail(serverError("m")), Stream.fail(serverError("m")))
      yield* outcome(model)
      yield* outcome(model)
      yield* TestClock.adjust("9999 millis")
      assert.strictEqual(tagOf(yield* outcome(model)), "CircuitOpen")
      yield* TestClock.adjust("1 millis")
      assert.deepStrictEqual(yield* breaker.state({ provider: "fake", model: "m" }), { _tag: "HalfOpen", probing: false })
      // The probe holds until released; meanwhile every other call fails fast.
      const started = yield* Deferred.make<void>()
      const release = yield* Deferred.make<void>()
      fake.queue.push(Stream.concat(
        Stream.fromEffect(Effect.zipRight(Deferred.succeed(started, undefined), Deferred.await(release))).pipe(Stream.drain),
        ok
      ))
      const probe = yield* Effect.fork(outcome(model))
      yield* Deferred.await(started)
      assert.deepStrictEqual(yield* breaker.state({ provider: "fake", model: "m" }), { _tag: "HalfOpen", probing: true })
      assert.strictEqual(tagOf(yield* outcome(model)), "CircuitOpen")
      assert.strictEqual(tagOf(yield* Effect.either(model.complete(requestFor("m")))), "CircuitOpen")
      yield* Deferred.succeed(release, undefined)
      assert.strictEqual(tagOf(yield* Fiber.join(probe)), "ok")
      assert.deepStrictEqual(yield* breaker.state({ provider: "fake", model: "m" }), {
        _tag: "Closed",
        consecutiveFailures: 0,
        calls: 0,
        failures: 0
      })
      assert.strictEqual(tagOf(yield* outcome(model)), "ok")
      assert.strictEqual(fake.calls.length, 4)
    }))

  it.effect("a failed probe reopens for another cooldown", () =>
    Effect.gen(function*() {
      const breaker = yield* Policy.makeCircuitBreaker({ consecutiveFailures: 1, cooldown: "5 seconds" })
      const fake = fakeProvider()
      const model = fake.service.pipe(Policy.circuitBreaker(breaker))
      fake.queue.push(Stream.fail(serverError("m")), Stream.fail(serverError("m")))
      yield* outcome(model)
      yield* TestClock.adjust("5 seconds")
      assert.strictEqual(tagOf(yield* outcome(model)), "ServerError")
      const state = yield* breaker.state({ provider: "fake", model: "m" })
      assert.deepStrictEqual(state, { _tag: "Open", openedAt: 5000, reopensAt: 10_000 })
      assert.strictEqual(tagOf(yield* outcome(model)), "CircuitOpen")
      assert.strictEqual(fake.calls.length, 2)
    }))

  it.effect("an interrupted probe, or one whose caller stopped reading, leaves the way free for the next probe", () =>
    Effect.gen(function*() {
      const breaker = yield* Policy.makeCircuitBreaker({ consecutiveFailures: 1, cooldown: "1 second" })
      const fake = fakeProvider()
      const model = fake.service.pipe(Policy.circuitBreaker(breaker))
      const key = { provider: "fake", model: "m" }
      fake.queue.push(Stream.fail(serverError("m")))
      yield* outcome(model)
      yield* TestClock.adjust("1 second")
      // A probe that hangs after its first event, interrupted by its caller.
      const first = yield* Deferred.make<void>()
      fake.queue.push(Stream.concat(Stream.make(StreamEvent.textDelta("a")), Stream.never))
      const probe = yield* model.stream(requestFor("m")).pipe(Stream.runForEach(() => Deferred.succeed(first, undefined)), Effect.fork)
      yield* Deferred.await(first)
      assert.deepStrictEqual(yield* breaker.state(key), { _tag: "HalfOpen", probing: true })
      yield* Fiber.interrupt(probe)
      assert.deepStrictEqual(yield* breaker.state(key), { _tag: "HalfOpen", probing: false })
      // A probe whose caller takes one event and stops: no verdict either.
      fake.queue.push(Stream.make(StreamEvent.textDelta("a"), StreamEvent.textDelta("b"), finish))
      yield* model.stream(requestFor("m")).pipe(Stream.take(1), Stream.runDrain)
      assert.deepStrictEqual(yield* breaker.state(key), { _tag: "HalfOpen", probing: false })
      // The next probe decides.
      assert.strictEqual(tagOf(yield* outcome(model)), "ok")
      assert.strictEqual((yield* breaker.state(key))._tag, "Closed")
    }))

  it.effect("caller errors do not count; a success resets the run of failures", () =>
    Effect.gen(function*() {
      const breaker = yield* Policy.makeCircuitBreaker({ consecutiveFailures: 2, cooldown: "1 minute" })
      const fake = fakeProvider()
      const model = fake.service.pipe(Policy.circuitBreaker(breaker))
      const key = { provider: "fake", model: "m" }
      fake.queue.push(
        Stream.fail(serverError("m")),
        Stream.fail(new LlmError.InvalidRequest({ provider: "fake", model: "m", status: 400 })),
        Stream.fail(new LlmError.ContextLengthExceeded({ provider: "fake", model: "m" })),
        Stream.fail(new LlmError.AuthenticationFailed({ provider: "fake", model: "m", status: 401 })),
        ok,
        Stream.fail(new LlmError.Timeout({ provider: "fake", model: "m", phase: "idle", after: Duration.seconds(1) })),
        Stream.concat(Stream.make(StreamEvent.textDelta("partial")), Stream.fail(new LlmError.IncompleteStream({ provider: "fake", model: "m", ending: "eof" })))
      )
      yield* outcome(model)
      assert.deepInclude(yield* breaker.state(key), { _tag: "Closed", consecutiveFailures: 1 })
      for (let i = 0; i < 3; i++) yield* outcome(model)
      assert.deepInclude(yield* breaker.state(key), { _tag: "Closed", consecutiveFailures: 1 })
      yield* outcome(model)
      assert.deepInclude(yield* breaker.state(key), { _tag: "Closed", consecutiveFailures: 0 })
      yield* outcome(model)
      yield* outcome(model)
      assert.strictEqual((yield* breaker.state(key))._tag, "Open")
      // Which errors count, by default.
      assert.isFalse(Policy.isCircuitFailure(new LlmError.MissingUsage({ provider: "p", model: "m" })))
      assert.isTrue(Policy.isCircuitFailure(new LlmError.RateLimited({ provider: "p", model: "m" })))
      assert.isFalse(
        Policy.isCircuitFailure(new LlmError.ProviderStreamError({ provider: "p", model: "m", providerMessage: "bad", retryable: false }))
      )
    }))

  it.effect("opens on the failure rate over the window, with at least minimumCalls; old calls slide out", () =>
    Effect.gen(function*() {
      const breaker = yield* Policy.makeCircuitBreaker({
        consecutiveFailures: 100,
        failureRate: 0.5,
        minimumCalls: 4,
        window: "10 seconds",
        cooldown: "1 minute"
      })
      const fake = fakeProvider()
      const model = fake.service.pipe(Policy.circuitBreaker(breaker))
      const key = { provider: "fake", model: "m" }
      const fail = () => fake.queue.push(Stream.fail(serverError("m")))
      // F S F: two of three failed, but fewer than 4 calls.
      fail()
      yield* outcome(model)
      yield* outcome(model)
      fail()
      yield* outcome(model)
      assert.deepStrictEqual(yield* breaker.state(key), { _tag: "Closed", consecutiveFailures: 1, calls: 3, failures: 2 })
      // Eleven seconds later those have left the window.
      yield* TestClock.adjust("11 seconds")
      assert.deepStrictEqual(yield* breaker.state(key), { _tag: "Closed", consecutiveFailures: 1, calls: 0, failures: 0 })
      for (let i = 0; i < 3; i++) yield* outcome(model)
      fail()
      yield* outcome(model)
      assert.deepInclude(yield* breaker.state(key), { _tag: "Closed", calls: 4, failures: 1 })
      fail()
      yield* outcome(model)
      fail()
      yield* outcome(model)
      // 3 failures of 6 calls: 50 %.
      assert.strictEqual((yield* breaker.state(key))._tag, "Open")
    }))

  it.effect("complete counts like stream; the breaker is a shareable service (layer)", () =>
    Effect.gen(function*() {
      const breaker = yield* Policy.CircuitBreaker
      const fake = fakeProvider()
      const model = fake.service.pipe(Policy.circuitBreaker(breaker))
      fake.queue.push(Stream.fail(serverError("m")), Stream.fail(serverError("m")))
      assert.strictEqual(tagOf(yield* Effect.either(model.complete(requestFor("m")))), "ServerError")
      assert.strictEqual(tagOf(yield* Effect.either(model.complete(requestFor("m")))), "ServerError")
      assert.strictEqual(tagOf(yield* Effect.either(model.complete(requestFor("m")))), "CircuitOpen")
      // A second service wrapped with the same breaker sees the same state.
      const again = fakeProvider().service.pipe(Policy.circuitBreaker(breaker))
      assert.strictEqual(tagOf(yield* outcome(again)), "CircuitOpen")
    }).pipe(Effect.provide(Policy.CircuitBreaker.layer({ consecutiveFailures: 2, cooldown: "1 minute" }))))
})

// ---------------------------------------------------------------------------------------------
// over HTTP

const modelFor = (scenario: Scenario.Scenario, breaker: Policy.CircuitBreakerService) =>
  openAiModel(scenario).pipe(Effect.map((model) => model.pipe(Policy.circuitBreaker(breaker))))

const requestsWith = (scenario: Scenario.Scenario) =>
  Effect.map(Emulator.requests, (records) => records.filter((r) => r.scenarioKey === Scenario.headers(scenario)[Scenario.HeaderName]))

layer(TestLayer, { excludeTestServices: true })("Policy.circuitBreaker over HTTP", (it) => {
  it.effect("opens after three 503s, skips the provider, and closes after the cooldown with one probe", () =>
    Effect.gen(function*() {
      const scenario: Scenario.Scenario = { responseId: "breaker-503", faults: [Fault.status({ status: 503, times: 3 })] }
      const breaker = yield* Policy.makeCircuitBreaker({ consecutiveFailures: 3, cooldown: "300 millis" })
      const model = yield* modelFor(scenario, breaker)
      const key = { provider: "emulator", model: "gpt-test" }
      for (let i = 0; i < 3; i++) {
        const result = yield* Effect.either(Completion.fromStream(model.stream(request)))
        assert.strictEqual(tagOf(result), "ServerError")
      }
      const skipped = yield* Effect.either(Completion.fromStream(model.stream(request)))
      assert.strictEqual(tagOf(skipped), "CircuitOpen")
      assert.strictEqual((yield* requestsWith(scenario)).length, 3)
      assert.strictEqual((yield* breaker.state(key))._tag, "Open")
      // Wait out the cooldown (not an assertion: the state says when).
      const state = yield* breaker.state(key)
      if (state._tag === "Open") yield* Effect.sleep(Duration.millis(Math.max(0, state.reopensAt - Date.now() + 20)))
      const probe = yield* Completion.fromStream(model.stream(request))
      assert.strictEqual(probe.text, Scenario.defaultText)
      assert.strictEqual((yield* breaker.state(key))._tag, "Closed")
      assert.strictEqual((yield* requestsWith(scenario)).length, 4)
    }))

  it.effect("interrupting the consumer aborts the request (client-closed) and leaves no mark on the breaker", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator.Emulator
      const scenario: Scenario.Scenario = { extends: "long", gapMs: 50, responseId: "breaker-interrupt" }
      const breaker = yield* Policy.makeCircuitBreaker({ consecutiveFailures: 1, cooldown: "1 minute" })
      const model = yield* modelFor(scenario, breaker)
      const first = yield* Deferred.make<void>()
      const fiber = yield* model.stream(request).pipe(Stream.runForEach(() => Deferred.succeed(first, undefined)), Effect.fork)
      yield* Deferred.await(first)
      yield* Fiber.interrupt(fiber)
      const [record] = yield* requestsWith(scenario)
      assert.strictEqual((yield* emulator.awaitEnded(record.id)).ending, "client-closed")
      assert.deepStrictEqual(yield* breaker.state({ provider: "emulator", model: "gpt-test" }), {
        _tag: "Closed",
        consecutiveFailures: 0,
        calls: 0,
        failures: 0
      })
    }))
})
