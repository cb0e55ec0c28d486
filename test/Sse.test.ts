import { assert, describe, it } from "@effect/vitest"
import { Sse } from "@sluice/core"
import { Chunk, Effect, Either, Queue, Stream } from "effect"
import * as fc from "fast-check"
import { readFileSync } from "node:fs"
import { splitAt } from "./support/wire.js"

interface Vector {
  readonly name: string
  readonly chunks: ReadonlyArray<string>
  readonly events: ReadonlyArray<{ readonly type: string; readonly data: string; readonly id?: string }>
  readonly dispatchedAfterChunk?: ReadonlyArray<number>
}

const fixture: { readonly vectors: ReadonlyArray<Vector> } = JSON.parse(
  readFileSync(new URL("./fixtures/sse-vectors.json", import.meta.url), "utf8")
)

const bytesOf = (base64: string): Uint8Array => new Uint8Array(Buffer.from(base64, "base64"))
const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text)

/** The vectors' shape: `id` only when one is in force. */
const shape = (event: Sse.Event) =>
  event.id === undefined ? { type: event.event, data: event.data } : { type: event.event, data: event.data, id: event.id }

const decodeReads = (reads: ReadonlyArray<Uint8Array>, options?: Sse.Options) =>
  Stream.fromIterable(reads).pipe(Sse.decode(options), Stream.runCollect, Effect.map(Chunk.toReadonlyArray))

describe("Sse vectors", () => {
  it("has all 38 vectors", () => {
    assert.strictEqual(fixture.vectors.length, 38)
  })

  for (const vector of fixture.vectors) {
    it.effect(`stream: ${vector.name}`, () =>
      Effect.gen(function*() {
        const events = yield* decodeReads(vector.chunks.map(bytesOf))
        assert.deepStrictEqual(events.map(shape), vector.events)
      }))

    it(`incremental: ${vector.name}`, () => {
      const decoder = Sse.makeDecoder()
      const out: Array<Sse.Event> = []
      const emit = (event: Sse.Event) => {
        out.push(event)
      }
      vector.chunks.forEach((chunk, i) => {
        assert.isUndefined(decoder.write(bytesOf(chunk), emit))
        const due = vector.dispatchedAfterChunk?.[i]
        if (due !== undefined) assert.isAtLeast(out.length, due, `events out after read ${i + 1}`)
      })
      assert.strictEqual(typeof decoder.end(emit), "number")
      assert.deepStrictEqual(out.map(shape), vector.events)
    })
  }
})

