import * as Headers from "@effect/platform/Headers"
import * as HttpClient from "@effect/platform/HttpClient"
import type * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import { assert, describe, it } from "@effect/vitest"
import { type ChatRequest, Completion, LanguageModel, type LlmError, type StreamEvent } from "@sluice/core"
import { Gemini } from "@sluice/providers"
import { Config, ConfigProvider, Effect, Either, Exit, Layer, Redacted, Schema, Stream, Tracer } from "effect"
import { harness, utf8 } from "./support/wire.js"
import * as fc from "fast-check"
import * as GeminiRequest from "../packages/providers/src/internal/GeminiRequest.js"
import { GeminiStreamDecoder, parseJsonPath } from "../packages/providers/src/internal/GeminiStreamDecoder.js"
import * as GeminiWire from "../packages/providers/src/internal/GeminiWire.js"

const key = "AIzaSy-secret-123456"
const site = { provider: "gemini", model: "gemini-x", secrets: [key] }
/** Gemini's framing: `data: …` with CRLF line ends. */
const sse = (...chunks: ReadonlyArray<object | string>) =>
  chunks.map((c) => `data: ${typeof c === "string" ? c : JSON.stringify(c)}\r\n\r\n`).join("")

const decoder = () => new GeminiStreamDecoder(site, () => "rnd")

const { events, failure, run } = harness(site, decoder)

const usage = (prompt: number, candidates?: number, extra: object = {}) => ({
  promptTokenCount: prompt,
  ...(candidates === undefined ? {} : { candidatesTokenCount: candidates }),
  totalTokenCount: prompt + (candidates ?? 0),
  promptTokensDetails: [{ modality: "TEXT", tokenCount: prompt }],
  ...extra
})

const chunk = (parts: ReadonlyArray<object> | undefined, finishReason?: string, extra: object = {}) => ({
  candidates: [{
    ...(parts === undefined ? {} : { content: { parts, role: "model" } }),
    ...(finishReason === undefined ? {} : { finishReason }),
    index: 0,
    safetyRatings: []
  }],
  usageMetadata: usage(8),
  modelVersion: "gemini-x",
  responseId: "resp-1",
  ...extra
})

