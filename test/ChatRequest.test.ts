import { assert, describe, it } from "@effect/vitest"
import { ChatRequest, type LanguageModel, type LlmError } from "@sluice/core"
import { Anthropic, Gemini, OpenAiCompatible } from "@sluice/providers"
import { HttpClient } from "@effect/platform"
import { Effect, Either, JSONSchema, Layer, Redacted, Schema, Stream } from "effect"

const ok = ChatRequest.make({ model: "m", messages: [ChatRequest.user("hi")] })

const bad: ReadonlyArray<readonly [string, unknown, RegExp]> = [
  ["an empty message list", { model: "m", messages: [] }, /message list is empty/],
  ["an unknown role", { model: "m", messages: [{ role: "robot", content: "x" }] }, /does not match ChatRequest/],
  ["only system messages", { model: "m", messages: [ChatRequest.system("x")] }, /no user message/],
  ["a non-finite temperature", { ...ok, temperature: Number.NaN }, /temperature NaN/],
  ["an infinite temperature", { ...ok, temperature: Number.POSITIVE_INFINITY }, /temperature Infinity/],
  ["a temperature out of range", { ...ok, temperature: 3 }, /temperature 3/],
  ["a negative maxTokens", { ...ok, maxTokens: -5 }, /maxTokens -5/],
  ["a fractional maxTokens", { ...ok, maxTokens: 1.5 }, /does not match ChatRequest/],
  ["a tool whose schema is not an object", { ...ok, tools: [{ name: "f", parameters: { type: "array" } }] }, /type "object"/],
  ["a tool whose schema is an array", { ...ok, tools: [{ name: "f", parameters: [] }] }, /does not match ChatRequest/],
  ["a bad tool name", { ...ok, tools: [{ name: "get weather", parameters: {} }] }, /tool name/],
  ["a duplicate tool", { ...ok, tools: [{ name: "f", parameters: {} }, { name: "f", parameters: {} }] }, /declared twice/],
  ["a toolChoice naming no tool", { ...ok, tools: [{ name: "f", parameters: {} }], toolChoice: { tool: "g" } }, /not among the tools/],
  ["a tool result without its call id", { model: "m", messages: [ChatRequest.user("x"), { role: "tool", content: "42" }] }, /toolCallId/],
  ["an empty model", { ...ok, model: " " }, /model is empty/]
]

describe("ChatRequest.problem", () => {
  it("accepts a plain request", () => {
    assert.isUndefined(ChatRequest.problem(ok))
    assert.isUndefined(ChatRequest.problem({ ...ok, temperature: 0, maxTokens: 10, topP: 1, tools: [{ name: "f", parameters: { type: "object" } }], toolChoice: { tool: "f" } }))
  })
  for (const [name, request, reason] of bad) {
    it(`refuses ${name}`, () => {
      const problem = ChatRequest.problem(request)
      assert.isDefined(problem)
      assert.match(problem ?? "", reason)
    })
  }
})

