import type * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import { assert, describe, it } from "@effect/vitest"
import { type ChatRequest, Completion, LanguageModel, type LlmError, type StreamEvent } from "@sluice/core"
import { Anthropic } from "@sluice/providers"
import { Config, ConfigProvider, Effect, Either, Exit, Layer, Redacted, Schema, Stream } from "effect"
import { fakeHttpClient as fake } from "./support/fakeHttpClient.js"
import { harness, utf8 } from "./support/wire.js"
import * as fc from "fast-check"
import * as AnthropicRequest from "../packages/providers/src/internal/AnthropicRequest.js"
import { AnthropicStreamDecoder } from "../packages/providers/src/internal/AnthropicStreamDecoder.js"
import * as AnthropicWire from "../packages/providers/src/internal/AnthropicWire.js"

const key = "sk-ant-secret-123456"
const site = { provider: "anthropic", model: "claude-x", secrets: [key] }

/** Anthropic's framing: a named event per JSON payload. */
const sse = (...events: ReadonlyArray<object | string>) =>
  events
    .map((e) => {
      if (typeof e === "string") return `event: raw\ndata: ${e}\n\n`
      const type = "type" in e && typeof e.type === "string" ? e.type : "message"
      return `event: ${type}\ndata: ${JSON.stringify(e)}\n\n`
    })
    .join("")

const { events, failure, run } = harness(site, () => new AnthropicStreamDecoder(site))

const messageStart = (usage: object = { input_tokens: 12, output_tokens: 1 }) => ({
  type: "message_start",
  message: {
    id: "msg_01",
    type: "message",
    role: "assistant",
    model: "claude-x",
    content: [],
    stop_reason: null,
    stop_sequence: null,
    usage
  }
})
const blockStart = (index: number, content_block: object) => ({ type: "content_block_start", index, content_block })
const delta = (index: number, d: object) => ({ type: "content_block_delta", index, delta: d })
const text = (index: number, t: string) => delta(index, { type: "text_delta", text: t })
const json = (index: number, partial_json: string) => delta(index, { type: "input_json_delta", partial_json })
const blockStop = (index: number) => ({ type: "content_block_stop", index })
const messageDelta = (stop_reason: string | null, usage: object | null = { output_tokens: 7 }) => ({
  type: "message_delta",
  delta: { stop_reason, stop_sequence: null },
  usage
})
const ping = { type: "ping" }
const stop = { type: "message_stop" }

