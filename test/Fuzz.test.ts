/**
 * Decoder robustness: random and mutated byte streams through the whole decoding stage of every
 * wire format. Whatever the bytes, the stream ends — as a success or as a typed LlmError — and never
 * as a defect; the partial of a failure is exactly what was handed on.
 */
import { assert, describe, it, layer } from "@effect/vitest"
import { Completion, LlmError, type StreamEvent, WireDecoder } from "@sluice/core"
import { Emulator } from "@sluice/emulator"
import { Cause, Effect, Exit, Stream } from "effect"
import * as fc from "fast-check"
import { AnthropicStreamDecoder } from "../packages/providers/src/internal/AnthropicStreamDecoder.js"
import { GeminiStreamDecoder } from "../packages/providers/src/internal/GeminiStreamDecoder.js"
import { OpenAiStreamDecoder } from "../packages/providers/src/internal/OpenAiStreamDecoder.js"
import { type FormatName, sendText } from "./support/emulatorClients.js"
import { splitAt } from "./support/wire.js"

const site = { provider: "fuzz", model: "m", secrets: [] }

const decoders: Record<FormatName, () => WireDecoder.WireDecoder> = {
  openai: () => new OpenAiStreamDecoder(site),
  anthropic: () => new AnthropicStreamDecoder(site),
  gemini: () => new GeminiStreamDecoder(site)
}

/** Runs bytes (in the given reads) through a format's stage; what was handed on, and how it ended. */
const run = (format: FormatName, reads: ReadonlyArray<Uint8Array>, maxEventSize?: number) =>
  Effect.gen(function*() {
    const received: Array<StreamEvent.StreamEvent> = []
    const exit = yield* WireDecoder.decodeBody(Stream.fromIterable(reads), {
      provider: "fuzz",
      model: "m",
      decoder: decoders[format](),
      mapBodyError: (e: never) => e,
      ...(maxEventSize === undefined ? {} : { maxEventSize })
    }).pipe(
      Stream.runForEach((e) => Effect.sync(() => received.push(e))),
      Effect.exit
    )
    return { exit, received }
  })

/** The outcome must be a success or one typed failure whose partial is what was received. */
const checkOutcome = (outcome: { readonly exit: Exit.Exit<void, LlmError.LlmError>; readonly received: ReadonlyArray<StreamEvent.StreamEvent> }, label: string) => {
  const { exit, received } = outcome
  if (Exit.isSuccess(exit)) return
  assert.isFalse(Cause.isDie(exit.cause), `${label}: a defect: ${Cause.pretty(exit.cause)}`)
  assert.strictEqual(exit.cause._tag, "Fail", label)
  if (exit.cause._tag !== "Fail") return
  const error = exit.cause.error
  assert.isTrue(LlmError.isLlmError(error), label)
  if (received.length === 0) assert.isUndefined(error.partial, label)
  else assert.deepStrictEqual(error.partial, Completion.fromEvents(received), label)
}

/** A byte-level mutation of a valid body. */
const mutation = fc.oneof(
  fc.record({ kind: fc.constant("flip" as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant("delete" as const), at: fc.nat(), length: fc.integer({ min: 1, max: 40 }) }),
  fc.record({ kind: fc.constant("insert" as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 20 }) }),
  fc.record({ kind: fc.constant("duplicate" as const), at: fc.nat(), length: fc.integer({ min: 1, max: 80 }) }),
  fc.record({ kind: fc.constant("truncate" as const), at: fc.nat() })
)

type Mutation = typeof mutation extends fc.Arbitrary<infer M> ? M : never

const mutate = (body: Uint8Array, m: Mutation): Uint8Array => {
  const at = m.at % (body.length + 1)
  switch (m.kind) {
    case "flip": {
      const out = body.slice()
      if (at < out.length) out[at] = m.value
      return out
    }
    case "delete":
      return Buffer.concat([body.subarray(0, at), body.subarray(at + m.length)])
    case "insert":
      return Buffer.concat([body.subarray(0, at), m.bytes, body.subarray(at)])
    case "duplicate":
      return Buffer.concat([body.subarray(0, at + m.length), body.subarray(at)])
    case "truncate":
      return body.subarray(0, at)
  }
}

describe("Fuzz: random bytes", () => {
  for (const format of ["openai", "anthropic", "gemini"] as const) {
    // Random SSE-ish text: valid framing around random JSON-ish payloads, plus raw noise.
    const payload = fc.oneof(fc.json(), fc.string(), fc.constant("[DONE]"), fc.constant("{\"type\":\"message_stop\"}"))
    const event = fc.tuple(fc.constantFrom("", "event: message_start\n", "event: content_block_delta\n", "event: error\n"), payload)
      .map(([name, data]) => `${name}data: ${data}\n\n`)
    const body = fc.oneof(
      fc.array(event, { maxLength: 12 }).map((events) => new TextEncoder().encode(events.join(""))),
      fc.uint8Array({ maxLength: 400 })
    )
    it.effect(`${format}: never a defect, always ends`, () =>
      Effect.gen(function*() {
        const samples = fc.sample(fc.tuple(body, fc.array(fc.nat(), { maxLength: 8 })), { numRuns: 400, seed: 17 })
        for (const [bytes, cuts] of samples) {
          checkOutcome(yield* run(format, splitAt(bytes, cuts), 4096), `${format} ${Buffer.from(bytes).toString("base64")}`)
        }
      }))
  }
})

layer(Emulator.layer(), { excludeTestServices: true })("Fuzz: mutated real streams", (it) => {
  for (const format of ["openai", "anthropic", "gemini"] as const) {
    it.effect(`${format}: mutations of valid streams end in success or a typed error with the exact partial`, () =>
      Effect.gen(function*() {
        const emulator = yield* Emulator.Emulator
        for (const scenario of ["tools", "reasoning", "unicode"] as const) {
          const valid = new TextEncoder().encode(yield* sendText(format, emulator, { scenario, stream: true }))
          // The unmutated stream decodes cleanly.
          const clean = yield* run(format, [valid])
          assert.isTrue(Exit.isSuccess(clean.exit), `${format}/${scenario} clean`)
          const samples = fc.sample(fc.tuple(fc.array(mutation, { minLength: 1, maxLength: 4 }), fc.array(fc.nat(), { maxLength: 6 })), {
            numRuns: 150,
            seed: 23
          })
          for (const [mutations, cuts] of samples) {
            const bytes = mutations.reduce(mutate, valid)
            checkOutcome(yield* run(format, splitAt(bytes, cuts)), `${format}/${scenario} ${JSON.stringify(mutations)}`)
          }
        }
      }))
  }

  it.effect("an endless line fails with DecodeError at the limit, memory bounded", () =>
    Effect.gen(function*() {
      const chunk = new TextEncoder().encode("x".repeat(64 * 1024))
      const reads = Stream.repeatValue(chunk).pipe(Stream.take(2048)) // 128 MiB if nothing stopped it
      const before = process.memoryUsage().heapUsed
      const exit = yield* WireDecoder.decodeBody(Stream.concat(Stream.make(new TextEncoder().encode("data: ")), reads), {
        provider: "fuzz",
        model: "m",
        decoder: decoders.openai(),
        mapBodyError: (e: never) => e,
        maxEventSize: 1024 * 1024
      }).pipe(Stream.runDrain, Effect.exit)
      const grown = process.memoryUsage().heapUsed - before
      assert.isTrue(Exit.isFailure(exit) && exit.cause._tag === "Fail" && exit.cause.error._tag === "DecodeError")
      assert.isBelow(grown, 64 * 1024 * 1024)
    }))
})
