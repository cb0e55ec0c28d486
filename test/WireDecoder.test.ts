import { assert, describe, it } from "@effect/vitest"
import { Completion, type StreamEvent, WireDecoder } from "@sluice/core"
import { Chunk, Effect, Exit, Stream } from "effect"
import { OpenAiStreamDecoder } from "../packages/providers/src/internal/OpenAiStreamDecoder.js"

const site = { provider: "test", model: "m", secrets: [] }
const words = ["the ", "quick ", "— ", "naïve ", "日本 "]
const chunk = (delta: unknown, finish: string | null = null) =>
  `data: ${JSON.stringify({ id: "c", object: "chat.completion.chunk", choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`
const body = (deltas: number, end = true) => {
  const parts = [chunk({ role: "assistant", content: "" })]
  for (let i = 0; i < deltas; i++) parts.push(chunk({ content: words[i % words.length] }))
  if (end) parts.push(chunk({}, "stop"), "data: [DONE]\n\n")
  return new TextEncoder().encode(parts.join(""))
}

/** The chunks the stage hands on for the given reads. */
const chunksOf = (reads: ReadonlyArray<Uint8Array>) =>
  WireDecoder.decodeBody(Stream.fromIterable(reads), {
    provider: site.provider,
    model: site.model,
    decoder: new OpenAiStreamDecoder(site),
    mapBodyError: (e: never) => e
  }).pipe(Stream.chunks, Stream.runCollect, Effect.map((cs) => Chunk.toReadonlyArray(cs).map(Chunk.toReadonlyArray)), Effect.exit)

describe("WireDecoder.decodeBody", () => {
  it.effect("a read of several slices is handed on slice by slice, with the same events as small reads", () =>
    Effect.gen(function*() {
      const bytes = body(3_000) // ~200 KB in one read
      assert.isAbove(bytes.length, 150_000)
      const big = yield* chunksOf([bytes])
      const small: Array<Uint8Array> = []
      for (let i = 0; i < bytes.length; i += 1_000) small.push(bytes.subarray(i, i + 1_000))
      const reference = yield* chunksOf(small)
      assert(Exit.isSuccess(big) && Exit.isSuccess(reference))
      // Handed on in several chunks (the first token does not wait for the whole read), nothing lost or repeated.
      assert.isAbove(big.value.length, 3)
      assert.isBelow(big.value[0].length, 1_000)
      const flat = (cs: ReadonlyArray<ReadonlyArray<StreamEvent.StreamEvent>>) => cs.flat()
      assert.deepStrictEqual(flat(big.value), flat(reference.value))
      const completion = Completion.fromEvents(flat(big.value))
      assert.strictEqual(completion.finishReason, "stop")
      assert.strictEqual(completion.text.length, flat(reference.value).filter((e) => e._tag === "TextDelta").map((e) => (e as StreamEvent.TextDelta).text).join("").length)
    }))

  it.effect("a large read cut off without a finish keeps every event of it in the partial", () =>
    Effect.gen(function*() {
      const bytes = body(2_000, false)
      const exit = yield* chunksOf([bytes.subarray(0, 70_000), bytes.subarray(70_000)])
      assert(Exit.isFailure(exit))
      const error = exit.cause._tag === "Fail" ? exit.cause.error : undefined
      assert.strictEqual(error?._tag, "IncompleteStream")
      let text = ""
      for (let i = 0; i < 2_000; i++) text += words[i % words.length]
      assert.strictEqual(error?.partial?.text, text)
    }))
})
