/**
 * The emulator against the clients people actually use: the official `openai`, `@anthropic-ai/sdk`
 * and `@google/genai` SDKs, pointed at the emulator's base URLs, read its answers to the text, tool
 * calls, reasoning and usage the scenario says, streamed and not, and see each fault as they would
 * see it from the real API (their own error classes, statuses and retries). Where an SDK does
 * something of its own with a damaged stream (a truncated one, an in-stream error), the test says
 * what it does, as observed, so a change in the emulator's bytes that changes it shows up here.
 *
 * Scenarios and faults are chosen per request with the `x-sluice-scenario` header, through each
 * SDK's own per-request headers option. SDK retries are off (`maxRetries: 0`) except where a test
 * is about them.
 */
import Anthropic from "@anthropic-ai/sdk"
import { ApiError, type GenerateContentResponse, GoogleGenAI } from "@google/genai"
import { assert, describe, it } from "@effect/vitest"
import { Emulator, Fault, Scenario } from "@sluice/emulator"
import { Effect } from "effect"
import OpenAI from "openai"
import * as Json from "./support/json.js"

const OPENAI_KEY = "sk-sdk-openai-0001"
const ANTHROPIC_KEY = "sk-ant-sdk-0002"
const GEMINI_KEY = "AIza-sdk-gemini-0003"

const openAi = (emulator: Emulator.Service, maxRetries = 0) =>
  new OpenAI({ apiKey: OPENAI_KEY, baseURL: emulator.openAiBaseUrl, maxRetries })

const anthropic = (emulator: Emulator.Service, maxRetries = 0) =>
  new Anthropic({ apiKey: ANTHROPIC_KEY, baseURL: emulator.anthropicBaseUrl, maxRetries })

const gemini = (emulator: Emulator.Service) =>
  new GoogleGenAI({ apiKey: GEMINI_KEY, httpOptions: { baseUrl: emulator.geminiBaseUrl } })

/** The per-request options that choose a scenario, for the OpenAI and Anthropic SDKs. */
const choose = (scenario: Scenario.Scenario | string) => ({ headers: Scenario.headers(scenario) })

/** The per-request config that chooses a scenario, for the Gemini SDK. */
const geminiConfig = (scenario: Scenario.Scenario | string) => ({ httpOptions: { headers: Scenario.headers(scenario) } })

const messages = [{ role: "user" as const, content: "Tell me about streaming." }]
const geminiContents = "Tell me about streaming."

/** Runs the SDK call and gives what it threw; a call that succeeds fails the test. */
const failure = (call: () => Promise<unknown>): Effect.Effect<unknown> =>
  Effect.promise(() =>
    call().then(
      (value) => Promise.reject(new Error(`expected the SDK to throw, it gave ${JSON.stringify(value)}`)),
      (error: unknown) => error
    )
  )

/** Runs the SDK call to completion. */
const call = <A>(run: () => Promise<A>): Effect.Effect<A> => Effect.promise(run)

/** Narrows an SDK error to its class, failing the test with what it was otherwise. */
const expectInstance = <T>(error: unknown, type: abstract new(...args: never) => T, label: string): T => {
  if (error instanceof type) return error
  return assert.fail(`${label}: expected ${type.name}, got ${String(error)}`)
}

// ---------------------------------------------------------------------------------------------
// reading each SDK's answers

/** The text and function calls of Gemini responses (streamed chunks or one answer), read from the parts. */
const geminiRead = (responses: ReadonlyArray<GenerateContentResponse>) => {
  let text = ""
  let reasoning = ""
  const calls: Array<{ name: string | undefined; args: unknown }> = []
  for (const response of responses) {
    for (const part of response.candidates?.[0]?.content?.parts ?? []) {
      if (part.functionCall !== undefined) calls.push({ name: part.functionCall.name, args: part.functionCall.args })
      else if (part.thought === true) reasoning += part.text ?? ""
      else text += part.text ?? ""
    }
  }
  const last = responses[responses.length - 1]
  return { text, reasoning, calls, usage: last?.usageMetadata, finish: last?.candidates?.[0]?.finishReason }
}

