/**
 * `Policy.detectBuffered`: a "stream" whose first token came only when the whole answer did.
 */
import { assert, describe, it, layer } from "@effect/vitest"
import { Completion, LlmError, Policy, StreamEvent } from "@sluice/core"
import { Emulator, Fault, Scenario } from "@sluice/emulator"
import { Deferred, Effect, Either, Fiber, Logger, Stream, TestClock } from "effect"
import { longRequest as request, modelFor as openAiModel, TestLayer } from "./support/onEmulator.js"
import { type Events, timed } from "./support/timed.js"

// ---------------------------------------------------------------------------------------------
// helpers

const finish = StreamEvent.finish("stop", "stop")
/** `n` deltas of four characters. */
const words = (n: number) => Array.from({ length: n }, (_, i) => StreamEvent.textDelta(`w${String(i % 100).padStart(2, "0")} `))

/** Steps for `n` words every `gapMs`, after `firstMs`. */
const paced = (firstMs: number, gapMs: number, n: number): Array<readonly [number, Events]> =>
  words(n).map((w, i) => [i === 0 ? firstMs : gapMs, [w]] as const)

/**
 * Runs `stream` through `detectBuffered` then `metrics` under the TestClock; gives the outcome, what
 * was received, the summary and the warnings logged.
 */
const detect = (stream: Stream.Stream<StreamEvent.StreamEvent, LlmError.LlmError>, options: Policy.DetectBufferedOptions = {}) =>
  Effect.gen(function*() {
    const warnings: Array<string> = []
    const summaries: Array<Policy.Summary> = []
    const received: Array<StreamEvent.StreamEvent> = []
    const logger = Logger.make(({ logLevel, message }) => {
      if (logLevel._tag === "Warning") warnings.push(String(Array.isArray(message) ? message[0] : message))
    })
    const policed = stream.pipe(
      Policy.detectBuffered(options),
      Policy.metrics({ onSummary: (s) => Effect.sync(() => summaries.push(s)) })
    )
    const fiber = yield* policed.pipe(
      Stream.runForEach((e) => Effect.sync(() => received.push(e))),
      Effect.either,
      Effect.provide(Logger.replace(Logger.defaultLogger, logger)),
      Effect.fork
    )
    yield* TestClock.adjust("1 hour")
    const result = yield* Fiber.join(fiber)
    return { result, received, summary: summaries[0], warnings }
  })