describe("AnthropicStreamDecoder", () => {
  it.effect("decodes text, the stop reason and usage with cache figures", () =>
    Effect.gen(function*() {
      const out = yield* events(
        sse(
          messageStart({ input_tokens: 12, cache_creation_input_tokens: 100, cache_read_input_tokens: 30, output_tokens: 1 }),
          blockStart(0, { type: "text", text: "" }),
          ping,
          text(0, "Hel"),
          text(0, ""),
          text(0, "lo"),
          blockStop(0),
          messageDelta("end_turn", { output_tokens: 30 }),
          stop
        )
      )
      assert.deepStrictEqual(out, [
        { _tag: "TextDelta", text: "Hel" },
        { _tag: "TextDelta", text: "lo" },
        { _tag: "Finish", reason: "stop", rawReason: "end_turn" },
        { _tag: "Usage", inputTokens: 142, outputTokens: 30, totalTokens: 172, cachedInputTokens: 30 }
      ])
    }))

  it.effect("streams thinking as reasoning; signatures and redacted thinking stay out", () =>
    Effect.gen(function*() {
      const out = yield* events(
        sse(
          messageStart(),
          blockStart(0, { type: "thinking", thinking: "", signature: "" }),
          delta(0, { type: "thinking_delta", thinking: "Let me " }),
          delta(0, { type: "thinking_delta", thinking: "think." }),
          delta(0, { type: "signature_delta", signature: "EqQBCgIYAhIM" }),
          blockStop(0),
          blockStart(1, { type: "redacted_thinking", data: "EmwKAhgBEgy3va3pzix" }),
          blockStop(1),
          blockStart(2, { type: "text", text: "" }),
          text(2, "Answer"),
          blockStop(2),
          messageDelta("end_turn"),
          stop
        )
      )
      const completion = Completion.fromEvents(out)
      assert.strictEqual(completion.reasoning, "Let me think.")
      assert.strictEqual(completion.text, "Answer")
      assert.deepStrictEqual(out.map((e) => e._tag), ["ReasoningDelta", "ReasoningDelta", "TextDelta", "Finish", "Usage"])
    }))

  it.effect("assembles interleaved, fragmented tool calls with dense indices; no input deltas means {}", () =>
    Effect.gen(function*() {
      const out = yield* events(
        sse(
          messageStart(),
          blockStart(0, { type: "text", text: "" }),
          text(0, "Checking."),
          blockStop(0),
          blockStart(1, { type: "tool_use", id: "toolu_a", name: "weather", input: {} }),
          blockStart(2, { type: "tool_use", id: "toolu_b", name: "time", input: {} }),
          json(1, ""),
          json(1, "{\"city\":"),
          json(2, "{\"tz\":\"UTC\"}"),
          json(1, " \"Oslo\"}"),
          blockStop(1),
          blockStop(2),
          blockStart(3, { type: "server_tool_use", id: "srvtoolu_1", name: "web_search", input: {} }),
          json(3, "{\"query\":\"x\"}"),
          blockStop(3),
          blockStart(4, { type: "tool_use", id: "toolu_c", name: "now", input: {} }),
          json(4, ""),
          blockStop(4),
          messageDelta("tool_use"),
          stop
        )
      )
      const calls = out.filter((e) => e._tag === "ToolCallDelta")
      assert.deepStrictEqual(calls[0], { _tag: "ToolCallDelta", index: 0, id: "toolu_a", name: "weather", argumentsDelta: "" })
      assert.deepStrictEqual(calls.map((e) => e.index), [0, 1, 0, 1, 0, 2, 2])
      const completion = Completion.fromEvents(out)
      assert.deepStrictEqual(completion.toolCalls, [
        { id: "toolu_a", name: "weather", arguments: "{\"city\": \"Oslo\"}" },
        { id: "toolu_b", name: "time", arguments: "{\"tz\":\"UTC\"}" },
        { id: "toolu_c", name: "now", arguments: "{}" }
      ])
      assert.strictEqual(completion.text, "Checking.")
      assert.strictEqual(completion.finishReason, "tool-calls")
    }))

  it.effect("a tool_use whose start already holds the input (proxies) gets that input", () =>
    Effect.gen(function*() {
      const out = yield* events(
        sse(
          messageStart(),
          blockStart(0, { type: "tool_use", id: "toolu_a", name: "f", input: { a: 1 } }),
          blockStop(0),
          messageDelta("tool_use"),
          stop
        )
      )
      assert.deepStrictEqual(Completion.fromEvents(out).toolCalls, [{ id: "toolu_a", name: "f", arguments: "{\"a\":1}" }])
    }))

  it.effect("usage: input from message_start, output from message_delta; the last figure wins, never summed", () =>
    Effect.gen(function*() {
      const out = yield* events(
        sse(
          messageStart({ input_tokens: 10, output_tokens: 1 }),
          blockStart(0, { type: "text", text: "" }),
          text(0, "a"),
          blockStop(0),
          messageDelta("end_turn", { output_tokens: 5 }),
          messageDelta(null, { output_tokens: 5 }),
          messageDelta(null, { output_tokens: 6, input_tokens: 11, cache_read_input_tokens: 4, cache_creation_input_tokens: null }),
          stop
        )
      )
      const usages = out.filter((e) => e._tag === "Usage")
      assert.deepStrictEqual(usages, [
        { _tag: "Usage", inputTokens: 10, outputTokens: 5, totalTokens: 15 },
        { _tag: "Usage", inputTokens: 15, outputTokens: 6, totalTokens: 21, cachedInputTokens: 4 }
      ])
      assert.deepStrictEqual(Completion.fromEvents(out).usage, { inputTokens: 15, outputTokens: 6, totalTokens: 21, cachedInputTokens: 4 })
      // Usage is never ahead of the finish.
      assert.strictEqual(out.findIndex((e) => e._tag === "Usage"), out.findIndex((e) => e._tag === "Finish") + 1)
    }))

  it.effect("maps every stop reason", () =>
    Effect.gen(function*() {
      const cases: ReadonlyArray<readonly [string, StreamEvent.FinishReason]> = [
        ["end_turn", "stop"],
        ["stop_sequence", "stop"],
        ["max_tokens", "length"],
        ["model_context_window_exceeded", "length"],
        ["tool_use", "tool-calls"],
        ["refusal", "content-filter"],
        ["pause_turn", "other"],
        ["something_new", "other"]
      ]
      for (const [raw, reason] of cases) {
        const out = yield* events(sse(messageStart(), blockStart(0, { type: "text", text: "" }), text(0, "x"), messageDelta(raw), stop))
        assert.deepStrictEqual(out[1], { _tag: "Finish", reason, rawReason: raw })
      }
    }))

  it.effect("an error event mid-stream is ProviderStreamError, retryable by its type, with the exact partial", () =>
    Effect.gen(function*() {
      const types: ReadonlyArray<readonly [string, boolean]> = [
        ["overloaded_error", true],
        ["api_error", true],
        ["rate_limit_error", true],
        ["timeout_error", true],
        ["invalid_request_error", false],
        ["authentication_error", false],
        ["permission_error", false],
        ["not_found_error", false],
        ["request_too_large", false],
        ["billing_error", false]
      ]
      for (const [type, retryable] of types) {
        const error = yield* failure(
          sse(
            messageStart(),
            blockStart(0, { type: "text", text: "" }),
            text(0, "partial "),
            blockStart(1, { type: "tool_use", id: "toolu_a", name: "f", input: {} }),
            json(1, "{\"a\""),
            { type: "error", error: { type, message: `Overloaded for ${key}` } },
            text(0, "never")
          )
        )
        assert.strictEqual(error._tag, "ProviderStreamError")
        if (error._tag === "ProviderStreamError") {
          assert.strictEqual(error.retryable, retryable, type)
          assert.strictEqual(error.errorType, type)
          // As sent: the adapter scrubs every failure it hands on of the key (test/Secrets.test.ts).
          assert.strictEqual(error.providerMessage, `Overloaded for ${key}`)
          assert.deepStrictEqual(error.partial, {
            text: "partial ",
            reasoning: "",
            toolCalls: [{ id: "toolu_a", name: "f", arguments: "{\"a\"" }],
            usage: null,
            finishReason: null
          })
        }
      }
    }))

  it.effect("usage left out of message_start: a complete answer; usage only when both counts are known", () =>
    Effect.gen(function*() {
      const withoutUsage = { type: "message_start", message: { id: "msg_01", type: "message", role: "assistant", model: "claude-x", content: [] } }
      const body = (start: object, deltaUsage: object | null) =>
        sse(start, blockStart(0, { type: "text", text: "" }), text(0, "Hi"), blockStop(0), messageDelta("end_turn", deltaUsage), stop)
      // no usage anywhere (a gateway that drops it): the answer is whole, without usage
      const none = Completion.fromEvents(yield* events(body(withoutUsage, null)))
      assert.deepStrictEqual(none, { text: "Hi", reasoning: "", toolCalls: [], usage: null, finishReason: "stop" })
      // usage: null in message_start is the same
      const nulled = Completion.fromEvents(yield* events(body({ ...withoutUsage, message: { ...withoutUsage.message, usage: null } }, null)))
      assert.isNull(nulled.usage)
      // only the output count: the input is unknown, so no Usage (not inputTokens 0)
      const outputOnly = yield* events(body(withoutUsage, { output_tokens: 7 }))
      assert.isFalse(outputOnly.some((e) => e._tag === "Usage"))
      // newer API versions repeat the input figures in message_delta: then the usage is whole
      const repeated = Completion.fromEvents(yield* events(body(withoutUsage, { output_tokens: 7, input_tokens: 12 })))
      assert.deepStrictEqual(repeated.usage, { inputTokens: 12, outputTokens: 7, totalTokens: 19 })
    }))

  it.effect("malformed JSON and off-schema events are DecodeError; unknown event types are ignored", () =>
    Effect.gen(function*() {
      const malformed = yield* failure(
        sse(messageStart(), blockStart(0, { type: "text", text: "" }), text(0, "ok")) + "event: content_block_delta\ndata: {\"type\": \n\n"
      )
      assert.strictEqual(malformed._tag, "DecodeError")
      assert.deepStrictEqual(malformed.partial, { text: "ok", reasoning: "", toolCalls: [], usage: null, finishReason: null })
      const offSchema: ReadonlyArray<object | string> = [
        delta(0, { type: "text_delta", text: 5 }),
        delta(0, { type: "input_json_delta" }),
        { type: "content_block_delta", delta: { type: "text_delta", text: "x" } },
        // usage may be left out (see the omitted-usage test), but when present it needs input_tokens
        { ...messageStart(), message: { id: "msg", model: "m", usage: { output_tokens: 1 } } },
        { ...messageStart(), message: { model: "m" } },
        blockStart(0, { type: "tool_use", name: "f" }),
        blockStart(0, { type: "text" }),
        { type: "message_delta", delta: { stop_reason: 3 } },
        { type: "content_block_stop" },
        { no: "type" },
        "[1,2]"
      ]
      for (const bad of offSchema) {
        const error = yield* failure(sse(messageStart(), bad, messageDelta("end_turn"), stop))
        assert.strictEqual(error._tag, "DecodeError", JSON.stringify(bad))
        assert.isUndefined(error.partial)
      }
      const decodeError = yield* failure(sse(messageStart(), delta(0, { type: "text_delta", text: 5 })))
      if (decodeError._tag === "DecodeError") assert.include(decodeError.reason, "text")
      const unknown = yield* events(
        sse(
          messageStart(),
          { type: "brand_new_event", payload: 1 },
          blockStart(0, { type: "text", text: "", citations: [] }),
          delta(0, { type: "citations_delta", citation: {} }),
          text(0, "x"),
          messageDelta("end_turn"),
          stop
        )
      )
      assert.strictEqual(Completion.fromEvents(unknown).text, "x")
    }))

  it.effect("EOF without a stop reason is IncompleteStream with the exact partial", () =>
    Effect.gen(function*() {
      const eof = yield* failure(sse(messageStart(), blockStart(0, { type: "text", text: "" }), text(0, "Hel"), text(0, "lo")))
      assert.strictEqual(eof._tag === "IncompleteStream" && eof.ending, "eof")
      assert.deepStrictEqual(eof.partial, { text: "Hello", reasoning: "", toolCalls: [], usage: null, finishReason: null })
      const noStop = yield* failure(sse(messageStart(), blockStart(0, { type: "text", text: "" }), text(0, "Hi"), blockStop(0), stop))
      assert.strictEqual(noStop._tag === "IncompleteStream" && noStop.ending, "done-without-finish")
      assert.strictEqual(noStop.partial?.text, "Hi")
      const mid = yield* failure(
        sse(messageStart(), blockStart(0, { type: "text", text: "" }), text(0, "Hi")) + "event: content_block_delta\ndata: {\"type\":\"con"
      )
      assert.strictEqual(mid._tag === "IncompleteStream" && mid.ending, "ended-mid-event")
      const nothing = yield* failure(sse(messageStart(), ping))
      assert.strictEqual(nothing._tag, "IncompleteStream")
      assert.isUndefined(nothing.partial)
    }))

  // Recorded through a proxy that retried a cut response and spliced the retry onto it: the first
  // message stops inside its tool call's arguments, and a second message_start follows.
  const splicedPrefix = [
    `event: message_start\ndata: {"type":"message_start","message":{"id":"msg_01XFDUDYJgAACzvnptvVoYEL","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":472,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":2}}}\n\n`,
    `event: content_block_start\ndata: {"type":"content_block_start","index":0,"content_block":{"type":"tool_use","id":"toolu_01T1x1fJ34qAmk2tNTrN7Up6","name":"record","input":{}}}\n\n`,
    `event: ping\ndata: {"type": "ping"}\n\n`,
    `event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":""}}\n\n`,
    `event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":"{\\"value\\":\\"Spark"}}\n\n`
  ].join("")
  const splicedRetry = [
    `event: message_start\ndata: {"type":"message_start","message":{"id":"msg_01Q8Faay6S7oBtWxV1GAcgiS","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":472,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":2}}}\n\n`,
    `event: content_block_start\ndata: {"type":"content_block_start","index":0,"content_block":{"type":"tool_use","id":"toolu_01VzR6j8mF4cJrDg3wXeqkT9","name":"record","input":{}}}\n\n`,
    `event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":""}}\n\n`,
    `event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":"{\\"value\\":\\"Sparkle\\"}"}}\n\n`,
    `event: content_block_stop\ndata: {"type":"content_block_stop","index":0}\n\n`,
    `event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":41}}\n\n`,
    `event: message_stop\ndata: {"type":"message_stop"}\n\n`
  ].join("")

  it.effect("a second message_start before the first message ended (a spliced retry) is IncompleteStream: the cut tool call is never complete", () =>
    Effect.gen(function*() {
      const exit = yield* run(splicedPrefix + splicedRetry)
      assert.isTrue(Exit.isFailure(exit))
      const error = yield* failure(splicedPrefix + splicedRetry)
      assert.strictEqual(error._tag, "IncompleteStream")
      assert.strictEqual(error._tag === "IncompleteStream" && error.ending, "restarted")
      assert.include(error.message, "a second message_start")
      // What the caller received: the first message's deltas, its tool call cut off, no finish.
      assert.deepStrictEqual(error.partial, {
        text: "",
        reasoning: "",
        toolCalls: [{ id: "toolu_01T1x1fJ34qAmk2tNTrN7Up6", name: "record", arguments: "{\"value\":\"Spark" }],
        usage: null,
        finishReason: null
      })
      // Split anywhere, the same failure.
      for (const cut of [1, splicedPrefix.length - 1, splicedPrefix.length, splicedPrefix.length + 7]) {
        const split = yield* run(splicedPrefix + splicedRetry, [cut])
        assert.isTrue(Exit.isFailure(split) && split.cause._tag === "Fail" && split.cause.error._tag === "IncompleteStream" && split.cause.error.ending === "restarted")
      }
    }))

  it.effect("a second message_start after the first message's stop reason ends the stream with the first answer", () =>
    Effect.gen(function*() {
      const finished = sse(messageStart(), blockStart(0, { type: "text", text: "" }), text(0, "Hi!"), blockStop(0), messageDelta("end_turn"))
      const out = yield* events(finished + splicedRetry)
      assert.deepStrictEqual(Completion.fromEvents(out), {
        text: "Hi!",
        reasoning: "",
        toolCalls: [],
        usage: { inputTokens: 12, outputTokens: 7, totalTokens: 19 },
        finishReason: "stop"
      })
    }))

  it.effect("any read boundaries give the same events", () =>
    Effect.gen(function*() {
      const body = sse(
        messageStart({ input_tokens: 3, output_tokens: 1 }),
        blockStart(0, { type: "thinking", thinking: "" }),
        delta(0, { type: "thinking_delta", thinking: "h\u00e9 \u4f60" }),
        blockStop(0),
        blockStart(1, { type: "text", text: "" }),
        text(1, "h\u00e9llo \ud83c\udf0d"),
        blockStop(1),
        blockStart(2, { type: "tool_use", id: "t", name: "f", input: {} }),
        json(2, "{\"x\":"),
        json(2, "1}"),
        blockStop(2),
        messageDelta("tool_use", { output_tokens: 9 }),
        stop
      )
      const whole = yield* events(body)
      const length = utf8(body).length
      const samples = fc.sample(fc.uniqueArray(fc.integer({ min: 1, max: length - 1 }), { maxLength: 12 }), { numRuns: 100, seed: 7 })
      for (const cuts of samples) {
        const exit = yield* run(body, [...cuts].sort((a, b) => a - b))
        assert.isTrue(Exit.isSuccess(exit))
        if (Exit.isSuccess(exit)) assert.deepStrictEqual(exit.value, whole)
      }
    }))
})

