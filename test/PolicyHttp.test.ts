import { assert, layer } from "@effect/vitest"
import { ChatRequest, Completion, LanguageModel, type LlmError, Policy, type StreamEvent } from "@sluice/core"
import { Emulator, Fault, Scenario } from "@sluice/emulator"
import { OpenAiCompatible } from "@sluice/providers"
import { Effect, Either, Fiber, Schedule, Stream } from "effect"
import { TestLayer } from "./support/onEmulator.js"

const request = ChatRequest.make({ model: "gpt-test", messages: [ChatRequest.user("Tell me about rivers")] })
const text = "Rivers carry water from mountains to the sea, shaping valleys and deltas along the way."

/** An OpenAI-compatible service on the emulator, answering `scenario`; a fresh scenario key per test keeps `times` counters apart. */
const model = (scenario: Scenario.Scenario, options: Partial<OpenAiCompatible.Options> = {}) =>
  Effect.gen(function*() {
    const emulator = yield* Emulator.Emulator
    return yield* OpenAiCompatible.make({
      baseUrl: emulator.openAiBaseUrl,
      provider: "emulator",
      headers: Scenario.headers({ ...scenario, responseId: `chatcmpl-${Math.random().toString(36).slice(2)}` }),
      ...options
    })
  })

const consume = (stream: Stream.Stream<StreamEvent.StreamEvent, LlmError.LlmError>) =>
  Effect.gen(function*() {
    const received: Array<StreamEvent.StreamEvent> = []
    const attempts: Array<Policy.Attempt> = []
    const result = yield* stream.pipe(
      Stream.runForEach((e) => Effect.sync(() => received.push(e))),
      Effect.provideService(Policy.Attempts, { record: (a) => attempts.push(a) }),
      Effect.either
    )
    return { received, attempts, completion: Completion.fromEvents(received), error: Either.isLeft(result) ? result.left : undefined }
  })

const fast = { schedule: Schedule.spaced("10 millis") }

