/**
 * `Policy.smooth`: re-chunking text by word, line or RegExp, exactly preserving the text.
 */
import { assert, describe, it, layer } from "@effect/vitest"
import { Completion, LlmError, Policy, StreamEvent } from "@sluice/core"
import { Emulator, Scenario } from "@sluice/emulator"
import { Chunk, Deferred, Effect, Either, Fiber, Stream, TestClock } from "effect"
import * as fc from "fast-check"
import { longRequest as request, modelFor, TestLayer } from "./support/onEmulator.js"

const site = { provider: "test", model: "m" }

/** A stream of the given events, one chunk per event (as a decoder hands them on). */
const eventsOf = (events: ReadonlyArray<StreamEvent.StreamEvent>) => Stream.fromIterable(events).pipe(Stream.rechunk(1))

const texts = (events: ReadonlyArray<StreamEvent.StreamEvent>) =>
  events.filter((e) => e._tag === "TextDelta").map((e) => e.text)

const run = (stream: Stream.Stream<StreamEvent.StreamEvent, LlmError.LlmError>) =>
  Effect.map(Stream.runCollect(stream), Chunk.toReadonlyArray)

const deltas = (...parts: ReadonlyArray<string>) => parts.map(StreamEvent.textDelta)

const finish = StreamEvent.finish("stop", "stop")

const segmenter = new Intl.Segmenter(undefined, { granularity: "word" })
const startsWithWord = (s: string): boolean => {
  for (const segment of segmenter.segment(s)) return segment.isWordLike === true
  return false
}

/** Whether, in `text`, a word-like segment starts at `index`. */
const wordStartsAt = (text: string, index: number): boolean => {
  for (const segment of segmenter.segment(text)) if (segment.index === index) return segment.isWordLike === true
  return false
}