describe("Anthropic content_block_delta fast check agrees with the wire Schema", () => {
  // Weighted towards well-formed values so that both sides of the property are exercised.
  const str = fc.oneof({ arbitrary: fc.string({ maxLength: 3 }), weight: 6 }, fc.constant(null), fc.integer(), fc.constant(undefined))
  const deltaArb = fc.oneof(
    {
      arbitrary: fc.record(
        {
          type: fc.constantFrom("text_delta", "input_json_delta", "thinking_delta", "signature_delta", "citations_delta", 5),
          text: str,
          partial_json: str,
          thinking: str,
          signature: str
        },
        { requiredKeys: [] }
      ),
      weight: 8
    },
    fc.constantFrom(null, "x", 1, [])
  )
  const eventArb = fc.record(
    {
      type: fc.constant("content_block_delta"),
      index: fc.oneof({ arbitrary: fc.integer({ min: 0, max: 3 }), weight: 8 }, fc.constant("0"), fc.constant(null)),
      delta: deltaArb
    },
    { requiredKeys: ["type"] }
  )
  const isDelta = Schema.is(AnthropicWire.ContentBlockDelta)

  it("accepts exactly what the Schema accepts", () => {
    fc.assert(
      fc.property(eventArb, (value) => {
        const json: unknown = JSON.parse(JSON.stringify(value))
        const result = new AnthropicStreamDecoder(site).onEvent(
          { event: "content_block_delta", data: JSON.stringify(json), id: undefined, retry: undefined },
          []
        )
        const accepted = result === undefined
        const isError = typeof result === "object" && (result satisfies LlmError.LlmError)._tag === "DecodeError"
        assert.strictEqual(accepted, isDelta(json), JSON.stringify(json))
        assert.isTrue(accepted || isError)
      }),
      { numRuns: 3000, seed: 3 }
    )
  })
})