describe("Sse.decode", () => {
  it.effect("hands each event on before the next read arrives", () =>
    Effect.gen(function*() {
      const input = yield* Queue.unbounded<Uint8Array>()
      const pull = yield* Stream.fromQueue(input).pipe(Sse.decode(), Stream.toPull)
      yield* Queue.offer(input, utf8("data: one\r"))
      // The CR ends the line at once; the blank line needs one more line end.
      yield* Queue.offer(input, utf8("\n\r"))
      const first = yield* pull
      assert.deepStrictEqual(Chunk.toReadonlyArray(first).map((e) => e.data), ["one"])
      yield* Queue.offer(input, utf8("\ndata: two\n\ndata: three\n\n"))
      const next = yield* pull
      assert.deepStrictEqual(Chunk.toReadonlyArray(next).map((e) => e.data), ["two", "three"])
    }).pipe(Effect.scoped))

  it.effect("gives one chunk of events per chunk of reads", () =>
    Effect.gen(function*() {
      const chunks = yield* Stream.fromChunks(
        Chunk.make(utf8("data: a\n\ndata: b\n\n"), utf8("data: c\n\n")),
        Chunk.make(utf8("data: d\n"), utf8("\n"))
      ).pipe(Sse.decode(), Stream.chunks, Stream.runCollect)
      assert.deepStrictEqual(
        Chunk.toReadonlyArray(chunks).map((chunk) => Chunk.toReadonlyArray(chunk).map((e) => e.data)),
        [["a", "b", "c"], ["d"]]
      )
    }))

  it.effect("carries event type, last id and retry", () =>
    Effect.gen(function*() {
      const events = yield* decodeReads([utf8("retry: 3000\nevent: ping\nid: 7\ndata: x\n\ndata: y\n\n")])
      assert.deepStrictEqual(events, [
        { event: "ping", data: "x", id: "7", retry: 3000 },
        { event: "message", data: "y", id: "7", retry: undefined }
      ])
    }))

  it.effect("drops an unterminated final event by default, and can fail with EndedMidEvent", () =>
    Effect.gen(function*() {
      const reads = [utf8("data: a\n\ndata: b")]
      const ignored = yield* decodeReads(reads)
      assert.deepStrictEqual(ignored.map((e) => e.data), ["a"])
      const failed = yield* Effect.either(decodeReads(reads, { endedMidEvent: "fail" }))
      assert.isTrue(Either.isLeft(failed))
      if (Either.isLeft(failed)) {
        assert.strictEqual(failed.left._tag, "EndedMidEvent")
        if (failed.left._tag === "EndedMidEvent") assert.strictEqual(failed.left.dropped, "data: b".length)
      }
      // An event cut after its data line but before the blank line is also mid-event.
      const cut = yield* Effect.either(decodeReads([utf8("data: a\n")], { endedMidEvent: "fail" }))
      assert.isTrue(Either.isLeft(cut))
      // So is one cut after a field line that is not data (Anthropic's `event:` comes first).
      const named = yield* Effect.either(decodeReads([utf8("data: a\n\nevent: message_delta\n")], { endedMidEvent: "fail" }))
      assert.isTrue(Either.isLeft(named))
      // A clean end is not.
      const clean = yield* Effect.either(decodeReads([utf8("data: a\n\n: bye\n")], { endedMidEvent: "fail" }))
      assert.isTrue(Either.isRight(clean))
    }))

  it.effect("a UTF-8 sequence cut by EOF is mid-event, not silently dropped", () =>
    Effect.gen(function*() {
      const bytes = utf8("data: \u4f60\u597d\n\n")
      const failed = yield* Effect.either(decodeReads([bytes.subarray(0, 8)], { endedMidEvent: "fail" }))
      assert.isTrue(Either.isLeft(failed))
    }))

  it.effect("fails with EventTooLarge on an endless line, at the limit", () =>
    Effect.gen(function*() {
      const read = utf8("x".repeat(1024))
      const reads = Stream.repeatValue(read).pipe(Stream.take(100_000))
      const result = yield* reads.pipe(Sse.decode({ maxEventSize: 64 * 1024 }), Stream.runDrain, Effect.either)
      assert.isTrue(Either.isLeft(result))
      if (Either.isLeft(result) && result.left._tag === "EventTooLarge") {
        assert.strictEqual(result.left.limit, 64 * 1024)
        assert.isAtMost(result.left.size, 64 * 1024 + 1024)
      } else {
        assert.fail("expected EventTooLarge")
      }
    }))

  it.effect("fails with EventTooLarge when many data lines add up past the limit", () =>
    Effect.gen(function*() {
      const line = utf8(`data: ${"y".repeat(1000)}\n`)
      const result = yield* Stream.repeatValue(line).pipe(
        Stream.take(1000),
        Sse.decode({ maxEventSize: 100_000 }),
        Stream.runDrain,
        Effect.either
      )
      assert.isTrue(Either.isLeft(result))
    }))

  it.effect("decodes a 4 MiB data line fed in 1 KiB reads in linear time", () =>
    Effect.gen(function*() {
      const size = 4 * 1024 * 1024
      const body = utf8(`data: ${"z".repeat(size)}\n\n`)
      const reads: Array<Uint8Array> = []
      for (let i = 0; i < body.length; i += 1024) reads.push(body.subarray(i, i + 1024))
      const start = performance.now()
      const events = yield* decodeReads(reads)
      const elapsed = performance.now() - start
      assert.strictEqual(events.length, 1)
      assert.strictEqual(events[0].data.length, size)
      // A quadratic decoder takes minutes here; a linear one a few tens of milliseconds.
      assert.isBelow(elapsed, 3000)
    }))

  it.effect("decodeAll decodes a whole body", () =>
    Effect.gen(function*() {
      const events = yield* Sse.decodeAll(utf8("data: 1\n\ndata: 2\n\n"))
      assert.deepStrictEqual(events.map((e) => e.data), ["1", "2"])
    }))
})