describe("GeminiStreamDecoder", () => {
  it.effect("decodes text over CRLF, the finish and the last cumulative usage", () =>
    Effect.gen(function*() {
      const out = yield* events(
        sse(
          chunk([{ text: "Hel" }]),
          chunk([{ text: "lo" }], undefined, { usageMetadata: usage(8, 1) }),
          chunk([{ text: "" }], "STOP", { usageMetadata: usage(8, 2, { cachedContentTokenCount: 3 }) })
        )
      )
      assert.deepStrictEqual(out, [
        { _tag: "TextDelta", text: "Hel" },
        { _tag: "TextDelta", text: "lo" },
        { _tag: "Finish", reason: "stop", rawReason: "STOP" },
        { _tag: "Usage", inputTokens: 8, outputTokens: 2, totalTokens: 10, cachedInputTokens: 3 }
      ])
    }))

  it.effect("thought parts are reasoning; thoughts count as output and as reasoning tokens", () =>
    Effect.gen(function*() {
      const out = yield* events(
        sse(
          chunk([{ text: "Thinking about it", thought: true }]),
          chunk([{ text: "Answer", thoughtSignature: "c2ln" }], "STOP", {
            usageMetadata: { promptTokenCount: 5, candidatesTokenCount: 1, thoughtsTokenCount: 20, totalTokenCount: 26 }
          })
        )
      )
      const completion = Completion.fromEvents(out)
      assert.strictEqual(completion.reasoning, "Thinking about it")
      assert.strictEqual(completion.text, "Answer")
      assert.deepStrictEqual(completion.usage, { inputTokens: 5, outputTokens: 21, totalTokens: 26, reasoningTokens: 20 })
    }))

  it.effect("whole function calls are one ToolCallDelta each; STOP after calls is tool-calls", () =>
    Effect.gen(function*() {
      const out = yield* events(
        sse(
          chunk([{ text: "Let me check." }]),
          chunk([
            { functionCall: { name: "weather", args: { city: "Oslo" } }, thoughtSignature: "c2ln" },
            { functionCall: { id: "fc_7", name: "time", args: {} } }
          ]),
          chunk([{ functionCall: { name: "noargs" } }], "STOP")
        )
      )
      assert.deepStrictEqual(out.filter((e) => e._tag === "ToolCallDelta"), [
        { _tag: "ToolCallDelta", index: 0, id: "call_resp-1_0", name: "weather", argumentsDelta: "{\"city\":\"Oslo\"}" },
        { _tag: "ToolCallDelta", index: 1, id: "fc_7", name: "time", argumentsDelta: "{}" },
        { _tag: "ToolCallDelta", index: 2, id: "call_resp-1_2", name: "noargs", argumentsDelta: "{}" }
      ])
      assert.strictEqual(Completion.fromEvents(out).finishReason, "tool-calls")
      // Without a responseId, generated ids come from the decoder's random prefix.
      const anonymous = yield* events(sse({ candidates: [{ content: { parts: [{ functionCall: { name: "f", args: {} } }] }, finishReason: "STOP" }] }))
      assert.deepStrictEqual(Completion.fromEvents(anonymous).toolCalls, [{ id: "call_rnd_0", name: "f", arguments: "{}" }])
    }))

  it.effect("streamed function-call arguments (partialArgs, willContinue) are assembled per call", () =>
    Effect.gen(function*() {
      const out = yield* events(
        sse(
          chunk([{ functionCall: { name: "light", willContinue: true } }]),
          chunk([{ functionCall: { partialArgs: [{ jsonPath: "$.location", stringValue: "Bos", willContinue: true }], willContinue: true } }]),
          chunk([{
            functionCall: {
              partialArgs: [
                { jsonPath: "$.location", stringValue: "ton, MA" },
                { jsonPath: "$.brightness", numberValue: 50 },
                { jsonPath: "$.options.on", boolValue: true },
                { jsonPath: "$.tags[1]", stringValue: "b" },
                { jsonPath: "$['odd key']", nullValue: "NULL_VALUE" }
              ],
              willContinue: true
            }
          }]),
          chunk([{ functionCall: {} }]),
          chunk([{ functionCall: { name: "second", willContinue: true } }]),
          chunk([{ functionCall: { partialArgs: [{ jsonPath: "$.x", numberValue: 1 }], willContinue: true } }]),
          chunk(undefined, "STOP")
        )
      )
      const calls = out.filter((e) => e._tag === "ToolCallDelta")
      assert.deepStrictEqual(calls[0], { _tag: "ToolCallDelta", index: 0, id: "call_resp-1_0", name: "light", argumentsDelta: "" })
      assert.deepStrictEqual(Completion.fromEvents(out).toolCalls, [
        {
          id: "call_resp-1_0",
          name: "light",
          arguments: JSON.stringify({ location: "Boston, MA", brightness: 50, options: { on: true }, tags: [null, "b"], "odd key": null })
        },
        { id: "call_resp-1_1", name: "second", arguments: "{\"x\":1}" }
      ])
      assert.deepStrictEqual(parseJsonPath("$.a[0][\"b c\"].d"), ["a", 0, "b c", "d"])
      assert.isUndefined(parseJsonPath("$"))
      assert.isUndefined(parseJsonPath("a.b"))
      const bad = yield* failure(sse(chunk([{ functionCall: { name: "f", partialArgs: [{ jsonPath: "nope", stringValue: "x" }] } }])))
      assert.strictEqual(bad._tag, "DecodeError")
    }))

  it.effect("maps every finish reason", () =>
    Effect.gen(function*() {
      const cases: ReadonlyArray<readonly [string, StreamEvent.FinishReason]> = [
        ["STOP", "stop"],
        ["MAX_TOKENS", "length"],
        ["SAFETY", "content-filter"],
        ["RECITATION", "content-filter"],
        ["BLOCKLIST", "content-filter"],
        ["PROHIBITED_CONTENT", "content-filter"],
        ["SPII", "content-filter"],
        ["IMAGE_SAFETY", "content-filter"],
        ["MALFORMED_FUNCTION_CALL", "other"],
        ["LANGUAGE", "other"],
        ["OTHER", "other"],
        ["FINISH_REASON_UNSPECIFIED", "other"]
      ]
      for (const [raw, reason] of cases) {
        const out = yield* events(sse(chunk([{ text: "x" }]), chunk(undefined, raw)))
        assert.deepStrictEqual(out[1], { _tag: "Finish", reason, rawReason: raw })
      }
    }))

  it.effect("a blocked prompt is InvalidRequest with the reason, not an empty success", () =>
    Effect.gen(function*() {
      const error = yield* failure(
        sse({ promptFeedback: { blockReason: "PROHIBITED_CONTENT", safetyRatings: [] }, usageMetadata: usage(4), responseId: "r" })
      )
      assert.strictEqual(error._tag, "InvalidRequest")
      if (error._tag === "InvalidRequest") {
        assert.strictEqual(error.code, "PROHIBITED_CONTENT")
        assert.include(error.message, "PROHIBITED_CONTENT")
        assert.isUndefined(error.partial)
      }
    }))

  it.effect("an error chunk mid-stream is ProviderStreamError, classified, with the exact partial", () =>
    Effect.gen(function*() {
      const body = (code: number, status: string) =>
        sse(
          chunk([{ text: "partial " }]),
          chunk([{ functionCall: { name: "f", args: { a: 1 } } }]),
          { error: { code, message: `The model is overloaded (${key})`, status } },
          chunk([{ text: "never" }])
        )
      const overloaded = yield* failure(body(503, "UNAVAILABLE"))
      assert.strictEqual(overloaded._tag, "ProviderStreamError")
      if (overloaded._tag === "ProviderStreamError") {
        assert.isTrue(overloaded.retryable)
        assert.strictEqual(overloaded.errorType, "UNAVAILABLE")
        // As sent: the adapter scrubs every failure it hands on of the key (test/Secrets.test.ts).
        assert.strictEqual(overloaded.providerMessage, `The model is overloaded (${key})`)
        assert.deepStrictEqual(overloaded.partial, {
          text: "partial ",
          reasoning: "",
          toolCalls: [{ id: "call_resp-1_0", name: "f", arguments: "{\"a\":1}" }],
          usage: null,
          finishReason: null
        })
      }
      const internal = yield* failure(body(500, "INTERNAL"))
      assert.isTrue(internal._tag === "ProviderStreamError" && internal.retryable)
      const invalid = yield* failure(body(400, "INVALID_ARGUMENT"))
      assert.isTrue(invalid._tag === "ProviderStreamError" && !invalid.retryable)
    }))

  it.effect("malformed JSON and off-schema chunks are DecodeError with the partial", () =>
    Effect.gen(function*() {
      const malformed = yield* failure(sse(chunk([{ text: "ok" }]), "{\"candidates\": ") + sse(chunk([{ text: "never" }])))
      assert.strictEqual(malformed._tag, "DecodeError")
      assert.deepStrictEqual(malformed.partial, { text: "ok", reasoning: "", toolCalls: [], usage: null, finishReason: null })
      const offSchema: ReadonlyArray<object | string> = [
        { candidates: "oops" },
        { candidates: [{ content: { parts: [{ text: 5 }] } }] },
        { candidates: [{ content: { parts: [{ text: "x", thought: "yes" }] } }] },
        { candidates: [{ content: { parts: [{ functionCall: { name: "f", args: [1] } }] } }] },
        { candidates: [{ finishReason: 1 }] },
        { usageMetadata: { promptTokenCount: "8" } },
        { promptFeedback: { blockReason: 2 } },
        { responseId: 1 },
        "[]"
      ]
      for (const bad of offSchema) {
        const error = yield* failure(sse(bad))
        assert.strictEqual(error._tag, "DecodeError", JSON.stringify(bad))
      }
      const reason = yield* failure(sse({ candidates: "oops" }))
      if (reason._tag === "DecodeError") assert.include(reason.reason, "candidates")
    }))

  it.effect("EOF without a finish reason is IncompleteStream with the exact partial", () =>
    Effect.gen(function*() {
      const eof = yield* failure(sse(chunk([{ text: "Hel" }]), chunk([{ text: "lo", thought: false }], undefined, { usageMetadata: usage(8, 2) })))
      assert.strictEqual(eof._tag === "IncompleteStream" && eof.ending, "eof")
      assert.deepStrictEqual(eof.partial, { text: "Hello", reasoning: "", toolCalls: [], usage: null, finishReason: null })
      const mid = yield* failure(sse(chunk([{ text: "Hi" }])) + "data: {\"candidates\":[{\"content\"")
      assert.strictEqual(mid._tag === "IncompleteStream" && mid.ending, "ended-mid-event")
      assert.strictEqual(mid.partial?.text, "Hi")
      const nothing = yield* failure("")
      assert.strictEqual(nothing._tag, "IncompleteStream")
      assert.isUndefined(nothing.partial)
    }))

  it.effect("any read boundaries give the same events (CRLF split across reads included)", () =>
    Effect.gen(function*() {
      const body = sse(
        chunk([{ text: "t\u00e9", thought: true }]),
        chunk([{ text: "h\u00e9llo \u4f60\u597d \ud83c\udf0d" }]),
        chunk([{ functionCall: { name: "f", args: { q: "\u00fc" } } }]),
        chunk(undefined, "STOP", { usageMetadata: usage(8, 5) })
      )
      const whole = yield* events(body)
      assert.strictEqual(whole.length, 5)
      const length = utf8(body).length
      const samples = fc.sample(fc.uniqueArray(fc.integer({ min: 1, max: length - 1 }), { maxLength: 12 }), { numRuns: 100, seed: 11 })
      const crlf = [...body.matchAll(/\r\n/g)].map((m) => utf8(body.slice(0, (m.index ?? 0) + 1)).length)
      for (const cuts of [...samples, crlf]) {
        const exit = yield* run(body, [...cuts].sort((a, b) => a - b))
        assert.isTrue(Exit.isSuccess(exit))
        if (Exit.isSuccess(exit)) assert.deepStrictEqual(exit.value, whole)
      }
    }))
})