layer(TestLayer, { excludeTestServices: true })("Policies over HTTP", (it) => {
  it.effect("retry: a 429 with Retry-After, then success; the wait is honoured", () =>
    Effect.gen(function*() {
      const m = yield* model({ text, faults: [Fault.status({ status: 429, retryAfterMs: 300, times: 1 })] })
      const start = Date.now()
      const { attempts, completion, error } = yield* consume(m.pipe(Policy.retry(fast)).stream(request))
      assert.isUndefined(error)
      assert.strictEqual(completion.text, text)
      assert.isAtLeast(Date.now() - start, 250)
      assert.deepStrictEqual(attempts.map((a) => [a.kind, a.error?._tag]), [["initial", "RateLimited"], ["retry", undefined]])
    }))

  it.effect("retry: 5xx twice, then success", () =>
    Effect.gen(function*() {
      const m = yield* model({ text, faults: [Fault.status({ status: 503, times: 2 })] })
      const { attempts, completion } = yield* consume(m.pipe(Policy.retry(fast)).stream(request))
      assert.strictEqual(completion.text, text)
      assert.strictEqual(attempts.length, 3)
    }))

  it.effect("timeout: a stall after N events is an idle Timeout, and the request is aborted", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator.Emulator
      const m = yield* model({ text, faults: [Fault.stall(3)] })
      const outcome = yield* consume(m.pipe(Policy.timeout({ idle: "300 millis" })).stream(request))
      assert.isTrue(outcome.error?._tag === "Timeout" && outcome.error.phase === "idle")
      assert.strictEqual(outcome.error?.partial?.text, "Rivers carry water ")
      const records = yield* emulator.awaitIdle
      assert.strictEqual(records[records.length - 1].ending, "client-closed")
    }))

  it.effect("timeout: no first token in time (keep-alive comments do not count)", () =>
    Effect.gen(function*() {
      const m = yield* model({ text, firstTokenDelayMs: 3000, keepAlive: { intervalMs: 50, comment: "OPENROUTER PROCESSING" } })
      const outcome = yield* consume(m.pipe(Policy.timeout({ firstToken: "400 millis" })).stream(request))
      assert.isTrue(outcome.error?._tag === "Timeout" && outcome.error.phase === "first-token")
      assert.isUndefined(outcome.error?.partial)
    }))

  it.effect("continuation: a truncated answer is healed by prefill into the exact full text", () =>
    Effect.gen(function*() {
      const m = yield* model({ text, faults: [Fault.truncate(4, { times: 1 })] }, { prefill: true })
      const { attempts, completion, error, received } = yield* consume(m.pipe(Policy.continuation()).stream(request))
      assert.isUndefined(error)
      assert.strictEqual(completion.text, text)
      assert.strictEqual(received.filter((e) => e._tag === "Finish").length, 1)
      assert.deepStrictEqual(attempts.map((a) => [a.kind, a.spliceAt]), [["initial", undefined], ["continuation", "Rivers carry water from ".length]])
    }))

  it.effect("failover: the primary is down, the secondary answers", () =>
    Effect.gen(function*() {
      const primary = yield* model({ text: "primary", faults: [Fault.status({ status: 503 })] })
      const secondary = yield* model({ text: "secondary answers" })
      const { attempts, completion } = yield* consume(
        primary.pipe(Policy.failover([{ service: secondary, model: "gpt-backup" }], { retry: { ...fast, maxAttempts: 2 } })).stream(request)
      )
      assert.strictEqual(completion.text, "secondary answers")
      assert.deepStrictEqual(attempts.map((a) => [a.model, a.kind, a.error?._tag]), [
        ["gpt-test", "initial", "ServerError"],
        ["gpt-test", "retry", "ServerError"],
        ["gpt-backup", "failover", undefined]
      ])
    }))

  it.effect("hedge: a slow primary is overtaken by the fast one and its request aborted", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator.Emulator
      yield* emulator.reset
      const slow = yield* model({ text: "slow answer", firstTokenDelayMs: 5000 })
      const quick = yield* model({ text: "quick answer" })
      const { completion, error } = yield* consume(slow.pipe(Policy.hedge({ after: "150 millis", routes: [{ service: quick }] })).stream(request))
      assert.isUndefined(error)
      assert.strictEqual(completion.text, "quick answer")
      const records = yield* emulator.awaitIdle
      assert.deepStrictEqual(records.map((r) => r.ending).sort(), ["client-closed", "complete"])
    }))

  it.effect("timeout: a steady stream longer than the idle bound completes (every event resets the idle clock)", () =>
    Effect.gen(function*() {
      const m = yield* model({ text, gapMs: 60 })
      const start = Date.now()
      const { completion, error } = yield* consume(m.pipe(Policy.timeout({ firstToken: "400 millis", idle: "400 millis" }), Policy.retry(fast)).stream(request))
      assert.isUndefined(error)
      assert.strictEqual(completion.text, text)
      // The answer took longer than the idle bound, so the bound was measured between events.
      assert.isAbove(Date.now() - start, 500)
    }))

  it.effect("timeout: a total deadline over retry aborts the request in flight; the attempt is recorded as the Timeout", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator.Emulator
      yield* emulator.reset
      const m = yield* model({ text, firstTokenDelayMs: 5000 })
      const start = Date.now()
      const { attempts, error } = yield* consume(m.pipe(Policy.retry(fast), Policy.timeout({ total: "300 millis" })).stream(request))
      assert.isTrue(error?._tag === "Timeout" && error.phase === "total")
      assert.isBelow(Date.now() - start, 3000)
      assert.deepStrictEqual(attempts.map((a) => [a.kind, a.error?._tag]), [["initial", "Timeout"]])
      const records = yield* emulator.awaitIdle
      assert.deepStrictEqual(records.map((r) => r.ending), ["client-closed"])
    }))

  it.effect("timeout: an outer total deadline reaches the request through an inner idle timeout, with the partial", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator.Emulator
      yield* emulator.reset
      const m = yield* model({ text, faults: [Fault.stall(3)] })
      const { error, received } = yield* consume(
        m.pipe(Policy.timeout({ idle: "20 seconds" }), Policy.retry(fast), Policy.timeout({ total: "400 millis" })).stream(request)
      )
      assert.isTrue(error?._tag === "Timeout" && error.phase === "total")
      assert.strictEqual(error?.partial?.text, "Rivers carry water ")
      assert.strictEqual(Completion.fromEvents(received).text, "Rivers carry water ")
      const records = yield* emulator.awaitIdle
      assert.deepStrictEqual(records.map((r) => r.ending), ["client-closed"])
    }))

  it.effect("timeout per attempt inside retry: a silent attempt is cut off and the next one answers", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator.Emulator
      yield* emulator.reset
      const m = yield* model({ text, faults: [Fault.stall(0, { times: 1 })] })
      const { attempts, completion, error } = yield* consume(m.pipe(Policy.timeout({ firstToken: "300 millis" }), Policy.retry(fast)).stream(request))
      assert.isUndefined(error)
      assert.strictEqual(completion.text, text)
      assert.deepStrictEqual(attempts.map((a) => [a.kind, a.error?._tag]), [["initial", "Timeout"], ["retry", undefined]])
      const records = yield* emulator.awaitIdle
      assert.deepStrictEqual(records.map((r) => r.ending), ["client-closed", "complete"])
    }))

  it.effect("timeout inside hedge: the winner's idle bound still holds after the race is decided", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator.Emulator
      yield* emulator.reset
      const stalls = yield* model({ text, faults: [Fault.stall(3)] })
      const backup = yield* model({ text: "backup answer", firstTokenDelayMs: 5000 })
      const { error } = yield* consume(
        stalls.pipe(Policy.timeout({ idle: "300 millis" })).pipe(
          Policy.hedge({ after: "2 seconds", routes: [{ service: backup.pipe(Policy.timeout({ idle: "300 millis" })) }] })
        ).stream(request)
      ).pipe(Effect.timeout("5 seconds"))
      assert.isTrue(error?._tag === "Timeout" && error.phase === "idle")
      assert.strictEqual(error?.partial?.text, "Rivers carry water ")
    }))

  it.effect("timeout under a caller's own Stream.timeout (each pull in a forked fiber): the idle bound still holds", () =>
    Effect.gen(function*() {
      const m = yield* model({ text, faults: [Fault.stall(3)] })
      const { error } = yield* consume(m.pipe(Policy.timeout({ idle: "300 millis" })).stream(request).pipe(Stream.timeout("1 minute"))).pipe(
        Effect.timeout("5 seconds")
      )
      assert.isTrue(error?._tag === "Timeout" && error.phase === "idle")
    }))

  it.effect("after a deadline passed, retry, continuation and failover start no further attempts", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator.Emulator
      for (
        const [name, wrap, scenario] of [
          ["retry", (m: LanguageModel.Service) => m.pipe(Policy.retry({ schedule: Schedule.recurs(10), maxAttempts: 10 }), Policy.timeout({ firstToken: "300 millis" })), { text, firstTokenDelayMs: 5000 }],
          ["continuation", (m: LanguageModel.Service) => m.pipe(Policy.continuation(), Policy.timeout({ idle: "300 millis" })), { text, faults: [Fault.stall(3)] }],
          ["failover", (m: LanguageModel.Service) => m.pipe(Policy.failover([{ model: "gpt-backup" }], { when: () => true }), Policy.timeout({ firstToken: "300 millis" })), { text, firstTokenDelayMs: 5000 }]
        ] as const
      ) {
        yield* emulator.reset
        const m = yield* model(scenario, { prefill: true })
        const { attempts, error } = yield* consume(wrap(m).stream(request))
        assert.strictEqual(error?._tag, "Timeout", name)
        assert.deepStrictEqual(attempts.map((a) => [a.kind, a.error?._tag]), [["initial", "Timeout"]], name)
        const records = yield* emulator.awaitIdle
        assert.strictEqual(records.length, 1, name)
      }
    }))

  it.effect("retry after output: a failure's partial is everything the caller received, over every attempt", () =>
    Effect.gen(function*() {
      const m = yield* model({ text, faults: [Fault.truncate(3, { times: 1 }), Fault.stall(3)] })
      const { error, received } = yield* consume(m.pipe(Policy.retry({ ...fast, afterOutput: true }), Policy.timeout({ idle: "300 millis" })).stream(request))
      assert.strictEqual(error?._tag, "Timeout")
      assert.strictEqual(error?.partial?.text, "Rivers carry water Rivers carry water ")
      assert.strictEqual(error?.partial?.text, Completion.fromEvents(received).text)
    }))

  it.effect("a copy of a service with its own stream ({ ...service, stream }) is what policies call", () =>
    Effect.gen(function*() {
      const m = yield* model({ text })
      const withoutUsage = LanguageModel.fromStream({ ...m, stream: (r) => m.stream(r).pipe(Stream.filter((e) => e._tag !== "Usage")) })
      const usages = (events: ReadonlyArray<StreamEvent.StreamEvent>) => events.filter((e) => e._tag === "Usage").length
      assert.strictEqual(usages((yield* consume(withoutUsage.stream(request))).received), 0)
      assert.strictEqual(usages((yield* consume(withoutUsage.pipe(Policy.retry(), Policy.timeout({ idle: "5 seconds" })).stream(request))).received), 0)
    }))

  it.effect("retry and failover see what reached the caller: a stream cut after its first events is not retried", () =>
    Effect.gen(function*() {
      const m = yield* model({ text, faults: [Fault.truncate(4, { times: 1 })] })
      const { attempts, error, received } = yield* consume(
        m.pipe(Policy.timeout({ idle: "20 seconds" }), Policy.retry(fast), Policy.failover([{ model: "gpt-backup" }])).stream(request)
      )
      // Retrying or failing over would show the caller the same words twice.
      assert.strictEqual(error?._tag, "IncompleteStream")
      assert.strictEqual(attempts.length, 1)
      assert.strictEqual(error?.partial?.text, Completion.fromEvents(received).text)
      assert.isAbove(received.length, 0)
    }))

  it.effect("interrupting the consumer aborts the HTTP request through every policy", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator.Emulator
      const wrap: ReadonlyArray<readonly [string, (m: LanguageModel.Service) => LanguageModel.Service]> = [
        ["guard", (m) => m.pipe(Policy.guard())],
        ["timeout", (m) => m.pipe(Policy.timeout({ idle: "10 seconds", total: "1 minute" }))],
        ["retry", (m) => m.pipe(Policy.retry())],
        ["failover", (m) => m.pipe(Policy.failover([{ model: "other" }]))],
        ["continuation", (m) => m.pipe(Policy.continuation())],
        ["hedge", (m) => m.pipe(Policy.hedge({ after: "10 seconds", routes: [{ model: "other" }] }))]
      ]
      for (const [name, apply] of wrap) {
        yield* emulator.reset
        const m = yield* model({ text, gapMs: 200 })
        const fiber = yield* apply(m).stream(request).pipe(Stream.take(1), Stream.concat(Stream.never), Stream.runDrain, Effect.fork)
        const [record] = yield* emulator.awaitRequests(1)
        yield* Effect.sleep("50 millis")
        yield* Fiber.interrupt(fiber)
        const ended = yield* emulator.awaitEnded(record.id)
        assert.strictEqual(ended.ending, "client-closed", name)
      }
    }))
})