describe("Policy.detectBuffered", () => {
  it.effect("flags an answer replayed at once after a long wait: a warning and the summary's buffered", () =>
    Effect.gen(function*() {
      const { received, result, summary, warnings } = yield* detect(timed([[2000, [...words(100), finish]]]))
      assert.isTrue(Either.isRight(result))
      assert.strictEqual(received.length, 101)
      assert.deepStrictEqual(summary.buffered, { firstTokenMs: 2000, spreadMs: 0, totalMs: 2000, chars: 400, deltas: 100, heldMs: 0, replayedChars: 400 })
      assert.strictEqual(warnings.length, 1)
      assert.include(warnings[0], "replayed from a buffer")
    }))

  it.effect("with fail: true the stream fails at its end with BufferedStream carrying the whole answer", () =>
    Effect.gen(function*() {
      const { received, result } = yield* detect(timed([[1500, words(60)], [3, [finish]]]), { fail: true })
      assert.isTrue(Either.isLeft(result))
      if (Either.isLeft(result)) {
        const error = result.left
        assert.strictEqual(error._tag, "BufferedStream")
        if (error._tag === "BufferedStream") {
          assert.strictEqual(error.firstTokenMs, 1500)
          assert.strictEqual(error.spreadMs, 0)
          assert.deepStrictEqual(error.partial, Completion.fromEvents(received))
        }
      }
      // Every event reached the caller before the failure.
      assert.strictEqual(received.length, 61)
    }))

  it.effect("does not flag a genuinely streamed answer, short answers, or a late start that then streams", () =>
    Effect.gen(function*() {
      // 100 words, 5 ms apart.
      const streamed = yield* detect(timed([...paced(300, 5, 100), [5, [finish]]]), { fail: true })
      assert.isTrue(Either.isRight(streamed.result))
      assert.isUndefined(streamed.summary.buffered)
      // All at once, but too short to tell.
      const short = yield* detect(timed([[2000, [...words(20), finish]]]), { fail: true })
      assert.isTrue(Either.isRight(short.result))
      // A reasoning model thinking in silence for 20 s, then 80 words over 400 ms: spread < 10 % of the
      // total, but far slower than a replay.
      const late = yield* detect(timed([...paced(20_000, 5, 80), [5, [finish]]]), { fail: true })
      assert.isTrue(Either.isRight(late.result))
      assert.isUndefined(late.summary.buffered)
      assert.strictEqual(late.warnings.length, 0)
    }))

  it.effect("flags an answer held behind its first word and then replayed at once (the first token alone looks streamed)", () =>
    Effect.gen(function*() {
      const [first, ...rest] = words(100)
      const held = timed([[20, [first]], [2000, [...rest, finish]]])
      const { received, result, summary, warnings } = yield* detect(held)
      assert.isTrue(Either.isRight(result))
      assert.strictEqual(received.length, 101)
      assert.deepStrictEqual(summary.buffered, { firstTokenMs: 20, spreadMs: 2000, totalMs: 2020, chars: 400, deltas: 100, heldMs: 2000, replayedChars: 396 })
      assert.strictEqual(warnings.length, 1)
      assert.include(warnings[0], "then nothing for 2000 ms, then 396 characters at once")
      // The same held behind a few paced words, and with fail: true.
      const behindFive = timed([...paced(20, 30, 5), [2000, [...words(95), finish]]])
      const failed = yield* detect(behindFive, { fail: true })
      assert.isTrue(Either.isLeft(failed.result) && failed.result.left._tag === "BufferedStream")
      if (Either.isLeft(failed.result) && failed.result.left._tag === "BufferedStream") {
        assert.strictEqual(failed.result.left.heldMs, 2000)
        assert.strictEqual(failed.result.left.replayedChars, 380)
      }
      // metrics alone judges the same way.
      const summaries: Array<Policy.Summary> = []
      const fiber = yield* timed([[20, [first]], [2000, [...rest, finish]]]).pipe(
        Policy.metrics({ onSummary: (s) => Effect.sync(() => summaries.push(s)) }),
        Stream.runDrain,
        Effect.fork
      )
      yield* TestClock.adjust("1 hour")
      yield* Fiber.join(fiber)
      assert.strictEqual(summaries[0].buffered?.replayedChars, 396)
    }))

  it.effect("does not flag a paced answer with a pause, a provider's few large chunks, or a short answer held", () =>
    Effect.gen(function*() {
      // 100 words 20 ms apart with one 1 s pause in the middle: half the text after the pause, but paced.
      const pause = yield* detect(timed([...paced(100, 20, 50), ...paced(1000, 20, 50), [5, [finish]]]))
      assert.isUndefined(pause.summary.buffered)
      // A provider that sends big deltas (Gemini's chunks): a short first one, then three of 130 characters 250 ms apart.
      const big = StreamEvent.textDelta("x".repeat(130))
      const chunky = yield* detect(timed([[400, [StreamEvent.textDelta("The ")]], [250, [big]], [250, [big]], [250, [big, finish]]]))
      assert.isUndefined(chunky.summary.buffered)
      // The last of two chunks holding most of the text is one delta, as a provider may send it: not a replay of several.
      const two = yield* detect(timed([[400, [StreamEvent.textDelta("The ")]], [300, [StreamEvent.textDelta("y".repeat(400)), finish]]]))
      assert.isUndefined(two.summary.buffered)
      // Held, but too short to tell.
      const [first, ...rest] = words(30)
      const short = yield* detect(timed([[20, [first]], [2000, [...rest, finish]]]))
      assert.isUndefined(short.summary.buffered)
    }))

  it.effect("the options move the thresholds, and metrics alone applies the defaults", () =>
    Effect.gen(function*() {
      const short = yield* detect(timed([[2000, [...words(20), finish]]]), { minChars: 50 })
      assert.isDefined(short.summary.buffered)
      // A 40 ms spread on 400 characters: within the default 50 ms floor, not within a 10 ms one.
      const spread = timed([[2000, words(50)], [40, [...words(50), finish]]])
      assert.isDefined((yield* detect(spread)).summary.buffered)
      assert.isUndefined((yield* detect(spread, { minMargin: "10 millis" })).summary.buffered)
      // Without detectBuffered inside, metrics judges with the default criterion.
      const summaries: Array<Policy.Summary> = []
      const fiber = yield* timed([[2000, [...words(100), finish]]]).pipe(
        Policy.metrics({ onSummary: (s) => Effect.sync(() => summaries.push(s)) }),
        Stream.runDrain,
        Effect.fork
      )
      yield* TestClock.adjust("1 hour")
      yield* Fiber.join(fiber)
      assert.strictEqual(summaries[0].buffered?.chars, 400)
    }))

  it.effect("a stream that fails is not judged; its error stands", () =>
    Effect.gen(function*() {
      const failing = Stream.concat(
        timed([[2000, words(100)]]),
        Stream.fail(new LlmError.TransportError({ provider: "p", model: "m", reason: "reset" }))
      )
      const { result, warnings } = yield* detect(failing, { fail: true })
      assert.isTrue(Either.isLeft(result) && result.left._tag === "TransportError")
      assert.strictEqual(warnings.length, 0)
    }))
})