describe("Gemini chunk fast check agrees with the wire Schema", () => {
  // Weighted towards well-formed values so that both sides of the property are exercised.
  const str = fc.oneof({ arbitrary: fc.string({ maxLength: 3 }), weight: 8 }, fc.constant(null), fc.integer(), fc.constant(undefined))
  const num = fc.oneof({ arbitrary: fc.integer({ min: 0, max: 100 }), weight: 8 }, fc.constant(null), fc.string({ maxLength: 2 }), fc.constant(undefined))
  const bool = fc.oneof({ arbitrary: fc.boolean(), weight: 8 }, fc.constant(null), fc.constant("true"), fc.constant(undefined))
  const maybe = <A>(arb: fc.Arbitrary<A>) =>
    fc.oneof({ arbitrary: arb, weight: 8 }, fc.constant(undefined), fc.constant(null), fc.constant("x"), fc.constant(1), fc.constant([]))
  const partialArg = fc.record(
    {
      jsonPath: fc.oneof(fc.constantFrom("$.a", "$.b.c", "$.d[1]"), fc.constant(3)),
      stringValue: str,
      numberValue: num,
      boolValue: bool,
      nullValue: fc.oneof(fc.constant("NULL_VALUE"), fc.constant(null), fc.constant("other"), fc.constant(undefined)),
      willContinue: bool
    },
    { requiredKeys: [] }
  )
  const functionCall = fc.record(
    {
      id: str,
      name: str,
      args: maybe(fc.dictionary(fc.constantFrom("a", "b"), fc.integer())),
      partialArgs: maybe(fc.array(maybe(partialArg), { maxLength: 2 })),
      willContinue: bool
    },
    { requiredKeys: [] }
  )
  const part = fc.record({ text: str, thought: bool, thoughtSignature: str, functionCall: maybe(functionCall) }, { requiredKeys: [] })
  const candidate = fc.record(
    { index: num, content: maybe(fc.record({ role: str, parts: maybe(fc.array(maybe(part), { maxLength: 3 })) }, { requiredKeys: [] })), finishReason: str },
    { requiredKeys: [] }
  )
  const usageArb = fc.record(
    {
      promptTokenCount: num,
      candidatesTokenCount: num,
      totalTokenCount: num,
      thoughtsTokenCount: num,
      cachedContentTokenCount: num,
      toolUsePromptTokenCount: num
    },
    { requiredKeys: [] }
  )
  const chunkArb = fc.record(
    {
      candidates: maybe(fc.array(maybe(candidate), { maxLength: 2 })),
      promptFeedback: maybe(fc.record({ blockReason: str, blockReasonMessage: str }, { requiredKeys: [] })),
      usageMetadata: maybe(usageArb),
      responseId: str,
      modelVersion: str
    },
    { requiredKeys: [] }
  )
  const isChunk = Schema.is(GeminiWire.GenerateContentResponse)

  it("accepts exactly what the Schema accepts", () => {
    fc.assert(
      fc.property(chunkArb, (value) => {
        const json: unknown = JSON.parse(JSON.stringify(value))
        const result = decoder().onEvent({ event: "message", data: JSON.stringify(json), id: undefined, retry: undefined }, [])
        // A blocked prompt fits the schema and fails with InvalidRequest.
        const accepted = result === undefined || (typeof result === "object" && result._tag === "InvalidRequest")
        const isError = typeof result === "object" && (result satisfies LlmError.LlmError)._tag === "DecodeError"
        assert.strictEqual(accepted, isChunk(json), JSON.stringify(json))
        assert.isTrue(accepted || isError)
      }),
      { numRuns: 3000, seed: 2 }
    )
  })
})