const collectGemini = (stream: AsyncGenerator<GenerateContentResponse>) =>
  Effect.promise(async () => {
    const out: Array<GenerateContentResponse> = []
    for await (const chunk of stream) out.push(chunk)
    return out
  })

/** Every chunk of an OpenAI stream. */
const collect = <A>(stream: AsyncIterable<A>) =>
  Effect.promise(async () => {
    const out: Array<A> = []
    for await (const chunk of stream) out.push(chunk)
    return out
  })

/** Iterates a stream until it ends or throws: the items seen and the error, if any. */
const drain = <A>(stream: () => Promise<AsyncIterable<A>>) =>
  Effect.promise(async () => {
    const seen: Array<A> = []
    try {
      for await (const item of await stream()) seen.push(item)
      return { seen, error: undefined }
    } catch (error: unknown) {
      return { seen, error }
    }
  })

/** The text of an Anthropic content block (undefined for other blocks). */
const textOf = (block: Anthropic.ContentBlock): string | undefined => (block.type === "text" ? block.text : undefined)

const scenario = {
  text: "Streaming answers arrive as a sequence of small deltas.",
  usage: { inputTokens: 21, outputTokens: 9, cachedInputTokens: 4 }
} satisfies Scenario.Scenario

describe("Emulator with the official SDKs: answers", () => {
  it.scopedLive("openai: streamed and not, the same text, finish and usage as the scenario says", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator.make()
      const client = openAi(emulator)
      const plain = yield* call(() => client.chat.completions.create({ model: "gpt-test", messages }, choose(scenario)))
      const chunks = yield* Effect.flatMap(
        call(() =>
          client.chat.completions.create(
            { model: "gpt-test", messages, stream: true, stream_options: { include_usage: true } },
            choose(scenario)
          )
        ),
        collect
      )
      const helper = yield* call(() =>
        client.chat.completions.stream(
          { model: "gpt-test", messages, stream_options: { include_usage: true } },
          choose(scenario)
        ).finalChatCompletion()
      )
      const usage = { prompt_tokens: 21, completion_tokens: 9, cached: 4 }
      const usageOf = (u: OpenAI.CompletionUsage | null | undefined) => ({
        prompt_tokens: u?.prompt_tokens,
        completion_tokens: u?.completion_tokens,
        cached: u?.prompt_tokens_details?.cached_tokens
      })
      assert.strictEqual(plain.choices[0].message.content, scenario.text)
      assert.strictEqual(plain.choices[0].finish_reason, "stop")
      assert.deepStrictEqual(usageOf(plain.usage), usage)
      assert.strictEqual(chunks.map((c) => c.choices[0]?.delta.content ?? "").join(""), scenario.text)
      assert.deepStrictEqual(chunks.flatMap((c) => c.choices[0]?.finish_reason ?? []), ["stop"])
      assert.deepStrictEqual(usageOf(chunks[chunks.length - 1].usage), usage)
      assert.strictEqual(helper.choices[0].message.content, scenario.text)
      assert.deepStrictEqual(usageOf(helper.usage), usage)
    }))

  it.scopedLive("anthropic: streamed and not, the same content, stop reason and usage as the scenario says", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator.make()
      const client = anthropic(emulator)
      const body = { model: "claude-test", max_tokens: 1024, messages }
      const plain = yield* call(() => client.messages.create(body, choose(scenario)))
      const events = yield* Effect.flatMap(call(() => client.messages.create({ ...body, stream: true }, choose(scenario))), collect)
      const final = yield* call(() => client.messages.stream(body, choose(scenario)).finalMessage())
      // Anthropic counts cache reads apart: 17 + 4 is the scenario's 21.
      const usage = { input_tokens: 17, cache_creation_input_tokens: 0, cache_read_input_tokens: 4, output_tokens: 9 }
      const usageOf = (u: Anthropic.Usage) => ({
        input_tokens: u.input_tokens,
        cache_creation_input_tokens: u.cache_creation_input_tokens,
        cache_read_input_tokens: u.cache_read_input_tokens,
        output_tokens: u.output_tokens
      })
      for (const [label, message] of [["plain", plain], ["stream().finalMessage()", final]] as const) {
        assert.deepStrictEqual(message.content.map(textOf), [scenario.text], label)
        assert.strictEqual(message.stop_reason, "end_turn", label)
        assert.deepStrictEqual(usageOf(message.usage), usage, label)
      }
      const text = events.flatMap((e) =>
        e.type === "content_block_delta" && e.delta.type === "text_delta" ? [e.delta.text] : []
      )
      assert.strictEqual(text.join(""), scenario.text)
      assert.deepStrictEqual(events.map((e) => e.type).slice(-2), ["message_delta", "message_stop"])
    }))

  it.scopedLive("@google/genai: streamed and not, the same text, finish and usage as the scenario says", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator.make()
      const client = gemini(emulator)
      const request = { model: "gemini-test", contents: geminiContents, config: geminiConfig(scenario) }
      const plain = geminiRead([yield* call(() => client.models.generateContent(request))])
      const streamed = geminiRead(yield* Effect.flatMap(call(() => client.models.generateContentStream(request)), collectGemini))
      for (const [label, read] of [["plain", plain], ["stream", streamed]] as const) {
        assert.strictEqual(read.text, scenario.text, label)
        assert.strictEqual(read.finish, "STOP", label)
        assert.strictEqual(read.usage?.promptTokenCount, 21, label)
        assert.strictEqual(read.usage?.candidatesTokenCount, 9, label)
        assert.strictEqual(read.usage?.cachedContentTokenCount, 4, label)
        assert.strictEqual(read.usage?.totalTokenCount, 30, label)
      }
    }))

  it.scopedLive("tool calls: each SDK assembles the scenario's calls, streamed as not", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator.make()
      const expected = [
        { name: "get_weather", args: { city: "Paris", unit: "celsius" } },
        { name: "get_time", args: { timezone: "Europe/Paris" } }
      ]
      // openai: the interleaved argument fragments come back together in the helper's final message
      const oa = openAi(emulator)
      const oaCalls = (message: OpenAI.ChatCompletionMessage) =>
        (message.tool_calls ?? []).map((c) =>
          c.type === "function" ? { name: c.function.name, args: JSON.parse(c.function.arguments) } : c
        )
      const oaPlain = yield* call(() => oa.chat.completions.create({ model: "gpt-test", messages }, choose("tools")))
      const oaFinal = yield* call(() =>
        oa.chat.completions.stream({ model: "gpt-test", messages }, choose("tools")).finalChatCompletion()
      )
      for (const completion of [oaPlain, oaFinal]) {
        assert.deepStrictEqual(oaCalls(completion.choices[0].message), expected)
        assert.strictEqual(completion.choices[0].finish_reason, "tool_calls")
      }
      assert.deepStrictEqual(oaFinal.choices[0].message.tool_calls?.map((c) => c.id), ["call_sluice_0", "call_sluice_1"])
      // anthropic: tool_use blocks with parsed input, from the JSON deltas
      const an = anthropic(emulator)
      const body = { model: "claude-test", max_tokens: 1024, messages }
      const anPlain = yield* call(() => an.messages.create(body, choose("tools")))
      const anFinal = yield* call(() => an.messages.stream(body, choose("tools")).finalMessage())
      for (const message of [anPlain, anFinal]) {
        assert.deepStrictEqual(
          message.content.map((b) => (b.type === "tool_use" ? { name: b.name, args: b.input } : b)),
          expected
        )
        assert.strictEqual(message.stop_reason, "tool_use")
      }
      assert.deepStrictEqual(anFinal.content, anPlain.content)
      // gemini: whole functionCall parts
      const g = gemini(emulator)
      const request = { model: "gemini-test", contents: geminiContents, config: geminiConfig("tools") }
      const gPlain = geminiRead([yield* call(() => g.models.generateContent(request))])
      const gStream = geminiRead(yield* Effect.flatMap(call(() => g.models.generateContentStream(request)), collectGemini))
      assert.deepStrictEqual(gPlain.calls, expected)
      assert.deepStrictEqual(gStream.calls, expected)
    }))

  it.scopedLive("reasoning: reasoning_content (OpenAI-compatible), thinking blocks, thought parts", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator.make()
      const thinking = { extends: "reasoning", usage: { reasoningTokens: 5 }, responseId: "msg_fixed" } satisfies Scenario.Scenario
      const { reasoning, text } = Scenario.named.reasoning
      // openai: the official API sends no reasoning text in Chat Completions; the SDK passes the
      // OpenAI-compatible servers' `reasoning_content` through untyped, so it is read loosely here
      const oa = openAi(emulator)
      const oaPlain = yield* call(() => oa.chat.completions.create({ model: "gpt-test", messages }, choose(thinking)))
      assert.strictEqual(Json.field(oaPlain.choices[0].message, "reasoning_content"), reasoning)
      assert.strictEqual(oaPlain.choices[0].message.content, text)
      assert.strictEqual(oaPlain.usage?.completion_tokens_details?.reasoning_tokens, 5)
      const chunks = yield* Effect.flatMap(
        call(() => oa.chat.completions.create({ model: "gpt-test", messages, stream: true }, choose(thinking))),
        collect
      )
      assert.strictEqual(chunks.map((c) => Json.text(Json.field(c.choices[0]?.delta, "reasoning_content")) ?? "").join(""), reasoning)
      assert.strictEqual(chunks.map((c) => c.choices[0]?.delta.content ?? "").join(""), text)
      // anthropic: a thinking block with its signature before the text, the same streamed and not
      const an = anthropic(emulator)
      const body = { model: "claude-test", max_tokens: 1024, messages }
      const anPlain = yield* call(() => an.messages.create(body, choose(thinking)))
      const anFinal = yield* call(() => an.messages.stream(body, choose(thinking)).finalMessage())
      assert.deepStrictEqual(anPlain.content.map((b) => b.type), ["thinking", "text"])
      const block = anPlain.content[0]
      assert.strictEqual(block.type === "thinking" ? block.thinking : undefined, reasoning)
      assert.isNotEmpty(block.type === "thinking" ? block.signature : "")
      assert.deepStrictEqual(anFinal.content, anPlain.content)
      // gemini: thought parts, and thoughtsTokenCount beside the candidates' count
      const g = gemini(emulator)
      const request = { model: "gemini-test", contents: geminiContents, config: geminiConfig(thinking) }
      const gPlain = geminiRead([yield* call(() => g.models.generateContent(request))])
      const gStream = geminiRead(yield* Effect.flatMap(call(() => g.models.generateContentStream(request)), collectGemini))
      for (const read of [gPlain, gStream]) {
        assert.strictEqual(read.reasoning, reasoning)
        assert.strictEqual(read.text, text)
        assert.strictEqual(read.usage?.thoughtsTokenCount, 5)
      }
    }))

  it.scopedLive("credentials and ids as each SDK sends and reads them (Anthropic's bearer key, request ids)", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator.make()
      const oa = yield* call(() => openAi(emulator).chat.completions.create({ model: "gpt-test", messages }))
      const an = yield* call(() =>
        anthropic(emulator).messages.create({ model: "claude-test", max_tokens: 64, messages })
      )
      yield* call(() => gemini(emulator).models.generateContent({ model: "gemini-test", contents: geminiContents }))
      const [openAiRecord, anthropicRecord, geminiRecord] = yield* emulator.awaitIdle
      assert.strictEqual(openAiRecord.headers.authorization, `Bearer ${OPENAI_KEY}`)
      // The Anthropic SDK sends its key as a bearer token, with its own (recent) API version.
      assert.strictEqual(anthropicRecord.headers.authorization, `Bearer ${ANTHROPIC_KEY}`)
      assert.isUndefined(anthropicRecord.headers["x-api-key"])
      assert.match(anthropicRecord.headers["anthropic-version"], /^\d{4}-\d{2}-\d{2}$/)
      assert.strictEqual(geminiRecord.headers["x-goog-api-key"], GEMINI_KEY)
      // Each SDK finds the request id where its API puts it: OpenAI's x-request-id, Anthropic's request-id.
      assert.strictEqual(oa._request_id, openAiRecord.id)
      assert.strictEqual(an._request_id, anthropicRecord.id)
      const limited = yield* failure(() =>
        anthropic(emulator).messages.create(
          { model: "claude-test", max_tokens: 64, messages },
          choose({ faults: [Fault.status({ status: 429 })] })
        )
      )
      const log = yield* emulator.awaitIdle
      assert.strictEqual(expectInstance(limited, Anthropic.RateLimitError, "anthropic").requestID, log[3].id)
    }))
})

