import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import { assert, describe, it, layer } from "@effect/vitest"
import { ChatRequest, Completion, LanguageModel, type LlmError, type StreamEvent } from "@sluice/core"
import { Emulator, Fault, Scenario } from "@sluice/emulator"
import { OpenAiCompatible } from "@sluice/providers"
import { Config, ConfigError, ConfigProvider, Duration, Effect, Either, Fiber, Layer, Redacted, Stream } from "effect"
import { consume } from "./support/adapters.js"
import { modelFor, TestLayer } from "./support/onEmulator.js"

const request = ChatRequest.make({ model: "gpt-test", messages: [ChatRequest.system("Be brief."), ChatRequest.user("Say hello")] })
const KEY = "sk-test-4f9a8b7c6d5e"

/** An adapter pointed at the emulator, answering with `scenario`. */
const model = (scenario: Scenario.Scenario | string, options: Partial<OpenAiCompatible.Options> = {}) =>
  modelFor(scenario, { apiKey: Redacted.make(KEY), ...options })

const streamOf = (scenario: Scenario.Scenario | string, options: Partial<OpenAiCompatible.Options> = {}) =>
  Effect.flatMap(model(scenario, options), (m) => consume(m.stream(request)))

/** Fails the test unless the stream failed with `tag`, and checks `partial` is exactly what was received. */
const expectFailure = <Tag extends LlmError.LlmError["_tag"]>(
  outcome: { readonly received: ReadonlyArray<StreamEvent.StreamEvent>; readonly error: LlmError.LlmError | undefined },
  tag: Tag
): Extract<LlmError.LlmError, { readonly _tag: Tag }> => {
  const error = outcome.error
  if (error === undefined || error._tag !== tag) {
    assert.fail(`expected ${tag}, got ${error === undefined ? "success" : `${error._tag}: ${error.message}`}`)
  }
  if (outcome.received.length === 0) assert.isUndefined(error.partial)
  else assert.deepStrictEqual(error.partial, Completion.fromEvents(outcome.received))
  assert.strictEqual(error.provider, "emulator")
  assert.strictEqual(error.model, "gpt-test")
  assert.notInclude(error.message, KEY)
  return error as Extract<LlmError.LlmError, { readonly _tag: Tag }>
}

const text = "one two three four five six"