describe("Policy.smooth", () => {
  it.effect("word: whole words with what follows them, the rest at the finish", () =>
    Effect.gen(function*() {
      const out = yield* run(Policy.smooth({ chunking: "word" })(eventsOf([...deltas("Hel", "lo wor", "ld, how", " are you?"), finish])))
      assert.deepStrictEqual(texts(out), ["Hello ", "world, ", "how ", "are ", "you?"])
      assert.deepStrictEqual(out[out.length - 1], finish)
    }))

  it.effect("word: text without spaces (Chinese, Japanese, Thai) is cut into words too", () =>
    Effect.gen(function*() {
      for (const text of ["我们今天去公园散步，然后一起吃晚饭。", "今日は良い天気ですね。公園に行きましょう。", "สวัสดีครับวันนี้อากาศดีมาก"]) {
        // One code point per delta: the worst case for a splitter that waits for spaces.
        const out = yield* run(Policy.smooth({ chunking: "word" })(eventsOf([...deltas(...Array.from(text)), finish])))
        const chunks = texts(out)
        assert.strictEqual(chunks.join(""), text)
        assert.isAbove(chunks.length, 3, text)
        for (const chunk of chunks) assert.isTrue(startsWithWord(chunk), `${JSON.stringify(chunk)} in ${text}`)
      }
    }))

  it.effect("line: whole lines; RegExp: chunks end at each match", () =>
    Effect.gen(function*() {
      const lines = yield* run(Policy.smooth({ chunking: "line" })(eventsOf([...deltas("one\ntw", "o\n\nthr", "ee"), finish])))
      assert.deepStrictEqual(texts(lines), ["one\n", "two\n", "\n", "three"])
      const sentences = yield* run(
        Policy.smooth({ chunking: /[.!?]\s+/ })(eventsOf([...deltas("Hi there. How", " are you? Fine", "!"), finish]))
      )
      assert.deepStrictEqual(texts(sentences), ["Hi there. ", "How are you? ", "Fine!"])
    }))

  it.effect("text that goes 2,048 characters without a boundary is handed on as it is; a long line waits for its end", () =>
    Effect.gen(function*() {
      const blob = "QUJD".repeat(2000) // 8,000 characters of base64, one "word"
      const input = [...deltas("data: "), ...Array.from({ length: 2000 }, () => StreamEvent.textDelta("QUJD")), ...deltas(" done"), finish]
      const words = texts(yield* run(Policy.smooth({ chunking: "word" })(eventsOf(input))))
      assert.strictEqual(words.join(""), `data: ${blob} done`)
      assert.isAbove(words.length, 3)
      for (const chunk of words) assert.isAtMost(chunk.length, 2048 + 4 + 6)
      const lines = texts(yield* run(Policy.smooth({ chunking: "line" })(eventsOf([...input.slice(0, -1), ...deltas("\nnext"), finish]))))
      assert.deepStrictEqual(lines, [`data: ${blob} done\n`, "next"])
    }))

  it.effect("any other event flushes first; reasoning is buffered apart from text", () =>
    Effect.gen(function*() {
      const input: Array<StreamEvent.StreamEvent> = [
        StreamEvent.reasoningDelta("Think"),
        StreamEvent.reasoningDelta("ing hard"),
        StreamEvent.textDelta("Call"),
        StreamEvent.textDelta("ing a to"),
        StreamEvent.toolCallDelta({ index: 0, id: "c1", name: "f", argumentsDelta: "{}" }),
        StreamEvent.textDelta("done"),
        StreamEvent.usage({ inputTokens: 1, outputTokens: 2, totalTokens: 3 }),
        finish
      ]
      const out = yield* run(Policy.smooth({ chunking: "word" })(eventsOf(input)))
      assert.deepStrictEqual(out, [
        StreamEvent.reasoningDelta("Thinking "),
        StreamEvent.reasoningDelta("hard"),
        StreamEvent.textDelta("Calling "),
        StreamEvent.textDelta("a "),
        StreamEvent.textDelta("to"),
        StreamEvent.toolCallDelta({ index: 0, id: "c1", name: "f", argumentsDelta: "{}" }),
        StreamEvent.textDelta("done"),
        StreamEvent.usage({ inputTokens: 1, outputTokens: 2, totalTokens: 3 }),
        finish
      ])
      assert.deepStrictEqual(Completion.fromEvents(out), Completion.fromEvents(input))
    }))

  it.effect("a failure hands on the buffered text first, and partial is what the caller received", () =>
    Effect.gen(function*() {
      const upstream = Stream.concat(
        eventsOf(deltas("The answ", "er is forty-t")),
        Stream.fail(new LlmError.TransportError({ ...site, reason: "socket hang up" }))
      )
      const received: Array<StreamEvent.StreamEvent> = []
      const result = yield* Policy.smooth({ chunking: "word" })(upstream).pipe(
        Stream.runForEach((e) => Effect.sync(() => received.push(e))),
        Effect.either
      )
      assert.deepStrictEqual(texts(received), ["The ", "answer ", "is ", "forty-", "t"])
      assert.isTrue(Either.isLeft(result))
      if (Either.isLeft(result)) {
        assert.strictEqual(result.left._tag, "TransportError")
        assert.deepStrictEqual(result.left.partial, Completion.fromEvents(received))
      }
    }))

  it.effect("delay paces the chunks under the Clock, and the last one is not held", () =>
    Effect.gen(function*() {
      const arrivals: Array<[number, string]> = []
      const fiber = yield* Policy.smooth({ chunking: "word", delay: "100 millis" })(
        eventsOf([...deltas("a b c d"), finish])
      ).pipe(
        Stream.runForEach((e) =>
          Effect.flatMap(Effect.clockWith((c) => c.currentTimeMillis), (now) =>
            Effect.sync(() => arrivals.push([now, e._tag === "TextDelta" ? e.text : e._tag])))
        ),
        Effect.fork
      )
      yield* TestClock.adjust("50 millis")
      assert.deepStrictEqual(arrivals, [[0, "a "]])
      yield* TestClock.adjust("50 millis")
      assert.deepStrictEqual(arrivals, [[0, "a "], [100, "b "]])
      yield* TestClock.adjust("200 millis")
      yield* Fiber.join(fiber)
      assert.deepStrictEqual(arrivals, [[0, "a "], [100, "b "], [200, "c "], [300, "d"], [300, "Finish"]])
    }))

  const chunkings = ["word", "line", /[.!?]\s/] as const
  const eventOf = (piece: fc.Arbitrary<string>) =>
    fc.oneof(
      { weight: 8, arbitrary: piece.map(StreamEvent.textDelta) },
      { weight: 2, arbitrary: piece.map(StreamEvent.reasoningDelta) },
      { weight: 1, arbitrary: fc.constant(StreamEvent.toolCallDelta({ index: 0, argumentsDelta: "{}" })) }
    )
  const smoothAll = (input: ReadonlyArray<StreamEvent.StreamEvent>, chunking: (typeof chunkings)[number]) =>
    Effect.runSync(run(Policy.smooth({ chunking })(eventsOf([...input, finish]))))

  it("property: any deltas in any script give exactly the same text", () => {
    const piece = fc.oneof(
      fc.string({ unit: "grapheme", maxLength: 12 }),
      fc.string({ unit: fc.constantFrom("a", " ", "\n", ".", "你", "好", "ก", "า", "é", "🌍", "⺀"), maxLength: 12 }),
      fc.string({ unit: "binary", maxLength: 6 })
    )
    fc.assert(
      fc.property(fc.array(eventOf(piece), { maxLength: 30 }), fc.constantFrom(...chunkings), (input, chunking) => {
        const out = smoothAll(input, chunking)
        const want = Completion.fromEvents(input)
        const got = Completion.fromEvents(out)
        assert.strictEqual(got.text, want.text)
        assert.strictEqual(got.reasoning, want.reasoning)
        assert.deepStrictEqual(got.toolCalls, want.toolCalls)
        for (const event of out) if (event._tag === "TextDelta" || event._tag === "ReasoningDelta") assert.isAbove(event.text.length, 0)
      }),
      { numRuns: 500 }
    )
  })

  it("property: ASCII text is cut exactly where Intl.Segmenter starts words", () => {
    // Word chunking reads ASCII itself (the segmenter costs microseconds a call); it must agree.
    const ascii = fc.string({
      unit: fc.constantFrom("a", "Z", "q", "0", "7", " ", "\n", ".", ",", ";", ":", "'", "!", "-", "(", "\"", "/", "@", "#", "\t", "\r"),
      maxLength: 40
    })
    fc.assert(
      fc.property(ascii, (text) => {
        const expected: Array<string> = []
        let start = 0
        let seenWord = false
        for (const segment of segmenter.segment(text)) {
          if (segment.isWordLike !== true) continue
          if (seenWord && segment.index > start) {
            expected.push(text.slice(start, segment.index))
            start = segment.index
          }
          seenWord = true
        }
        if (start < text.length) expected.push(text.slice(start))
        assert.deepStrictEqual(texts(smoothAll([StreamEvent.textDelta(text)], "word")), expected)
      }),
      { numRuns: 2000 }
    )
  })

  it("property: every chunk but the last of a run ends on a boundary", () => {
    // Scripts whose word breaks follow the Unicode rules alone (Chinese, Japanese and Thai use a
    // dictionary whose verdict on a character can change with the characters after it).
    const piece = fc.string({
      unit: fc.constantFrom("a", "b", "Z", "1", " ", "  ", "\n", ".", ",", "!", "?", "'", "-", "é", "ß", "🌍", "👩‍💻", "\t"),
      maxLength: 10
    })
    fc.assert(
      fc.property(fc.array(eventOf(piece), { maxLength: 30 }), fc.constantFrom(...chunkings), (input, chunking) => {
        const out = smoothAll(input, chunking)
        // Runs: consecutive deltas of one kind (anything else flushes).
        for (let i = 0; i + 1 < out.length; i++) {
          const here = out[i]
          const next = out[i + 1]
          if ((here._tag !== "TextDelta" && here._tag !== "ReasoningDelta") || next._tag !== here._tag) continue
          if (chunking === "line") assert.isTrue(here.text.endsWith("\n"), JSON.stringify(here.text))
          else if (chunking === "word") {
            assert.isTrue(wordStartsAt(here.text + next.text, here.text.length), JSON.stringify([here.text, next.text]))
          } else assert.match(here.text, /[.!?]\s$/)
        }
      }),
      { numRuns: 1000 }
    )
  })
})

