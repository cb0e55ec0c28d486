import { assert, describe, it } from "@effect/vitest"
import { Completion, type LlmError, type StreamEvent, WireDecoder } from "@sluice/core"
import { Effect, Either, Exit, Schema, Stream } from "effect"
import { harness, utf8 } from "./support/wire.js"
import * as fc from "fast-check"
import { OpenAiStreamDecoder } from "../packages/providers/src/internal/OpenAiStreamDecoder.js"
import * as OpenAiWire from "../packages/providers/src/internal/OpenAiWire.js"

const site = { provider: "test", model: "m", secrets: ["sk-secret-123456"] }
const sse = (...chunks: ReadonlyArray<unknown>) => chunks.map((c) => `data: ${typeof c === "string" ? c : JSON.stringify(c)}\n\n`).join("")

const { events, failure, run } = harness(site, () => new OpenAiStreamDecoder(site))

const chunk = (delta: object, finish: string | null = null, extra: object = {}) => ({
  id: "chatcmpl-1",
  object: "chat.completion.chunk",
  created: 1,
  model: "m",
  choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
  ...extra
})

describe("OpenAiStreamDecoder", () => {
  it.effect("decodes text, finish and the final usage chunk", () =>
    Effect.gen(function*() {
      const out = yield* events(
        sse(
          chunk({ role: "assistant", content: "", refusal: null }),
          chunk({ content: "Hel" }),
          chunk({ content: null }),
          chunk({ content: "lo" }),
          chunk({}, "stop"),
          {
            id: "chatcmpl-1",
            choices: [],
            usage: {
              prompt_tokens: 5,
              completion_tokens: 2,
              total_tokens: 7,
              prompt_tokens_details: { cached_tokens: 1 },
              completion_tokens_details: { reasoning_tokens: 0 }
            }
          },
          "[DONE]"
        )
      )
      assert.deepStrictEqual(out, [
        { _tag: "TextDelta", text: "Hel" },
        { _tag: "TextDelta", text: "lo" },
        { _tag: "Finish", reason: "stop", rawReason: "stop" },
        { _tag: "Usage", inputTokens: 5, outputTokens: 2, totalTokens: 7, cachedInputTokens: 1, reasoningTokens: 0 }
      ])
    }))

  it.effect("ignores Azure's prompt_filter_results chunk and a role-only chunk", () =>
    Effect.gen(function*() {
      const out = yield* events(
        sse(
          { id: "", object: "", created: 0, model: "", choices: [], prompt_filter_results: [{ prompt_index: 0, content_filter_results: {} }] },
          chunk({ role: "assistant" }),
          chunk({ content: "x" }, null, { choices: [{ index: 0, delta: { content: "x" }, content_filter_results: {} }] }),
          chunk({}, "stop"),
          "[DONE]"
        )
      )
      assert.deepStrictEqual(out.map((e) => e._tag), ["TextDelta", "Finish"])
    }))

  it.effect("takes the last cumulative usage and never sums (vLLM continuous usage)", () =>
    Effect.gen(function*() {
      const usage = (n: number) => ({ prompt_tokens: 10, completion_tokens: n, total_tokens: 10 + n })
      const out = yield* events(
        sse(
          chunk({ content: "a" }, null, { usage: usage(1) }),
          chunk({ content: "b" }, null, { usage: usage(2) }),
          chunk({ content: "c" }, null, { usage: usage(3) }),
          chunk({}, "length", { usage: usage(3) }),
          "[DONE]"
        )
      )
      const completion = Completion.fromEvents(out)
      assert.deepStrictEqual(completion.usage, { inputTokens: 10, outputTokens: 3, totalTokens: 13 })
      assert.strictEqual(completion.finishReason, "length")
      assert.strictEqual(out.filter((e) => e._tag === "Usage").length, 1)
    }))

  it.effect("reads usage on the finish chunk (DeepSeek) and under x_groq (Groq)", () =>
    Effect.gen(function*() {
      const deepseek = yield* events(
        sse(
          chunk({ reasoning_content: "think" }),
          chunk({ content: "a" }),
          chunk({}, "stop", { usage: { prompt_tokens: 3, completion_tokens: 4, total_tokens: 7, prompt_cache_hit_tokens: 2 } }),
          "[DONE]"
        )
      )
      const ds = Completion.fromEvents(deepseek)
      assert.strictEqual(ds.reasoning, "think")
      assert.deepStrictEqual(ds.usage, { inputTokens: 3, outputTokens: 4, totalTokens: 7, cachedInputTokens: 2 })
      const groq = yield* events(
        sse(
          chunk({ reasoning: "hmm" }),
          chunk({ content: "b" }),
          chunk({}, "stop", { x_groq: { id: "req_1", usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 } } }),
          "[DONE]"
        )
      )
      const gq = Completion.fromEvents(groq)
      assert.strictEqual(gq.reasoning, "hmm")
      assert.deepStrictEqual(gq.usage, { inputTokens: 1, outputTokens: 1, totalTokens: 2 })
    }))

  it.effect("assembles interleaved, fragmented tool calls whose index starts at 1", () =>
    Effect.gen(function*() {
      const call = (index: number, fields: object) => chunk({ tool_calls: [{ index, ...fields }] })
      const out = yield* events(
        sse(
          call(1, { id: "call_a", type: "function", function: { name: "weather", arguments: "" } }),
          call(2, { id: "call_b", type: "function", function: { name: "time", arguments: "{\"tz\":" } }),
          call(1, { function: { arguments: "{\"city\":" } }),
          call(2, { function: { arguments: "\"UTC\"}" } }),
          call(1, { function: { arguments: "\"Oslo\"}" } }),
          chunk({}, "tool_calls"),
          "[DONE]"
        )
      )
      const completion = Completion.fromEvents(out)
      assert.deepStrictEqual(completion.toolCalls, [
        { id: "call_a", name: "weather", arguments: "{\"city\":\"Oslo\"}" },
        { id: "call_b", name: "time", arguments: "{\"tz\":\"UTC\"}" }
      ])
      assert.strictEqual(completion.finishReason, "tool-calls")
    }))

  // Recorded from Mistral's Magistral (magistral-medium-2506): `delta.content` is an array of parts.
  const magistral = [
    `data: {"id":"b1d5f0e2a7c94e3f8a6d2c1b0e9f8a7d","object":"chat.completion.chunk","created":1750000000,"model":"magistral-medium-2506","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}\n\n`,
    `data: {"id":"b1d5f0e2a7c94e3f8a6d2c1b0e9f8a7d","object":"chat.completion.chunk","created":1750000000,"model":"magistral-medium-2506","choices":[{"index":0,"delta":{"content":[{"type":"thinking","thinking":[{"type":"text","text":"The user asks for 2 + 2."}]}]},"finish_reason":null}]}\n\n`,
    `data: {"id":"b1d5f0e2a7c94e3f8a6d2c1b0e9f8a7d","object":"chat.completion.chunk","created":1750000000,"model":"magistral-medium-2506","choices":[{"index":0,"delta":{"content":[{"type":"thinking","thinking":[{"type":"text","text":" That is 4."}]}]},"finish_reason":null}]}\n\n`,
    `data: {"id":"b1d5f0e2a7c94e3f8a6d2c1b0e9f8a7d","object":"chat.completion.chunk","created":1750000000,"model":"magistral-medium-2506","choices":[{"index":0,"delta":{"content":[{"type":"text","text":"2 + 2 = 4"}]},"finish_reason":null}]}\n\n`,
    `data: {"id":"b1d5f0e2a7c94e3f8a6d2c1b0e9f8a7d","object":"chat.completion.chunk","created":1750000000,"model":"magistral-medium-2506","choices":[{"index":0,"delta":{"content":""},"finish_reason":"stop"}],"usage":{"prompt_tokens":12,"total_tokens":40,"completion_tokens":28}}\n\n`,
    `data: [DONE]\n\n`
  ].join("")

  it.effect("reads content as an array of parts (Mistral's Magistral): thinking parts are reasoning, text parts text", () =>
    Effect.gen(function*() {
      const out = yield* events(magistral)
      assert.deepStrictEqual(out, [
        { _tag: "ReasoningDelta", text: "The user asks for 2 + 2." },
        { _tag: "ReasoningDelta", text: " That is 4." },
        { _tag: "TextDelta", text: "2 + 2 = 4" },
        { _tag: "Finish", reason: "stop", rawReason: "stop" },
        { _tag: "Usage", inputTokens: 12, outputTokens: 28, totalTokens: 40 }
      ])
    }))

  it.effect("content parts keep their order; unknown part types are skipped, malformed parts are DecodeError", () =>
    Effect.gen(function*() {
      const out = yield* events(
        sse(
          chunk({
            content: [
              { type: "thinking", thinking: [{ type: "text", text: "a" }, { type: "reference", reference_ids: [1] }, { type: "text", text: "b" }] },
              { type: "reference", reference_ids: [2] },
              { type: "text", text: "c" },
              { type: "thinking", thinking: "d" },
              { type: "refusal", refusal: "e" },
              { type: "text", text: "" }
            ]
          }),
          chunk({ content: [] }, "stop"),
          "[DONE]"
        )
      )
      assert.deepStrictEqual(out, [
        { _tag: "ReasoningDelta", text: "a" },
        { _tag: "ReasoningDelta", text: "b" },
        { _tag: "TextDelta", text: "c" },
        { _tag: "ReasoningDelta", text: "d" },
        { _tag: "TextDelta", text: "e" },
        { _tag: "Finish", reason: "stop", rawReason: "stop" }
      ])
      for (const content of [[{ type: "text", text: 1 }], [{ text: "x" }], ["x"], [{ type: "thinking", thinking: [{ type: "text" }] }], [{ type: "thinking" }], { type: "text", text: "x" }]) {
        const error = yield* failure(sse(chunk({ content: "ok" }), chunk({ content }), chunk({}, "stop")))
        assert.strictEqual(error._tag, "DecodeError", JSON.stringify(content))
        assert.strictEqual(error.partial?.text, "ok")
      }
    }))

  it.effect("maps every finish reason", () =>
    Effect.gen(function*() {
      const cases: ReadonlyArray<readonly [string, StreamEvent.FinishReason]> = [
        ["stop", "stop"],
        ["length", "length"],
        ["tool_calls", "tool-calls"],
        ["function_call", "tool-calls"],
        ["content_filter", "content-filter"],
        ["insufficient_system_resource", "other"]
      ]
      for (const [raw, reason] of cases) {
        const out = yield* events(sse(chunk({ content: "x" }), chunk({}, raw), "[DONE]"))
        assert.deepStrictEqual(out[1], { _tag: "Finish", reason, rawReason: raw })
      }
    }))

  it.effect("[DONE] without a finish reason is IncompleteStream with the partial", () =>
    Effect.gen(function*() {
      const error = yield* failure(sse(chunk({ content: "Hello " }), chunk({ content: "wor" }), "[DONE]"))
      assert.strictEqual(error._tag, "IncompleteStream")
      if (error._tag === "IncompleteStream") {
        assert.strictEqual(error.ending, "done-without-finish")
        assert.strictEqual(error.partial?.text, "Hello wor")
      }
    }))

  it.effect("EOF without a finish is IncompleteStream; mid-event EOF says so", () =>
    Effect.gen(function*() {
      const eof = yield* failure(sse(chunk({ content: "Hi" })))
      assert.strictEqual(eof._tag === "IncompleteStream" && eof.ending, "eof")
      const mid = yield* failure(sse(chunk({ content: "Hi" })) + "data: {\"id\":\"chatcmpl-1\",\"choi")
      assert.strictEqual(mid._tag === "IncompleteStream" && mid.ending, "ended-mid-event")
      assert.strictEqual(mid.partial?.text, "Hi")
      const nothing = yield* failure("")
      assert.strictEqual(nothing._tag, "IncompleteStream")
      assert.isUndefined(nothing.partial)
    }))

  it.effect("a finish without [DONE] is complete (servers that omit the terminator)", () =>
    Effect.gen(function*() {
      const out = yield* events(sse(chunk({ content: "Hi" }), chunk({}, "stop")))
      assert.strictEqual(Completion.fromEvents(out).finishReason, "stop")
    }))

  it.effect("an error payload mid-stream is ProviderStreamError, classified, with the provider's message", () =>
    Effect.gen(function*() {
      const error = yield* failure(
        sse(chunk({ content: "partial" }), { error: { message: "overloaded for sk-secret-123456", type: "server_error", code: null } })
      )
      assert.strictEqual(error._tag, "ProviderStreamError")
      if (error._tag === "ProviderStreamError") {
        assert.isTrue(error.retryable)
        assert.strictEqual(error.partial?.text, "partial")
        // As sent: the adapter scrubs every failure it hands on of the key (test/Secrets.test.ts).
        assert.strictEqual(error.providerMessage, "overloaded for sk-secret-123456")
      }
      const invalid = yield* failure(sse({ error: { message: "bad", type: "invalid_request_error" } }))
      assert.isFalse(invalid._tag === "ProviderStreamError" && invalid.retryable)
      const openrouter = yield* failure(sse({ error: { message: "upstream", code: 502 } }))
      assert.isTrue(openrouter._tag === "ProviderStreamError" && openrouter.retryable)
    }))

  it.effect("malformed JSON and off-schema chunks are DecodeError with the partial", () =>
    Effect.gen(function*() {
      const malformed = yield* failure(sse(chunk({ content: "ok" }), "{\"id\": ") + sse(chunk({ content: "never" })))
      assert.strictEqual(malformed._tag, "DecodeError")
      assert.strictEqual(malformed.partial?.text, "ok")
      const wrong = yield* failure(sse(chunk({ content: "ok" }), { id: "x", choices: "oops" }))
      assert.strictEqual(wrong._tag, "DecodeError")
      if (wrong._tag === "DecodeError") assert.include(wrong.reason, "choices")
      const badDelta = yield* failure(sse(chunk({ content: 42 })))
      assert.strictEqual(badDelta._tag, "DecodeError")
      assert.isUndefined(badDelta.partial)
    }))

  it.effect("events emitted before a failure in the same read still reach the caller", () =>
    Effect.gen(function*() {
      const body = sse(chunk({ content: "a" }), chunk({ content: "b" }), "not json")
      const collected: Array<StreamEvent.StreamEvent> = []
      const result = yield* WireDecoder.decodeBody(Stream.make(utf8(body)), {
        provider: "test",
        model: "m",
        decoder: new OpenAiStreamDecoder(site),
        mapBodyError: (e: never) => e
      }).pipe(
        Stream.runForEach((e) => Effect.sync(() => collected.push(e))),
        Effect.either
      )
      assert.isTrue(Either.isLeft(result))
      assert.deepStrictEqual(collected.map((e) => e._tag === "TextDelta" ? e.text : e._tag), ["a", "b"])
      if (Either.isLeft(result)) assert.strictEqual(result.left.partial?.text, "ab")
    }))

  it.effect("any read boundaries give the same events", () =>
    Effect.gen(function*() {
      const body = sse(
        chunk({ role: "assistant", content: "" }),
        chunk({ content: "h\u00e9llo \u4f60\u597d \ud83c\udf0d" }),
        chunk({ tool_calls: [{ index: 0, id: "c", function: { name: "f", arguments: "{}" } }] }),
        chunk({}, "stop", { usage: { prompt_tokens: 1, completion_tokens: 2, total_tokens: 3 } }),
        "[DONE]"
      ).replaceAll("\n\n", "\r\n\r\n")
      const whole = yield* events(body)
      const length = utf8(body).length
      const samples = fc.sample(fc.uniqueArray(fc.integer({ min: 1, max: length - 1 }), { maxLength: 12 }), { numRuns: 100, seed: 5 })
      for (const cuts of samples) {
        const exit = yield* run(body, [...cuts].sort((a, b) => a - b))
        assert.isTrue(Exit.isSuccess(exit))
        if (Exit.isSuccess(exit)) assert.deepStrictEqual(exit.value, whole)
      }
    }))
})