describe("Gemini request body", () => {
  const options: GeminiRequest.BodyOptions = { includeThoughts: false, extraBody: undefined }

  it("maps roles, system instruction, function calls and merged function responses", () => {
    const body = GeminiRequest.body(
      {
        model: "gemini-x",
        messages: [
          { role: "system", content: "Be brief." },
          { role: "user", content: "Weather and time in Oslo?" },
          {
            role: "assistant",
            content: "Checking.",
            toolCalls: [{ id: "call_1", name: "weather", arguments: "{\"city\":\"Oslo\"}" }, { id: "call_2", name: "time", arguments: "" }]
          },
          { role: "tool", toolCallId: "call_1", content: "{\"temp\":-3}" },
          { role: "tool", toolCallId: "call_2", content: "noon" },
          { role: "assistant", content: "Cold, at noon." },
          { role: "user", content: "Thanks" }
        ],
        maxTokens: 100,
        temperature: 0.5,
        topP: 0.9,
        stop: ["END"],
        tools: [
          { name: "weather", description: "Weather in a city", parameters: { type: "object", properties: { city: { type: "string" } } } },
          { name: "time", parameters: { type: "object" } }
        ],
        toolChoice: { tool: "weather" }
      },
      options
    )
    assert.deepStrictEqual(body, Either.right({
      contents: [
        { role: "user", parts: [{ text: "Weather and time in Oslo?" }] },
        {
          role: "model",
          parts: [
            { text: "Checking." },
            { functionCall: { name: "weather", args: { city: "Oslo" } }, thoughtSignature: "skip_thought_signature_validator" },
            { functionCall: { name: "time", args: {} } }
          ]
        },
        {
          role: "user",
          parts: [
            { functionResponse: { name: "weather", response: { temp: -3 } } },
            { functionResponse: { name: "time", response: { output: "noon" } } }
          ]
        },
        { role: "model", parts: [{ text: "Cold, at noon." }] },
        { role: "user", parts: [{ text: "Thanks" }] }
      ],
      systemInstruction: { parts: [{ text: "Be brief." }] },
      tools: [{
        functionDeclarations: [
          {
            name: "weather",
            description: "Weather in a city",
            parametersJsonSchema: { type: "object", properties: { city: { type: "string" } } }
          },
          { name: "time", parametersJsonSchema: { type: "object" } }
        ]
      }],
      toolConfig: { functionCallingConfig: { mode: "ANY", allowedFunctionNames: ["weather"] } },
      generationConfig: { maxOutputTokens: 100, temperature: 0.5, topP: 0.9, stopSequences: ["END"] }
    }))
  })

  it("maps tool choices, response formats and thought summaries", () => {
    const base: ChatRequest.ChatRequest = { model: "m", messages: [{ role: "user", content: "x" }] }
    const config = (request: ChatRequest.ChatRequest, includeThoughts = false) =>
      Either.map(GeminiRequest.body(request, { includeThoughts, extraBody: undefined }), (b) => [b.toolConfig, b.generationConfig])
    assert.deepStrictEqual(config({ ...base, toolChoice: "auto" }), Either.right([{ functionCallingConfig: { mode: "AUTO" } }, undefined]))
    assert.deepStrictEqual(config({ ...base, toolChoice: "none" }), Either.right([{ functionCallingConfig: { mode: "NONE" } }, undefined]))
    assert.deepStrictEqual(config({ ...base, toolChoice: "required" }), Either.right([{ functionCallingConfig: { mode: "ANY" } }, undefined]))
    const schema = { type: "object", properties: { a: { type: "number" } } }
    assert.deepStrictEqual(
      config({ ...base, responseFormat: { type: "json-schema", name: "A", schema } }),
      Either.right([undefined, { responseMimeType: "application/json", responseJsonSchema: schema }])
    )
    assert.deepStrictEqual(config({ ...base, responseFormat: { type: "json" } }), Either.right([undefined, { responseMimeType: "application/json" }]))
    assert.deepStrictEqual(config({ ...base, responseFormat: { type: "text" } }), Either.right([undefined, undefined]))
    assert.deepStrictEqual(config(base, true), Either.right([undefined, { thinkingConfig: { includeThoughts: true } }]))
  })

  it("refuses a tool result that answers no call, and arguments that are not an object", () => {
    assert.isTrue(Either.isLeft(GeminiRequest.body({ model: "m", messages: [{ role: "tool", toolCallId: "nope", content: "x" }] }, options)))
    assert.isTrue(Either.isRight(GeminiRequest.body({ model: "m", messages: [{ role: "tool", toolCallId: "nope", name: "f", content: "x" }] }, options)))
    assert.isTrue(
      Either.isLeft(
        GeminiRequest.body({ model: "m", messages: [{ role: "assistant", content: "", toolCalls: [{ id: "a", name: "f", arguments: "1" }] }] }, options)
      )
    )
  })
})