layer(TestLayer, { excludeTestServices: true })("OpenAiCompatible over HTTP", (it) => {
  it.effect("streams text, finish and usage", () =>
    Effect.gen(function*() {
      const { completion, error, received } = yield* streamOf({ text })
      assert.isUndefined(error)
      assert.strictEqual(completion.text, text)
      assert.strictEqual(completion.finishReason, "stop")
      assert.isNotNull(completion.usage)
      assert.deepStrictEqual(
        received.filter((e) => e._tag === "TextDelta").map((e) => e.text),
        ["one ", "two ", "three ", "four ", "five ", "six"]
      )
      const last = yield* Emulator.requests.pipe(Effect.map((records) => records[records.length - 1]))
      assert.strictEqual(last.path, "/v1/chat/completions")
      assert.strictEqual(last.headers["authorization"], `Bearer ${KEY}`)
      assert.deepInclude(last.body, { model: "gpt-test", stream: true, stream_options: { include_usage: true } })
    }))

  it.effect("the same completion whatever the write boundaries (event, bulk, split mid-UTF-8)", () =>
    Effect.gen(function*() {
      const unicode = Scenario.named.unicode.text
      for (const write of ["event", "bulk", "split"] as const) {
        const { completion, error } = yield* streamOf({ extends: "unicode", write })
        assert.isUndefined(error)
        assert.strictEqual(completion.text, unicode, write)
      }
    }))

  it.effect("assembles interleaved tool calls and reads reasoning in both fields", () =>
    Effect.gen(function*() {
      const tools = yield* streamOf("tools")
      assert.isUndefined(tools.error)
      assert.deepStrictEqual(
        tools.completion.toolCalls.map((c) => [c.name, JSON.parse(c.arguments)]),
        Scenario.named.tools.toolCalls.map((c) => [c.name, JSON.parse(c.arguments)])
      )
      assert.isTrue(tools.completion.toolCalls.every((c) => c.id.length > 0))
      assert.strictEqual(tools.completion.finishReason, "tool-calls")
      for (const reasoningField of ["reasoning_content", "reasoning"] as const) {
        const r = yield* streamOf({ extends: "reasoning", reasoningField })
        assert.strictEqual(r.completion.reasoning, Scenario.named.reasoning.reasoning)
        assert.strictEqual(r.completion.text, Scenario.named.reasoning.text)
      }
    }))

  it.effect("usage streamed equals usage non-streamed, in every usage style", () =>
    Effect.gen(function*() {
      for (const scenario of ["hello", "long", "tools", "reasoning"] as const) {
        for (const usageStyle of ["openai", "deepseek", "continuous", "groq"] as const) {
          const m = yield* model({ extends: scenario, usageStyle })
          const streamed = yield* Completion.fromStream(m.stream(request))
          const complete = yield* m.complete(request)
          assert.isNotNull(streamed.usage, `${scenario}/${usageStyle}`)
          assert.deepStrictEqual(streamed.usage, complete.usage, `${scenario}/${usageStyle}`)
          assert.deepStrictEqual(streamed, complete, `${scenario}/${usageStyle}`)
        }
      }
    }))

  it.effect("without include_usage the request omits stream_options and no usage comes", () =>
    Effect.gen(function*() {
      const { completion, error } = yield* streamOf({ text }, { includeUsage: false })
      assert.isUndefined(error)
      assert.isNull(completion.usage)
      const records = yield* Emulator.requests
      const body = records[records.length - 1].body
      assert.isTrue(typeof body === "object" && body !== null && !("stream_options" in body))
    }))

  it.effect("a missing usage on the wire is a complete answer without usage (the guard option is for policies)", () =>
    Effect.gen(function*() {
      const { completion, error } = yield* streamOf({ text, faults: [Fault.omitUsage()] })
      assert.isUndefined(error)
      assert.strictEqual(completion.text, text)
      assert.isNull(completion.usage)
    }))

  it.effect("buffered replay still decodes the whole answer", () =>
    Effect.gen(function*() {
      const { completion, error } = yield* streamOf({ text, gapMs: 5, faults: [{ type: "bufferedReplay" }] })
      assert.isUndefined(error)
      assert.strictEqual(completion.text, text)
    }))

  it.effect("keep-alive comments are ignored", () =>
    Effect.gen(function*() {
      const { completion, error } = yield* streamOf({ text, firstTokenDelayMs: 60, keepAlive: { intervalMs: 10, comment: "OPENROUTER PROCESSING" } })
      assert.isUndefined(error)
      assert.strictEqual(completion.text, text)
    }))
})