describe("adapters refuse bad input before any network call", () => {
  // An HttpClient that fails the test if it is ever used.
  let calls = 0
  const NoNetwork = Layer.succeed(HttpClient.HttpClient, HttpClient.make(() => Effect.sync(() => {
    calls++
    throw new Error("the network was used")
  })))
  const services: ReadonlyArray<readonly [string, Effect.Effect<LanguageModel.Service, never, HttpClient.HttpClient>]> = [
    ["openai", OpenAiCompatible.make({ baseUrl: "http://127.0.0.1:9/v1" })],
    ["anthropic", Anthropic.make({ apiKey: Redacted.make("k") })],
    ["gemini", Gemini.make({ apiKey: Redacted.make("k") })]
  ]
  for (const [name, make] of services) {
    it.effect(`${name}: stream and complete fail with InvalidRequest`, () =>
      Effect.gen(function*() {
        const service = yield* make
        for (const [, request] of bad) {
          // Deliberately ill-typed, as callers from plain JavaScript send them (JSON.parse gives an untyped value).
          const unchecked: ChatRequest.ChatRequest = JSON.parse(JSON.stringify(request, (_, v) => (typeof v === "number" && !Number.isFinite(v) ? "NaN!" : v)), (_, v) => (v === "NaN!" ? Number.NaN : v))
          const streamed = yield* Effect.either(Stream.runDrain(service.stream(unchecked)))
          assert.isTrue(Either.isLeft(streamed) && streamed.left._tag === "InvalidRequest", `${name} stream`)
          if (Either.isLeft(streamed)) assert.include(streamed.left.message, "was not sent")
          const completed = yield* Effect.either(service.complete(unchecked))
          assert.isTrue(Either.isLeft(completed) && completed.left._tag === "InvalidRequest", `${name} complete`)
        }
        assert.strictEqual(calls, 0)
      }).pipe(Effect.provide(NoNetwork)))
  }
  // Tool arguments that are not a JSON object: a valid ChatRequest that Anthropic's and Gemini's formats cannot carry.
  const uncarriable = ChatRequest.make({
    model: "m",
    messages: [
      ChatRequest.user("x"),
      { role: "assistant", content: "", toolCalls: [{ id: "c1", name: "f", arguments: "[1]" }] },
      { role: "tool", toolCallId: "c1", name: "f", content: "42" }
    ]
  })
  it.effect("every adapter refuses with one code: a caller's mistake and a request its format cannot carry are InvalidRequest invalid-request", () =>
    Effect.gen(function*() {
      const code = (error: Either.Either<unknown, LlmError.LlmError>) =>
        Either.isLeft(error) && error.left._tag === "InvalidRequest" ? error.left.code : undefined
      for (const [name, make] of services) {
        const service = yield* make
        const empty = ChatRequest.make({ model: "m", messages: [] })
        assert.strictEqual(code(yield* Effect.either(Stream.runDrain(service.stream(empty)))), "invalid-request", `${name} stream`)
        assert.strictEqual(code(yield* Effect.either(service.complete(empty))), "invalid-request", `${name} complete`)
      }
      for (const [name, make] of services.filter(([name]) => name !== "openai")) {
        const service = yield* make
        const streamed = yield* Effect.either(Stream.runDrain(service.stream(uncarriable)))
        assert.strictEqual(code(streamed), "invalid-request", `${name} stream`)
        if (Either.isLeft(streamed)) assert.include(streamed.left.message, "is not a JSON object")
        assert.strictEqual(code(yield* Effect.either(service.complete(uncarriable))), "invalid-request", `${name} complete`)
      }
      assert.strictEqual(calls, 0)
    }).pipe(Effect.provide(NoNetwork)))
})

describe("ChatRequest.JsonSchema", () => {
  it("takes JSONSchema.make's output as written, without a cast (tools and response formats)", () => {
    const Weather = Schema.Struct({ city: Schema.String, days: Schema.optional(Schema.Int) })
    const parameters = JSONSchema.make(Weather)
    // type-level: JsonSchema7Root is assignable where a JSON Schema goes
    const schema: ChatRequest.JsonSchema = parameters
    const tool: ChatRequest.Tool = { name: "weather", description: "the forecast", parameters }
    const request = ChatRequest.make({
      model: "m",
      messages: [ChatRequest.user("Weather in Oslo?")],
      tools: [tool],
      responseFormat: { type: "json-schema", name: "weather", schema }
    })
    assert.isUndefined(ChatRequest.problem(request))
    assert.deepStrictEqual(request.tools?.[0].parameters, parameters)
    // a schema JSONSchema.make gives for a non-object is still refused as a tool's parameters
    assert.match(ChatRequest.problem({ ...request, tools: [{ name: "f", parameters: JSONSchema.make(Schema.Array(Schema.String)) }] }) ?? "", /type "object"/)
  })
})