describe("OpenAI chunk fast check agrees with the wire Schema", () => {
  const str = fc.oneof(fc.string({ maxLength: 3 }), fc.constant(null), fc.integer(), fc.constant(undefined))
  const num = fc.oneof(fc.integer({ min: 0, max: 100 }), fc.constant(null), fc.string({ maxLength: 2 }), fc.constant(undefined))
  const maybe = <A>(arb: fc.Arbitrary<A>) => fc.oneof(arb, fc.constant(undefined), fc.constant(null), fc.constant("x"), fc.constant(1))
  const usage = fc.record(
    {
      prompt_tokens: num,
      completion_tokens: num,
      total_tokens: num,
      prompt_tokens_details: maybe(fc.record({ cached_tokens: num }, { requiredKeys: [] })),
      completion_tokens_details: maybe(fc.record({ reasoning_tokens: num }, { requiredKeys: [] })),
      prompt_cache_hit_tokens: num
    },
    { requiredKeys: [] }
  )
  const toolCall = fc.record(
    { index: num, id: str, type: str, function: maybe(fc.record({ name: str, arguments: str }, { requiredKeys: [] })) },
    { requiredKeys: [] }
  )
  const partType = fc.oneof(fc.constantFrom("text", "thinking", "refusal", "reference"), fc.constant(1), fc.constant(undefined))
  const innerPart = maybe(fc.record({ type: partType, text: str }, { requiredKeys: [] }))
  const part = maybe(
    fc.record(
      { type: partType, text: str, refusal: str, thinking: fc.oneof(str, fc.array(innerPart, { maxLength: 2 })) },
      { requiredKeys: [] }
    )
  )
  const content = fc.oneof(str, fc.array(part, { maxLength: 3 }))
  const delta = fc.record(
    { role: str, content, reasoning_content: str, reasoning: str, refusal: str, tool_calls: maybe(fc.array(maybe(toolCall), { maxLength: 2 })) },
    { requiredKeys: [] }
  )
  const choice = fc.record({ index: num, delta: maybe(delta), finish_reason: str }, { requiredKeys: [] })
  const chunkArb = fc.record(
    {
      id: str,
      choices: maybe(fc.array(maybe(choice), { maxLength: 2 })),
      usage: maybe(usage),
      x_groq: maybe(fc.record({ usage: maybe(usage) }, { requiredKeys: [] }))
    },
    { requiredKeys: [] }
  )
  const isChunk = Schema.is(OpenAiWire.ChatCompletionChunk)

  it("accepts exactly what the Schema accepts", () => {
    fc.assert(
      fc.property(chunkArb, (value) => {
        // JSON round trip: the decoder only ever sees parsed JSON (no undefined values).
        const json: unknown = JSON.parse(JSON.stringify(value))
        const decoder = new OpenAiStreamDecoder(site)
        const result = decoder.onEvent({ event: "message", data: JSON.stringify(json), id: undefined, retry: undefined }, [])
        const accepted = result === undefined
        const isError = typeof result === "object" && (result satisfies LlmError.LlmError)._tag === "DecodeError"
        assert.strictEqual(accepted, isChunk(json), JSON.stringify(json))
        assert.isTrue(accepted || isError)
      }),
      { numRuns: 3000, seed: 1 }
    )
  })
})