describe("Emulator with the official SDKs: faults", () => {
  it.scopedLive("429 with Retry-After: each SDK's rate-limit error with the status and the header", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator.make()
      const limited = { faults: [Fault.status({ status: 429, retryAfter: 7 })] }
      const oa = expectInstance(
        yield* failure(() => openAi(emulator).chat.completions.create({ model: "gpt-test", messages }, choose(limited))),
        OpenAI.RateLimitError,
        "openai"
      )
      assert.strictEqual(oa.status, 429)
      assert.strictEqual(oa.headers.get("retry-after"), "7")
      assert.strictEqual(oa.code, "rate_limit_exceeded")
      const an = expectInstance(
        yield* failure(() =>
          anthropic(emulator).messages.create({ model: "claude-test", max_tokens: 64, messages, stream: true }, choose(limited))
        ),
        Anthropic.RateLimitError,
        "anthropic"
      )
      assert.strictEqual(an.status, 429)
      assert.strictEqual(an.headers.get("retry-after"), "7")
      assert.strictEqual(an.type, "rate_limit_error")
      // @google/genai has one error class; the status is the field to read.
      const g = expectInstance(
        yield* failure(() =>
          gemini(emulator).models.generateContentStream({ model: "gemini-test", contents: geminiContents, config: geminiConfig(limited) })
        ),
        ApiError,
        "gemini"
      )
      assert.strictEqual(g.status, 429)
      assert.include(g.message, "RESOURCE_EXHAUSTED")
    }))

  it.scopedLive("429: the SDKs' own retries honour retry-after-ms; they give up with the 429, or heal on the next answer", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator.make()
      const always = { faults: [Fault.status({ status: 429, retryAfterMs: 20 })] }
      const once = { faults: [Fault.status({ status: 429, retryAfterMs: 20, times: 1 })] }
      const gaveUp = yield* failure(() =>
        openAi(emulator, 2).chat.completions.create({ model: "gpt-test", messages }, choose(always))
      )
      assert.strictEqual(expectInstance(gaveUp, OpenAI.RateLimitError, "openai").status, 429)
      const healed = yield* call(() => anthropic(emulator, 2).messages.create({ model: "claude-test", max_tokens: 64, messages }, choose(once)))
      assert.deepStrictEqual(healed.content.map(textOf), [Scenario.defaultText])
      const log = yield* emulator.awaitIdle
      // Three tries for OpenAI (the first and two retries), two for Anthropic; each SDK counts its retries.
      assert.deepStrictEqual(
        log.map((r) => [r.path, r.status, r.headers["x-stainless-retry-count"]]),
        [
          ["/v1/chat/completions", 429, "0"],
          ["/v1/chat/completions", 429, "1"],
          ["/v1/chat/completions", 429, "2"],
          ["/v1/messages", 429, "0"],
          ["/v1/messages", 200, "1"]
        ]
      )
    }))

  it.scopedLive("a wrong key: AuthenticationError (OpenAI, Anthropic, whose key came as a bearer), Gemini's 403", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator.make()
      const wrong = { faults: [Fault.echoKey()] }
      const oa = expectInstance(
        yield* failure(() => openAi(emulator).chat.completions.create({ model: "gpt-test", messages, stream: true }, choose(wrong))),
        OpenAI.AuthenticationError,
        "openai"
      )
      assert.strictEqual(oa.status, 401)
      assert.strictEqual(oa.code, "invalid_api_key")
      assert.include(oa.message, OPENAI_KEY)
      const an = expectInstance(
        yield* failure(() => anthropic(emulator).messages.create({ model: "claude-test", max_tokens: 64, messages }, choose(wrong))),
        Anthropic.AuthenticationError,
        "anthropic"
      )
      assert.strictEqual(an.status, 401)
      assert.strictEqual(an.type, "authentication_error")
      assert.include(an.message, ANTHROPIC_KEY)
      const g = expectInstance(
        yield* failure(() =>
          gemini(emulator).models.generateContent({ model: "gemini-test", contents: geminiContents, config: geminiConfig(wrong) })
        ),
        ApiError,
        "gemini"
      )
      assert.strictEqual(g.status, 403)
      assert.include(g.message, "PERMISSION_DENIED")
      const unauthenticated = expectInstance(
        yield* failure(() =>
          gemini(emulator).models.generateContent({
            model: "gemini-test",
            contents: geminiContents,
            config: geminiConfig({ faults: [Fault.status({ status: 401 })] })
          })
        ),
        ApiError,
        "gemini 401"
      )
      assert.strictEqual(unauthenticated.status, 401)
      assert.include(unauthenticated.message, "UNAUTHENTICATED")
    }))

  it.scopedLive("5xx and Anthropic's 529: each SDK's server-error classes, with the status", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator.make()
      const status = (code: number) => ({ faults: [Fault.status({ status: code })] })
      for (const code of [500, 503, 529]) {
        const oa = expectInstance(
          yield* failure(() => openAi(emulator).chat.completions.create({ model: "gpt-test", messages }, choose(status(code)))),
          OpenAI.InternalServerError,
          `openai ${code}`
        )
        assert.strictEqual(oa.status, code)
        const an = expectInstance(
          yield* failure(() =>
            anthropic(emulator).messages.create({ model: "claude-test", max_tokens: 64, messages, stream: true }, choose(status(code)))
          ),
          Anthropic.InternalServerError,
          `anthropic ${code}`
        )
        assert.strictEqual(an.status, code)
        const g = expectInstance(
          yield* failure(() =>
            gemini(emulator).models.generateContent({ model: "gemini-test", contents: geminiContents, config: geminiConfig(status(code)) })
          ),
          ApiError,
          `gemini ${code}`
        )
        assert.strictEqual(g.status, code)
      }
      // Anthropic's SDK has a class for each: 503 unavailable, 529 overloaded.
      const overloaded = yield* failure(() =>
        anthropic(emulator).messages.create({ model: "claude-test", max_tokens: 64, messages }, choose(status(529)))
      )
      assert.strictEqual(expectInstance(overloaded, Anthropic.OverloadedError, "529").type, "overloaded_error")
      const unavailable = yield* failure(() =>
        anthropic(emulator).messages.create({ model: "claude-test", max_tokens: 64, messages }, choose(status(503)))
      )
      expectInstance(unavailable, Anthropic.ServiceUnavailableError, "503")
    }))

  it.scopedLive("an in-stream error event: each SDK's stream throws its API error, after the text so far", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator.make()
      const broken = { extends: "long", faults: [Fault.errorEvent(3)] }
      const oa = yield* drain(() =>
        openAi(emulator).chat.completions.create({ model: "gpt-test", messages, stream: true }, choose(broken))
      )
      const oaError = expectInstance(oa.error, OpenAI.APIError, "openai")
      assert.isUndefined(oaError.status)
      assert.strictEqual(oaError.type, "server_error")
      assert.strictEqual(oaError.message, "The server had an error while processing your request. Sorry about that!")
      assert.strictEqual(oa.seen.filter((c) => (c.choices[0]?.delta.content ?? "") !== "").length, 3)
      const an = yield* drain(() =>
        anthropic(emulator).messages.create({ model: "claude-test", max_tokens: 1024, messages, stream: true }, choose(broken))
      )
      const anError = expectInstance(an.error, Anthropic.APIError, "anthropic")
      assert.isUndefined(anError.status)
      assert.strictEqual(anError.type, "overloaded_error")
      assert.strictEqual(an.seen.filter((e) => e.type === "content_block_delta").length, 3)
      const g = yield* drain(() =>
        gemini(emulator).models.generateContentStream({
          model: "gemini-test",
          contents: geminiContents,
          config: geminiConfig({ ...broken, faults: [Fault.errorEvent(3, { errorType: "UNAVAILABLE", message: "try later" })] })
        })
      )
      const gError = expectInstance(g.error, ApiError, "gemini")
      assert.strictEqual(gError.status, 503)
      assert.include(gError.message, "try later")
      assert.strictEqual(g.seen.length, 3)
    }))

  it.scopedLive("a stream that ends early: the raw iterators end quietly, the SDKs' accumulating helpers refuse", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator.make()
      const cut = { extends: "long", faults: [Fault.truncate(3)] }
      // openai: the iterator ends without a finish_reason and without an error...
      const oa = yield* drain(() => openAi(emulator).chat.completions.create({ model: "gpt-test", messages, stream: true }, choose(cut)))
      assert.isUndefined(oa.error)
      assert.deepStrictEqual(oa.seen.flatMap((c) => c.choices[0]?.finish_reason ?? []), [])
      assert.strictEqual(oa.seen.filter((c) => (c.choices[0]?.delta.content ?? "") !== "").length, 3)
      // ...while the stream helper refuses an answer that never finished
      const oaHelper = yield* failure(() =>
        openAi(emulator).chat.completions.stream({ model: "gpt-test", messages }, choose(cut)).finalChatCompletion()
      )
      assert.strictEqual(expectInstance(oaHelper, OpenAI.OpenAIError, "openai helper").message, "missing finish_reason for choice 0")
      // anthropic: the same, no message_stop and no error; the helper has no final message
      const an = yield* drain(() =>
        anthropic(emulator).messages.create({ model: "claude-test", max_tokens: 1024, messages, stream: true }, choose(cut))
      )
      assert.isUndefined(an.error)
      assert.notInclude(an.seen.map((e) => e.type), "message_stop")
      const anHelper = yield* failure(() =>
        anthropic(emulator).messages.stream({ model: "claude-test", max_tokens: 1024, messages }, choose(cut)).finalMessage()
      )
      assert.strictEqual(
        expectInstance(anHelper, Anthropic.AnthropicError, "anthropic helper").message,
        "stream ended without producing a Message with role=assistant"
      )
      // gemini: no end marker in the format, so a clean early end is just the chunks so far, no finishReason
      const g = yield* drain(() =>
        gemini(emulator).models.generateContentStream({ model: "gemini-test", contents: geminiContents, config: geminiConfig(cut) })
      )
      assert.isUndefined(g.error)
      assert.strictEqual(geminiRead(g.seen).text, "Streaming answers arrive ")
      assert.isUndefined(geminiRead(g.seen).finish)
    }))

  it.scopedLive("a stream cut inside an event, or reset: what each SDK does", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator.make()
      const midEvent = { extends: "long", faults: [Fault.truncateMidEvent(3)] }
      const reset = { extends: "long", faults: [Fault.reset(3)] }
      const streams = (s: Scenario.Scenario) => ({
        openai: drain(() => openAi(emulator).chat.completions.create({ model: "gpt-test", messages, stream: true }, choose(s))),
        anthropic: drain(() =>
          anthropic(emulator).messages.create({ model: "claude-test", max_tokens: 1024, messages, stream: true }, choose(s))
        ),
        gemini: drain(() =>
          gemini(emulator).models.generateContentStream({ model: "gemini-test", contents: geminiContents, config: geminiConfig(s) })
        )
      })
      // Cut mid-event then ended cleanly: OpenAI's and Anthropic's SDKs drop the partial event quietly;
      // Gemini's says the JSON was incomplete.
      const mid = yield* Effect.all(streams(midEvent))
      assert.isUndefined(mid.openai.error)
      assert.isUndefined(mid.anthropic.error)
      assert.instanceOf(mid.gemini.error, Error)
      assert.include(String(mid.gemini.error), "Incomplete JSON segment")
      // Reset (no chunked terminator): every SDK's stream throws undici's "terminated".
      const cut = yield* Effect.all(streams(reset))
      for (const [name, outcome] of Object.entries(cut)) {
        assert.instanceOf(outcome.error, TypeError, name)
        assert.strictEqual(outcome.error instanceof TypeError ? outcome.error.message : "", "terminated", name)
      }
    }))
})