describe("Anthropic request body", () => {
  const options: AnthropicRequest.BodyOptions = { stream: true, defaultMaxTokens: 4096, jsonMode: "native", extraBody: undefined }
  const tools: ChatRequest.ChatRequest["tools"] = [
    { name: "weather", description: "Weather in a city", parameters: { type: "object", properties: { city: { type: "string" } } } },
    { name: "time", parameters: { type: "object" } }
  ]

  it("maps system, tool calls, merged tool results, tools and tool choice", () => {
    const body = AnthropicRequest.body(
      {
        model: "claude-x",
        messages: [
          { role: "system", content: "Be brief." },
          { role: "user", content: "Weather and time in Oslo?" },
          {
            role: "assistant",
            content: "Checking.",
            toolCalls: [{ id: "toolu_a", name: "weather", arguments: "{\"city\":\"Oslo\"}" }, { id: "toolu_b", name: "time", arguments: "" }]
          },
          { role: "tool", toolCallId: "toolu_a", content: "cold" },
          { role: "tool", toolCallId: "toolu_b", content: "noon" },
          { role: "system", content: "Answer in English." },
          { role: "user", content: "Thanks" }
        ],
        temperature: 0.2,
        topP: 0.9,
        stop: ["END"],
        tools,
        toolChoice: "required"
      },
      options
    )
    assert.deepStrictEqual(body, Either.right({
      model: "claude-x",
      max_tokens: 4096,
      messages: [
        { role: "user", content: "Weather and time in Oslo?" },
        {
          role: "assistant",
          content: [
            { type: "text", text: "Checking." },
            { type: "tool_use", id: "toolu_a", name: "weather", input: { city: "Oslo" } },
            { type: "tool_use", id: "toolu_b", name: "time", input: {} }
          ]
        },
        {
          role: "user",
          content: [
            { type: "tool_result", tool_use_id: "toolu_a", content: "cold" },
            { type: "tool_result", tool_use_id: "toolu_b", content: "noon" }
          ]
        },
        { role: "user", content: "Thanks" }
      ],
      system: "Be brief.\n\nAnswer in English.",
      stream: true,
      temperature: 0.2,
      top_p: 0.9,
      stop_sequences: ["END"],
      tools: [
        {
          name: "weather",
          description: "Weather in a city",
          input_schema: { type: "object", properties: { city: { type: "string" } } }
        },
        { name: "time", input_schema: { type: "object" } }
      ],
      tool_choice: { type: "any" }
    }))
  })

  it("maps each tool choice and the request's max tokens", () => {
    const choice = (toolChoice: ChatRequest.ToolChoice) =>
      Either.map(
        AnthropicRequest.body({ model: "m", messages: [{ role: "user", content: "x" }], toolChoice, maxTokens: 10 }, options),
        (b) => [b.tool_choice, b.max_tokens]
      )
    assert.deepStrictEqual(choice("auto"), Either.right([{ type: "auto" }, 10]))
    assert.deepStrictEqual(choice("none"), Either.right([{ type: "none" }, 10]))
    assert.deepStrictEqual(choice({ tool: "weather" }), Either.right([{ type: "tool", name: "weather" }, 10]))
  })

  it("asks for JSON natively with a schema, by instruction without one (or when told)", () => {
    const request = (responseFormat: ChatRequest.ResponseFormat): ChatRequest.ChatRequest => ({
      model: "m",
      messages: [{ role: "system", content: "S" }, { role: "user", content: "x" }],
      responseFormat
    })
    const schema = { type: "object", properties: { a: { type: "number" } }, required: ["a"], additionalProperties: false }
    const native = AnthropicRequest.body(request({ type: "json-schema", name: "A", schema }), options)
    assert.deepStrictEqual(Either.map(native, (b) => [b.output_config, b.system]), Either.right([{ format: { type: "json_schema", schema } }, "S"]))
    const json = AnthropicRequest.body(request({ type: "json" }), options)
    assert.isTrue(Either.isRight(json) && typeof json.right.system === "string" && json.right.system.startsWith("S\n\nRespond with a single valid JSON"))
    const instructed = AnthropicRequest.body(request({ type: "json-schema", name: "A", schema }), { ...options, jsonMode: "instruction" })
    assert.isTrue(Either.isRight(instructed) && instructed.right.output_config === undefined && String(instructed.right.system).includes("\"additionalProperties\":false"))
    const plain = AnthropicRequest.body(request({ type: "text" }), options)
    assert.deepStrictEqual(Either.map(plain, (b) => b.system), Either.right("S"))
  })

  it("refuses tool calls whose arguments are not a JSON object", () => {
    const body = AnthropicRequest.body(
      { model: "m", messages: [{ role: "assistant", content: "", toolCalls: [{ id: "t", name: "f", arguments: "[1]" }] }] },
      options
    )
    assert.isTrue(Either.isLeft(body))
  })
})

