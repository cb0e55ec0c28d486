/**
 * A `200` to a streaming request that is not an event stream, over real HTTP (a `node:http` server on
 * loopback), in every format: a whole JSON completion (a gateway that ignores `stream: true`) is the
 * answer, handed on as the events a stream gives, once, and marked as not streamed; a page of another
 * type (a captive portal's HTML) is a `DecodeError` naming the type, never retried. A missing
 * content type, or `text/event-stream` with parameters, is still read as SSE.
 */
import { NodeHttpClient } from "@effect/platform-node"
import { assert, layer } from "@effect/vitest"
import { ChatRequest, type LanguageModel, LlmError, Policy, type StreamEvent } from "@sluice/core"
import { Effect, Schedule } from "effect"
import * as Http from "node:http"
import * as Adapters from "./support/adapters.js"
import { serve } from "./support/loopback.js"

/** A server answering every request with `status`, `headers` and `body`; `requests` counts them. */
const server = (headers: Http.OutgoingHttpHeaders, body: string) =>
  Effect.gen(function*() {
    const state = { requests: 0 }
    const http = Http.createServer((req, res) => {
      state.requests++
      req.resume()
      req.on("end", () => {
        res.writeHead(200, headers)
        res.end(body)
      })
    })
    return { url: yield* serve(http), state }
  })

/** Each format's non-streamed answer: reasoning, text, one tool call, a finish and usage (5 in, 7 out). */
const completions: Record<Adapters.FormatName, unknown> = {
  openai: {
    id: "chatcmpl-1",
    object: "chat.completion",
    model: "gpt-test",
    choices: [{
      index: 0,
      message: {
        role: "assistant",
        content: "Hello there.",
        reasoning_content: "Thinking.",
        tool_calls: [{ id: "call_1", type: "function", function: { name: "lookup", arguments: "{\"q\":1}" } }]
      },
      finish_reason: "tool_calls"
    }],
    usage: { prompt_tokens: 5, completion_tokens: 7, total_tokens: 12 }
  },
  anthropic: {
    id: "msg_1",
    type: "message",
    role: "assistant",
    model: "claude-test",
    content: [
      { type: "thinking", thinking: "Thinking.", signature: "sig" },
      { type: "text", text: "Hello there." },
      { type: "tool_use", id: "toolu_1", name: "lookup", input: { q: 1 } }
    ],
    stop_reason: "tool_use",
    stop_sequence: null,
    usage: { input_tokens: 5, output_tokens: 7 }
  },
  gemini: {
    candidates: [{
      content: {
        role: "model",
        parts: [{ text: "Thinking.", thought: true }, { text: "Hello there." }, { functionCall: { name: "lookup", args: { q: 1 } } }]
      },
      finishReason: "STOP",
      index: 0
    }],
    usageMetadata: { promptTokenCount: 5, candidatesTokenCount: 7, totalTokenCount: 12 },
    responseId: "resp1"
  }
}

/** The events a stream of the same answer gives, in the same order. */
const expected = (format: Adapters.Format): ReadonlyArray<StreamEvent.StreamEvent> => {
  const id = { openai: "call_1", anthropic: "toolu_1", gemini: "call_resp1_0" }[format.name]
  const raw = { openai: "tool_calls", anthropic: "tool_use", gemini: "STOP" }[format.name]
  return [
    { _tag: "ReasoningDelta", text: "Thinking." },
    { _tag: "TextDelta", text: "Hello there." },
    { _tag: "ToolCallDelta", index: 0, id, name: "lookup", argumentsDelta: "{\"q\":1}" },
    { _tag: "Finish", reason: "tool-calls", rawReason: raw },
    { _tag: "Usage", inputTokens: 5, outputTokens: 7, totalTokens: 12 }
  ]
}

/** One streamed answer as SSE, in the format's own framing. */
const sseBodies: Record<Adapters.FormatName, string> = {
  openai: `data: {"choices":[{"index":0,"delta":{"content":"Hi"}}]}\n\ndata: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\ndata: [DONE]\n\n`,
  anthropic: [
    `event: message_start\ndata: {"type":"message_start","message":{"id":"m","type":"message","role":"assistant","model":"claude-test","content":[],"usage":{"input_tokens":1,"output_tokens":1}}}\n\n`,
    `event: content_block_start\ndata: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}\n\n`,
    `event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}}\n\n`,
    `event: content_block_stop\ndata: {"type":"content_block_stop","index":0}\n\n`,
    `event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":2}}\n\n`,
    `event: message_stop\ndata: {"type":"message_stop"}\n\n`
  ].join(""),
  gemini: `data: {"candidates":[{"content":{"role":"model","parts":[{"text":"Hi"}]},"finishReason":"STOP","index":0}]}\r\n\r\n`
}

const html = "<!doctype html><html><head><title>Sign in to the guest network</title></head><body>Accept the terms to continue.</body></html>"

/** The adapter for `url`, retried (the default schedule, 3 retries) and measured. */
const resilient = (format: Adapters.Format, url: string, summaries: Array<Policy.Summary>) =>
  Effect.map(format.make(url, undefined), (m: LanguageModel.Service) =>
    m.pipe(
      Policy.retry({ schedule: Schedule.spaced("10 millis"), maxAttempts: 4 }),
      Policy.metrics({ onSummary: (summary) => Effect.sync(() => void summaries.push(summary)) })
    ))