describe("Sse properties", () => {
  const field = fc.constantFrom("data", "event", "id", "retry", "foo", "", "data ")
  const value = fc.string({ unit: fc.constantFrom("a", "b", " ", ":", "\u00e9", "\u4f60", "\ud83c\udf0d", "\u0000", "[DONE]", "{") })
  const lineEnd = fc.constantFrom("\n", "\r", "\r\n")
  const line = fc.oneof(
    fc.tuple(field, value).map(([f, v]) => `${f}: ${v}`),
    value.map((v) => `:${v}`),
    fc.constant("")
  )
  const body = fc
    .array(fc.tuple(line, lineEnd), { maxLength: 40 })
    .chain((lines) => fc.tuple(fc.constant(lines), fc.boolean()))
    .map(([lines, bom]) => (bom ? "\ufeff" : "") + lines.map(([l, e]) => l + e).join(""))

  it.effect("any split of a byte stream into reads gives the same events", () =>
    Effect.gen(function*() {
      const samples = fc.sample(fc.tuple(body, fc.array(fc.nat(), { maxLength: 30 })), { numRuns: 400, seed: 42 })
      for (const [text, cuts] of samples) {
        const bytes = utf8(text)
        const whole = yield* decodeReads([bytes])
        const split = yield* decodeReads(splitAt(bytes, cuts))
        assert.deepStrictEqual(split, whole, JSON.stringify({ text, cuts }))
      }
    }))

  it("one byte per read gives the same events as one read", () => {
    fc.assert(
      fc.property(body, (text) => {
        const bytes = utf8(text)
        const collect = (reads: ReadonlyArray<Uint8Array>) => {
          const decoder = Sse.makeDecoder()
          const out: Array<Sse.Event> = []
          const emit = (event: Sse.Event) => {
            out.push(event)
          }
          for (const read of reads) decoder.write(read, emit)
          decoder.end(emit)
          return out
        }
        const bytewise = Array.from(bytes, (_, i) => bytes.subarray(i, i + 1))
        assert.deepStrictEqual(collect(bytewise), collect([bytes]))
      }),
      { numRuns: 200, seed: 7 }
    )
  })

  it("never throws on arbitrary bytes", () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 20 }), (reads) => {
        const decoder = Sse.makeDecoder({ maxEventSize: 256 })
        const emit = () => {}
        for (const read of reads) decoder.write(read, emit)
        const ended = decoder.end(emit)
        assert.isTrue(typeof ended === "number" || ended._tag === "EventTooLarge")
      }),
      { numRuns: 500, seed: 11 }
    )
  })

  it("matches an independent reference parser on random streams", () => {
    fc.assert(
      fc.property(body, fc.array(fc.nat(), { maxLength: 10 }), (text, cuts) => {
        const bytes = utf8(text)
        const decoder = Sse.makeDecoder()
        const out: Array<Sse.Event> = []
        const emit = (event: Sse.Event) => {
          out.push(event)
        }
        for (const read of splitAt(bytes, cuts)) decoder.write(read, emit)
        decoder.end(emit)
        assert.deepStrictEqual(out.map(shape), reference(text))
      }),
      { numRuns: 300, seed: 3 }
    )
  })
})

/** A deliberately naive, whole-input reading of the WHATWG rules, to cross-check the incremental decoder. */
const reference = (input: string): Array<{ type: string; data: string; id?: string }> => {
  const text = input.startsWith("\ufeff") ? input.slice(1) : input
  const lines = text.split(/\r\n|\r|\n/)
  // The last element is what follows the last line end: an unterminated line, dropped at EOF.
  lines.pop()
  const events: Array<{ type: string; data: string; id?: string }> = []
  let data: Array<string> | undefined
  let type = ""
  let id: string | undefined
  for (const line of lines) {
    if (line === "") {
      if (data !== undefined) {
        const event = { type: type === "" ? "message" : type, data: data.join("\n") }
        events.push(id === undefined ? event : { ...event, id })
      }
      data = undefined
      type = ""
      continue
    }
    if (line.startsWith(":")) continue
    const colon = line.indexOf(":")
    const name = colon === -1 ? line : line.slice(0, colon)
    let value = colon === -1 ? "" : line.slice(colon + 1)
    if (value.startsWith(" ")) value = value.slice(1)
    if (name === "data") (data ??= []).push(value)
    else if (name === "event") type = value
    else if (name === "id" && !value.includes("\u0000")) id = value
  }
  return events
}