describe("Anthropic service over a fake HttpClient", () => {
  const bodyOf = (request: HttpClientRequest.HttpClientRequest): unknown =>
    request.body._tag === "Uint8Array" ? JSON.parse(new TextDecoder().decode(request.body.body)) : undefined
  const request: ChatRequest.ChatRequest = { model: "claude-x", messages: [{ role: "user", content: "Hi" }] }
  const streamBody = sse(messageStart(), blockStart(0, { type: "text", text: "" }), text(0, "Hi!"), blockStop(0), messageDelta("end_turn"), stop)

  it.effect("streams from {baseUrl}/v1/messages with x-api-key and anthropic-version", () =>
    Effect.gen(function*() {
      const { layer, requests } = fake(() => new Response(streamBody, { headers: { "content-type": "text/event-stream" } }))
      const completion = yield* LanguageModel.stream(request).pipe(
        Completion.fromStream,
        Effect.provide(Anthropic.layer({ apiKey: Redacted.make(key) }).pipe(Layer.provide(layer)))
      )
      assert.strictEqual(completion.text, "Hi!")
      assert.deepStrictEqual(completion.usage, { inputTokens: 12, outputTokens: 7, totalTokens: 19 })
      const sent = requests[0]
      assert.strictEqual(sent.url, "https://api.anthropic.com/v1/messages")
      assert.strictEqual(sent.method, "POST")
      assert.strictEqual(sent.headers["x-api-key"], key)
      assert.strictEqual(sent.headers["anthropic-version"], "2023-06-01")
      assert.isUndefined(sent.headers["authorization"])
      assert.strictEqual(sent.body._tag === "Uint8Array" && sent.body.contentType, "application/json")
      assert.deepStrictEqual(bodyOf(sent), { model: "claude-x", max_tokens: 4096, messages: [{ role: "user", content: "Hi" }], stream: true })
    }))

  it.effect("takes another base URL and version, and reads the key from Config", () =>
    Effect.gen(function*() {
      const { layer, requests } = fake(() => new Response(streamBody))
      yield* LanguageModel.stream(request).pipe(
        Stream.runDrain,
        Effect.provide(
          Anthropic.layerConfig({
            apiKey: Config.redacted("ANTHROPIC_API_KEY"),
            baseUrl: "http://localhost:9999/",
            version: "2024-01-01"
          }).pipe(Layer.provide(layer))
        ),
        Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["ANTHROPIC_API_KEY", key]])))
      )
      assert.strictEqual(requests[0].url, "http://localhost:9999/v1/messages")
      assert.strictEqual(requests[0].headers["anthropic-version"], "2024-01-01")
    }))

  it.effect("complete decodes the non-streamed message", () =>
    Effect.gen(function*() {
      const { layer, requests } = fake(() =>
        Response.json({
          id: "msg_1",
          type: "message",
          role: "assistant",
          model: "claude-x",
          content: [
            { type: "thinking", thinking: "hmm", signature: "sig" },
            { type: "text", text: "Calling." },
            { type: "tool_use", id: "toolu_a", name: "weather", input: { city: "Oslo" } }
          ],
          stop_reason: "tool_use",
          stop_sequence: null,
          usage: { input_tokens: 5, output_tokens: 9, cache_read_input_tokens: 2, cache_creation_input_tokens: 0 }
        })
      )
      const completion = yield* LanguageModel.complete(request).pipe(
        Effect.provide(Anthropic.layer({ apiKey: Redacted.make(key) }).pipe(Layer.provide(layer)))
      )
      assert.deepStrictEqual(completion, {
        text: "Calling.",
        reasoning: "hmm",
        toolCalls: [{ id: "toolu_a", name: "weather", arguments: "{\"city\":\"Oslo\"}" }],
        usage: { inputTokens: 7, outputTokens: 9, totalTokens: 16, cachedInputTokens: 2 },
        finishReason: "tool-calls"
      })
      const body = bodyOf(requests[0])
      assert.isTrue(typeof body === "object" && body !== null && !("stream" in body))
    }))

  it.effect("HTTP 529 is ServerError, a too-long prompt ContextLengthExceeded, and the key never shows", () =>
    Effect.gen(function*() {
      const statuses: ReadonlyArray<readonly [number, string, string, LlmError.LlmError["_tag"]]> = [
        [529, "overloaded_error", "Overloaded", "ServerError"],
        [400, "invalid_request_error", "prompt is too long: 208310 tokens > 200000 maximum", "ContextLengthExceeded"],
        [
          400,
          "invalid_request_error",
          "input length and `max_tokens` exceed context limit: 178959 + 64000 > 200000, decrease input length or `max_tokens` and try again",
          "ContextLengthExceeded"
        ],
        [400, "invalid_request_error", "messages: at least one message is required", "InvalidRequest"],
        [401, "authentication_error", `invalid x-api-key ${key}`, "AuthenticationFailed"],
        [429, "rate_limit_error", "slow down", "RateLimited"],
        [413, "request_too_large", "Request exceeds the maximum allowed number of bytes.", "InvalidRequest"]
      ]
      for (const [status, type, message, tag] of statuses) {
        const { layer } = fake(() => Response.json({ type: "error", error: { type, message }, request_id: "req_1" }, { status }))
        const error = yield* LanguageModel.stream(request).pipe(
          Stream.runDrain,
          Effect.provide(Anthropic.layer({ apiKey: Redacted.make(key) }).pipe(Layer.provide(layer))),
          Effect.flip
        )
        assert.strictEqual(error._tag, tag, message)
        assert.notInclude(error.message, key)
        if (error._tag === "InvalidRequest") assert.strictEqual(error.code, type)
      }
    }))

  it.effect("a request that cannot be expressed fails before anything is sent", () =>
    Effect.gen(function*() {
      const { layer, requests } = fake(() => new Response(streamBody))
      const error = yield* LanguageModel.stream({
        model: "m",
        messages: [{ role: "assistant", content: "", toolCalls: [{ id: "t", name: "f", arguments: "not json" }] }]
      }).pipe(Stream.runDrain, Effect.provide(Anthropic.layer({ apiKey: Redacted.make(key) }).pipe(Layer.provide(layer))), Effect.flip)
      assert.strictEqual(error._tag, "InvalidRequest")
      assert.strictEqual(requests.length, 0)
    }))
})