// ---------------------------------------------------------------------------------------------
// over HTTP

/** Runs the stream until its first event, interrupts the consumer, and gives the request's record once it ended. */
const interruptAfterFirstEvent = (stream: Stream.Stream<StreamEvent.StreamEvent, LlmError.LlmError>, scenario: Scenario.Scenario) =>
  Effect.gen(function*() {
    const emulator = yield* Emulator.Emulator
    const first = yield* Deferred.make<void>()
    const fiber = yield* stream.pipe(Stream.runForEach(() => Deferred.succeed(first, undefined)), Effect.fork)
    yield* Deferred.await(first)
    yield* Fiber.interrupt(fiber)
    const key = Scenario.headers(scenario)[Scenario.HeaderName]
    const record = (yield* emulator.requests).find((r) => r.scenarioKey === key)
    assert.isDefined(record)
    return yield* emulator.awaitEnded(record!.id)
  })

layer(TestLayer, { excludeTestServices: true })("Policy.smooth over HTTP", (it) => {
  it.effect("re-chunks a real stream into words with the text intact", () =>
    Effect.gen(function*() {
      const text = Scenario.named.unicode.text
      const model = (yield* modelFor({ extends: "unicode", chunking: 2 })).pipe(Policy.smooth({ chunking: "word" }))
      const out = yield* run(model.stream(request))
      assert.strictEqual(Completion.fromEvents(out).text, text)
      const chunks = texts(out)
      for (const chunk of chunks.slice(0, -1)) assert.isTrue(startsWithWord(chunk), JSON.stringify(chunk))
    }))

  it.effect("interrupting the consumer aborts the request (client-closed)", () =>
    Effect.gen(function*() {
      const scenario: Scenario.Scenario = { extends: "long", gapMs: 50, responseId: "smooth-interrupt" }
      const model = (yield* modelFor(scenario)).pipe(Policy.smooth({ chunking: "word", delay: "1 millis" }))
      const ended = yield* interruptAfterFirstEvent(model.stream(request), scenario)
      assert.strictEqual(ended.ending, "client-closed")
    }))
})