// ---------------------------------------------------------------------------------------------
// over HTTP

const modelFor = (scenario: Scenario.Scenario, options: Policy.DetectBufferedOptions = {}) =>
  Effect.gen(function*() {
    const summaries: Array<Policy.Summary> = []
    const model = (yield* openAiModel(scenario)).pipe(
      Policy.detectBuffered(options),
      Policy.metrics({ onSummary: (s) => Effect.sync(() => summaries.push(s)) })
    )
    return { model, summaries }
  })

layer(TestLayer, { excludeTestServices: true })("Policy.detectBuffered over HTTP", (it) => {
  it.effect("a genuinely streamed long answer (gapMs 5) is not flagged", () =>
    Effect.gen(function*() {
      const { model, summaries } = yield* modelFor({ extends: "long", gapMs: 5 }, { fail: true })
      const completion = yield* Completion.fromStream(model.stream(request))
      assert.strictEqual(completion.text, Scenario.named.long.text)
      assert.isUndefined(summaries[0].buffered)
    }))

  it.effect("a buffered replay with pacing is flagged, and fails with fail: true", () =>
    Effect.gen(function*() {
      const scenario: Scenario.Scenario = { extends: "long", gapMs: 2, faults: [Fault.bufferedReplay()] }
      const warned = yield* modelFor(scenario)
      const completion = yield* Completion.fromStream(warned.model.stream(request))
      assert.strictEqual(completion.text, Scenario.named.long.text)
      const buffered = warned.summaries[0].buffered
      assert.isDefined(buffered)
      assert.isAtLeast(buffered!.firstTokenMs, 500)
      assert.isAtMost(buffered!.spreadMs, 0.1 * buffered!.totalMs)

      const failing = yield* modelFor(scenario, { fail: true })
      const result = yield* Effect.either(Completion.fromStream(failing.model.stream(request)))
      assert.isTrue(Either.isLeft(result))
      if (Either.isLeft(result)) {
        assert.strictEqual(result.left._tag, "BufferedStream")
        assert.strictEqual(result.left.partial?.text, Scenario.named.long.text)
        assert.strictEqual(result.left.provider, "emulator")
      }
    }))

  it.effect("interrupting the consumer aborts the request (client-closed)", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator.Emulator
      const scenario: Scenario.Scenario = { extends: "long", gapMs: 50, responseId: "buffered-interrupt" }
      const { model } = yield* modelFor(scenario, { fail: true })
      const first = yield* Deferred.make<void>()
      const fiber = yield* model.stream(request).pipe(Stream.runForEach(() => Deferred.succeed(first, undefined)), Effect.fork)
      yield* Deferred.await(first)
      yield* Fiber.interrupt(fiber)
      const key = Scenario.headers(scenario)[Scenario.HeaderName]
      const record = (yield* emulator.requests).find((r) => r.scenarioKey === key)
      assert.isDefined(record)
      assert.strictEqual((yield* emulator.awaitEnded(record!.id)).ending, "client-closed")
    }))
})