describe("Gemini service over a fake HttpClient", () => {
  interface Captured {
    readonly request: HttpClientRequest.HttpClientRequest
    readonly redacted: ReadonlyArray<string | RegExp>
  }
  const fake = (answer: (request: HttpClientRequest.HttpClientRequest) => Response) => {
    const captured: Array<Captured> = []
    const client = HttpClient.make((request, _url, _signal, fiber) =>
      Effect.sync(() => {
        captured.push({ request, redacted: fiber.getFiberRef(Headers.currentRedactedNames) })
        return HttpClientResponse.fromWeb(request, answer(request))
      })
    )
    return { captured, layer: Layer.succeed(HttpClient.HttpClient, client) }
  }
  const request: ChatRequest.ChatRequest = { model: "gemini-2.5-flash", messages: [{ role: "system", content: "S" }, { role: "user", content: "Hi" }] }
  const streamBody = sse(chunk([{ text: "Hi!" }], "STOP", { usageMetadata: usage(3, 2) }))
  const provide = <A, E>(effect: Effect.Effect<A, E, LanguageModel.LanguageModel>, layer: Layer.Layer<HttpClient.HttpClient>) =>
    Effect.provide(effect, Gemini.layer({ apiKey: Redacted.make(key) }).pipe(Layer.provide(layer)))

  it.effect("streams with the key in x-goog-api-key (never the URL), redacted in traces", () =>
    Effect.gen(function*() {
      const { captured, layer } = fake(() => new Response(streamBody, { headers: { "content-type": "text/event-stream" } }))
      const completion = yield* provide(Completion.fromStream(LanguageModel.stream(request)), layer)
      assert.strictEqual(completion.text, "Hi!")
      assert.deepStrictEqual(completion.usage, { inputTokens: 3, outputTokens: 2, totalTokens: 5 })
      const { redacted, request: sent } = captured[0]
      assert.strictEqual(sent.url, "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:streamGenerateContent")
      assert.deepStrictEqual([...sent.urlParams], [["alt", "sse"]])
      assert.notInclude(JSON.stringify(sent.urlParams), key)
      assert.strictEqual(sent.headers["x-goog-api-key"], key)
      assert.isUndefined(sent.headers["authorization"])
      // What @effect/platform writes into the span attributes for this request's headers.
      const traced = Headers.redact(sent.headers, redacted)
      assert.isTrue(Redacted.isRedacted(traced["x-goog-api-key"]))
      assert.notInclude(String(traced["x-goog-api-key"]), key)
      assert.deepStrictEqual(sent.body._tag === "Uint8Array" ? JSON.parse(new TextDecoder().decode(sent.body.body)) : undefined, {
        contents: [{ role: "user", parts: [{ text: "Hi" }] }],
        systemInstruction: { parts: [{ text: "S" }] }
      })
      // The redaction is scoped to the request, not leaked into the caller's fiber.
      const outside = yield* Effect.sync(() => Headers.redact(Headers.fromInput({ "x-goog-api-key": key }), ["authorization"]))
      assert.strictEqual(outside["x-goog-api-key"], key)
    }))

  it.effect("no span attribute of a traced request holds the key", () =>
    Effect.gen(function*() {
      const attributes = new Map<string, unknown>()
      const tracer = Tracer.make({
        span: (name, parent, context, links, startTime, kind) => {
          const own = new Map<string, unknown>()
          return {
            _tag: "Span",
            name,
            spanId: `span-${attributes.size}`,
            traceId: "trace",
            parent,
            context,
            status: { _tag: "Started", startTime },
            attributes: own,
            links,
            sampled: true,
            kind,
            end: () => undefined,
            attribute: (k, v) => {
              own.set(k, v)
              attributes.set(`${name} ${k}`, v)
            },
            event: () => undefined,
            addLinks: () => undefined
          }
        },
        context: (f) => f()
      })
      const { layer } = fake(() => new Response(streamBody))
      yield* provide(Stream.runDrain(LanguageModel.stream(request)), layer).pipe(Effect.withSpan("caller"), Effect.withTracer(tracer))
      const headerAttribute = [...attributes].find(([k]) => k.endsWith("http.request.header.x-goog-api-key"))
      assert.isDefined(headerAttribute)
      assert.strictEqual(headerAttribute?.[1], "<redacted>")
      for (const [name, value] of attributes) assert.notInclude(String(value), key, name)
    }))

  it.effect("complete calls :generateContent and reads the answer like a chunk", () =>
    Effect.gen(function*() {
      const { captured, layer } = fake(() =>
        Response.json(
          chunk([{ text: "plan", thought: true }, { text: "Calling." }, { functionCall: { name: "weather", args: { city: "Oslo" } } }], "STOP", {
            usageMetadata: { promptTokenCount: 5, candidatesTokenCount: 9, thoughtsTokenCount: 2, totalTokenCount: 16 }
          })
        )
      )
      const completion = yield* provide(LanguageModel.complete({ ...request, model: "models/gemini-2.5-pro" }), layer)
      assert.deepStrictEqual(completion, {
        text: "Calling.",
        reasoning: "plan",
        toolCalls: [{ id: "call_resp-1_0", name: "weather", arguments: "{\"city\":\"Oslo\"}" }],
        usage: { inputTokens: 5, outputTokens: 11, totalTokens: 16, reasoningTokens: 2 },
        finishReason: "tool-calls"
      })
      assert.strictEqual(captured[0].request.url, "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-pro:generateContent")
      assert.isTrue(Redacted.isRedacted(Headers.redact(captured[0].request.headers, captured[0].redacted)["x-goog-api-key"]))
    }))

  it.effect("error bodies: token limit is ContextLengthExceeded, others typed, the key never shows", () =>
    Effect.gen(function*() {
      const cases: ReadonlyArray<readonly [number, string, string, LlmError.LlmError["_tag"]]> = [
        [400, "INVALID_ARGUMENT", "The input token count (1200293) exceeds the maximum number of tokens allowed (1048576).", "ContextLengthExceeded"],
        [400, "INVALID_ARGUMENT", `API key not valid: ${key}`, "InvalidRequest"],
        [403, "PERMISSION_DENIED", "Method doesn't allow unregistered callers", "AuthenticationFailed"],
        [429, "RESOURCE_EXHAUSTED", "Quota exceeded", "RateLimited"],
        [503, "UNAVAILABLE", "The model is overloaded.", "ServerError"]
      ]
      for (const [code, status, message, tag] of cases) {
        const { layer } = fake(() => Response.json({ error: { code, message, status } }, { status: code }))
        const error = yield* provide(Effect.flip(Stream.runDrain(LanguageModel.stream(request))), layer)
        assert.strictEqual(error._tag, tag, message)
        assert.notInclude(error.message, key)
        if (error._tag === "InvalidRequest") assert.strictEqual(error.code, "INVALID_ARGUMENT")
      }
    }))

  it.effect("layerConfig reads the key and base URL from Config", () =>
    Effect.gen(function*() {
      const { captured, layer } = fake(() => new Response(streamBody))
      yield* Stream.runDrain(LanguageModel.stream(request)).pipe(
        Effect.provide(
          Gemini.layerConfig({ apiKey: Config.redacted("GEMINI_API_KEY"), baseUrl: Config.string("GEMINI_BASE_URL") }).pipe(
            Layer.provide(layer)
          )
        ),
        Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["GEMINI_API_KEY", key], ["GEMINI_BASE_URL", "http://127.0.0.1:8787/"]])))
      )
      assert.strictEqual(captured[0].request.url, "http://127.0.0.1:8787/v1beta/models/gemini-2.5-flash:streamGenerateContent")
      assert.strictEqual(captured[0].request.headers["x-goog-api-key"], key)
    }))
})