layer(TestLayer, { excludeTestServices: true })("OpenAiCompatible faults over HTTP", (it) => {
  it.effect("truncation after N events is IncompleteStream with exactly the text received", () =>
    Effect.gen(function*() {
      for (const n of [0, 1, 3, 5]) {
        const outcome = yield* streamOf({ text, faults: [Fault.truncate(n)] })
        const error = expectFailure(outcome, "IncompleteStream")
        assert.strictEqual(error.ending, "eof")
        assert.strictEqual(outcome.completion.text, text.split(" ").slice(0, n).map((w) => `${w} `).join(""))
      }
    }))

  it.effect("truncation inside an event says it ended mid-event", () =>
    Effect.gen(function*() {
      const outcome = yield* streamOf({ text: "héllo wörld 你好 again", faults: [Fault.truncateMidEvent(2, { bytes: 40 })] })
      const error = expectFailure(outcome, "IncompleteStream")
      assert.strictEqual(error.ending, "ended-mid-event")
      assert.strictEqual(error.partial?.text, "héllo wörld ")
    }))

  it.effect("a connection reset mid-body is TransportError with the partial", () =>
    Effect.gen(function*() {
      const outcome = yield* streamOf({ text, faults: [Fault.reset(2)] })
      const error = expectFailure(outcome, "TransportError")
      assert.strictEqual(error.partial?.text, "one two ")
    }))

  it.effect("a missing finish reason is IncompleteStream even with [DONE]; a missing [DONE] alone is not", () =>
    Effect.gen(function*() {
      const noFinish = yield* streamOf({ text, faults: [Fault.dropFinish()] })
      const error = expectFailure(noFinish, "IncompleteStream")
      assert.strictEqual(error.ending, "done-without-finish")
      assert.strictEqual(error.partial?.text, text)
      const noDone = yield* streamOf({ text, faults: [Fault.dropDone()] })
      assert.isUndefined(noDone.error)
      assert.strictEqual(noDone.completion.finishReason, "stop")
    }))

  it.effect("an error event mid-stream is ProviderStreamError with the partial", () =>
    Effect.gen(function*() {
      const outcome = yield* streamOf({ text, faults: [Fault.errorEvent(3, { message: "The server had an error", errorType: "server_error" })] })
      const error = expectFailure(outcome, "ProviderStreamError")
      assert.isTrue(error.retryable)
      assert.strictEqual(error.providerMessage, "The server had an error")
      assert.strictEqual(error.partial?.text, "one two three ")
    }))

  it.effect("malformed JSON and an off-schema chunk are DecodeError with the partial", () =>
    Effect.gen(function*() {
      const malformed = yield* streamOf({ text, faults: [{ type: "malformedJson", atEvent: 3 }] })
      assert.strictEqual(expectFailure(malformed, "DecodeError").partial?.text, "one two ")
      const wrong = yield* streamOf({ text, faults: [{ type: "wrongSchema", atEvent: 1 }] })
      assert.isUndefined(expectFailure(wrong, "DecodeError").partial)
    }))

  it.effect("HTTP statuses map to their typed errors, Retry-After read in every form", () =>
    Effect.gen(function*() {
      const seconds = expectFailure(yield* streamOf({ faults: [Fault.status({ status: 429, retryAfter: 2 })] }), "RateLimited")
      assert.deepStrictEqual(seconds.retryAfter, Duration.seconds(2))
      const ms = expectFailure(yield* streamOf({ faults: [Fault.status({ status: 429, retryAfterMs: 1500, retryAfter: 9 })] }), "RateLimited")
      assert.deepStrictEqual(ms.retryAfter, Duration.millis(1500))
      const date = new Date(Date.now() + 30_000).toUTCString()
      const dated = expectFailure(yield* streamOf({ faults: [Fault.status({ status: 429, retryAfter: date })] }), "RateLimited")
      assert.isTrue(dated.retryAfter !== undefined && Duration.greaterThan(dated.retryAfter, Duration.seconds(20)))
      const none = expectFailure(yield* streamOf({ faults: [Fault.status({ status: 429 })] }), "RateLimited")
      assert.isUndefined(none.retryAfter)

      assert.strictEqual(expectFailure(yield* streamOf({ faults: [Fault.status({ status: 401 })] }), "AuthenticationFailed").status, 401)
      assert.strictEqual(expectFailure(yield* streamOf({ faults: [Fault.status({ status: 403 })] }), "AuthenticationFailed").status, 403)
      expectFailure(yield* streamOf({ faults: [Fault.contextLengthExceeded()] }), "ContextLengthExceeded")
      const invalid = expectFailure(
        yield* streamOf({ faults: [Fault.status({ status: 400, message: "Invalid 'temperature'", code: "invalid_value" })] }),
        "InvalidRequest"
      )
      assert.strictEqual(invalid.providerMessage, "Invalid 'temperature'")
      assert.strictEqual(invalid.code, "invalid_value")
      for (const status of [500, 502, 503, 529]) {
        assert.strictEqual(expectFailure(yield* streamOf({ faults: [Fault.status({ status })] }), "ServerError").status, status)
      }
    }))

  it.effect("a provider that echoes the key back never gets it into the error", () =>
    Effect.gen(function*() {
      const outcome = yield* streamOf({ faults: [{ type: "echoKey" }] })
      const error = expectFailure(outcome, "AuthenticationFailed")
      assert.notInclude(JSON.stringify(error), KEY)
      assert.notInclude(String(error), KEY)
      assert.include(error.providerMessage ?? "", "[REDACTED]")
    }))

  it.effect("connection refused is TransportError", () =>
    Effect.gen(function*() {
      const m = yield* OpenAiCompatible.make({ baseUrl: "http://127.0.0.1:1/v1", provider: "emulator" })
      const outcome = yield* consume(m.stream(request))
      expectFailure(outcome, "TransportError")
      const complete = yield* Effect.either(m.complete(request))
      assert.isTrue(Either.isLeft(complete) && complete.left._tag === "TransportError")
    }))

  it.effect("interrupting the consumer aborts the HTTP request", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator.Emulator
      yield* emulator.reset
      const m = yield* model({ text, gapMs: 200 })
      const fiber = yield* m.stream(request).pipe(Stream.take(1), Stream.concat(Stream.never), Stream.runDrain, Effect.fork)
      const [record] = yield* emulator.awaitRequests(1)
      yield* Fiber.interrupt(fiber)
      const ended = yield* emulator.awaitEnded(record.id)
      assert.strictEqual(ended.ending, "client-closed")
      assert.isBelow(ended.events, 6)
    }))
})