layer(NodeHttpClient.layerUndici, { excludeTestServices: true })("A 200 that is not an event stream", (it) => {
  for (const format of Adapters.formats) {
    const where = { provider: format.name, model: format.model }
    const request = ChatRequest.make({ model: format.model, messages: [ChatRequest.user("Hello?")] })

    it.scoped(`${format.name}: a JSON completion is the answer, as the events a stream gives, in one request, marked not streamed`, () =>
      Effect.gen(function*() {
        const { state, url } = yield* server({ "content-type": "application/json; charset=utf-8" }, JSON.stringify(completions[format.name]))
        const summaries: Array<Policy.Summary> = []
        const outcome = yield* Adapters.consume((yield* resilient(format, url, summaries)).stream(request))
        Adapters.expectSuccess(outcome, format.name)
        assert.deepStrictEqual(outcome.received, expected(format))
        assert.strictEqual(state.requests, 1)
        assert.strictEqual(summaries.length, 1)
        assert.isFalse(summaries[0].streamed)
        assert.deepStrictEqual(summaries[0].attempts.map((a) => [a.kind, a.streamed, a.events]), [["initial", false, 5]])
        assert.deepStrictEqual(summaries[0].usage, { inputTokens: 5, outputTokens: 7, totalTokens: 12 })
      }))

    it.scoped(`${format.name}: an HTML page is a DecodeError naming its content type, not retried`, () =>
      Effect.gen(function*() {
        const { state, url } = yield* server({ "content-type": "text/html; charset=utf-8" }, html)
        const summaries: Array<Policy.Summary> = []
        const outcome = yield* Adapters.consume((yield* resilient(format, url, summaries)).stream(request))
        const error = Adapters.expectFailure(outcome, "DecodeError", where)
        assert.include(error.reason, "text/html")
        assert.include(error.message, "text/html")
        assert.isFalse(LlmError.isRetryable(error))
        assert.strictEqual(state.requests, 1)
        assert.deepStrictEqual(summaries[0].attempts.map((a) => a.error?._tag), ["DecodeError"])
      }))

    it.scoped(`${format.name}: SSE without a content type, or with parameters, is read as SSE and marked streamed`, () =>
      Effect.gen(function*() {
        for (const headers of [{}, { "content-type": "text/event-stream; charset=utf-8" }, { "content-type": "Text/Event-Stream" }]) {
          const { state, url } = yield* server(headers, sseBodies[format.name])
          const summaries: Array<Policy.Summary> = []
          const outcome = yield* Adapters.consume((yield* resilient(format, url, summaries)).stream(request))
          const completion = Adapters.expectSuccess(outcome, `${format.name} ${JSON.stringify(headers)}`)
          assert.strictEqual(completion.text, "Hi")
          assert.strictEqual(state.requests, 1)
          assert.isTrue(summaries[0].streamed)
          assert.isUndefined(summaries[0].attempts[0].streamed)
        }
      }))
  }

  it.scoped("gemini: a JSON array of chunks (streamGenerateContent without alt=sse) is read chunk by chunk", () =>
    Effect.gen(function*() {
      const format = Adapters.gemini
      const request = ChatRequest.make({ model: format.model, messages: [ChatRequest.user("Hello?")] })
      const chunks = [
        { candidates: [{ content: { role: "model", parts: [{ text: "Hello " }] }, index: 0 }] },
        { candidates: [{ content: { role: "model", parts: [{ text: "there." }] }, finishReason: "STOP", index: 0 }], usageMetadata: { promptTokenCount: 5, candidatesTokenCount: 2, totalTokenCount: 7 } }
      ]
      const { state, url } = yield* server({ "content-type": "application/json; charset=UTF-8" }, JSON.stringify(chunks))
      const outcome = yield* Adapters.consume((yield* format.make(url, undefined)).stream(request))
      assert.deepStrictEqual(Adapters.expectSuccess(outcome, "array"), {
        text: "Hello there.",
        reasoning: "",
        toolCalls: [],
        usage: { inputTokens: 5, outputTokens: 2, totalTokens: 7 },
        finishReason: "stop"
      })
      assert.strictEqual(state.requests, 1)
    }))

  it.scoped("a JSON error object with status 200 is the provider's error, and a JSON body that is not a completion a DecodeError", () =>
    Effect.gen(function*() {
      const format = Adapters.openai
      const where = { provider: format.name, model: format.model }
      const request = ChatRequest.make({ model: format.model, messages: [ChatRequest.user("Hello?")] })
      const failed = yield* server({ "content-type": "application/json" }, JSON.stringify({ error: { message: "upstream overloaded", type: "server_error" } }))
      const error = Adapters.expectFailure(yield* Adapters.consume((yield* format.make(failed.url, undefined)).stream(request)), "ProviderStreamError", where)
      assert.strictEqual(error.providerMessage, "upstream overloaded")
      const odd = yield* server({ "content-type": "application/json" }, "{\"status\":\"ok\"")
      const malformed = Adapters.expectFailure(yield* Adapters.consume((yield* format.make(odd.url, undefined)).stream(request)), "DecodeError", where)
      assert.include(malformed.reason, "JSON")
    }))
})