layer(TestLayer, { excludeTestServices: true })("OpenAiCompatible.complete over HTTP", (it) => {
  it.effect("returns the same Completion shape as the stream", () =>
    Effect.gen(function*() {
      const m = yield* model("tools")
      const completion = yield* m.complete(request)
      assert.strictEqual(completion.finishReason, "tool-calls")
      assert.strictEqual(completion.toolCalls.length, 2)
      const records = yield* Emulator.requests
      const body = records[records.length - 1].body
      assert.isTrue(typeof body === "object" && body !== null && !("stream" in body && body.stream === true))
    }))

  it.effect("maps HTTP failures the same way", () =>
    Effect.gen(function*() {
      const m = yield* model({ faults: [Fault.status({ status: 503, retryAfter: 1 })] })
      const result = yield* Effect.either(m.complete(request))
      assert.isTrue(Either.isLeft(result) && result.left._tag === "ServerError")
    }))

  it.effect("works through the LanguageModel tag and layerConfig", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator.Emulator
      const layer = OpenAiCompatible.layer({ baseUrl: emulator.openAiBaseUrl, headers: Scenario.headers({ text }) })
      const completion = yield* LanguageModel.complete(request).pipe(Effect.provide(layer))
      assert.strictEqual(completion.text, text)
    }))

  it.effect("layerConfig reads the base URL and key from Config or takes them as given; a missing variable is a ConfigError naming it", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator.Emulator
      const variables = ConfigProvider.fromMap(new Map([["OPENAI_BASE_URL", emulator.openAiBaseUrl], ["OPENAI_API_KEY", KEY]]))
      const headers = Scenario.headers({ text })
      const complete = (layer: Layer.Layer<LanguageModel.LanguageModel, ConfigError.ConfigError, HttpClient.HttpClient>) =>
        LanguageModel.complete(request).pipe(Effect.provide(layer), Effect.withConfigProvider(variables))
      const read = yield* complete(OpenAiCompatible.layerConfig({ baseUrl: Config.string("OPENAI_BASE_URL"), apiKey: Config.redacted("OPENAI_API_KEY"), headers }))
      assert.strictEqual(read.text, text)
      const given = yield* complete(OpenAiCompatible.layerConfig({ baseUrl: emulator.openAiBaseUrl, apiKey: Config.redacted("OPENAI_API_KEY"), headers }))
      assert.strictEqual(given.text, text)
      const missing = yield* Effect.flip(complete(OpenAiCompatible.layerConfig({ baseUrl: emulator.openAiBaseUrl, apiKey: Config.redacted("NO_SUCH_KEY") })))
      assert.isTrue(ConfigError.isConfigError(missing), String(missing))
      assert.include(String(missing), "NO_SUCH_KEY")
    }))
})

describe("OpenAiCompatible.complete with content parts", () => {
  const answering = (body: unknown) =>
    Layer.succeed(HttpClient.HttpClient, HttpClient.make((req) => Effect.succeed(HttpClientResponse.fromWeb(req, Response.json(body)))))

  it.effect("reads message.content as an array of parts (Mistral's Magistral): thinking is reasoning, text is text", () =>
    Effect.gen(function*() {
      const m = yield* OpenAiCompatible.make({ baseUrl: "http://mistral.test/v1", provider: "mistral" }).pipe(
        Effect.provide(answering({
          id: "a1b2",
          object: "chat.completion",
          model: "magistral-medium-2506",
          choices: [{
            index: 0,
            message: {
              role: "assistant",
              content: [
                { type: "thinking", thinking: [{ type: "text", text: "The user asks for 2 + 2." }] },
                { type: "text", text: "2 + 2 = 4" }
              ],
              tool_calls: null
            },
            finish_reason: "stop"
          }],
          usage: { prompt_tokens: 12, total_tokens: 40, completion_tokens: 28 }
        }))
      )
      const completion = yield* m.complete(request)
      assert.deepStrictEqual(completion, {
        text: "2 + 2 = 4",
        reasoning: "The user asks for 2 + 2.",
        toolCalls: [],
        usage: { inputTokens: 12, outputTokens: 28, totalTokens: 40 },
        finishReason: "stop"
      })
    }))
})
