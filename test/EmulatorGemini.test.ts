/**
 * The emulator's Gemini format over real sockets, read with `fetch` as raw bytes.
 */
import { assert, describe, it } from "@effect/vitest"
import { Emulator, Fault, Scenario } from "@sluice/emulator"
import { Effect, Either, Option } from "effect"
import type { Options } from "./support/emulatorClients.js"
import { clientFor, geminiChunks, geminiData, reader, readJson, readStream, requestId } from "./support/emulatorClients.js"
import * as Json from "./support/json.js"

const { plainText, stream, streamText } = clientFor("gemini")
const post = (url: string, headers: Record<string, string>, body: unknown) =>
  Effect.promise(() =>
    fetch(url, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify(body) })
  )
const textOf = (response: Response) => Effect.promise(() => response.text())

const fixed = { text: "Hi there!", responseId: "resp-1" } satisfies Scenario.Scenario
const hi = { contents: [{ role: "user", parts: [{ text: "Say hi" }] }] }

describe("Emulator: Gemini format", () => {
  it.scopedLive("streams byte-exact chunks with CRLF line ends and Gemini's JSON spacing", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator.make()
      const response = yield* stream(emulator, { scenario: fixed })
      assert.strictEqual(response.status, 200)
      assert.strictEqual(response.headers.get("content-type"), "text/event-stream")
      const body = yield* textOf(response)
      const usage = `"usageMetadata": {"promptTokenCount": 9,"totalTokenCount": 9,` +
        `"promptTokensDetails": [{"modality": "TEXT","tokenCount": 9}]}`
      const tail = `"modelVersion": "gemini-test","responseId": "resp-1"}\r\n\r\n`
      assert.strictEqual(
        body,
        `data: {"candidates": [{"content": {"parts": [{"text": "Hi "}],"role": "model"}}],${usage},${tail}` +
          `data: {"candidates": [{"content": {"parts": [{"text": "there!"}],"role": "model"}}],${usage},${tail}` +
          `data: {"candidates": [{"content": {"parts": [{"text": ""}],"role": "model"},"finishReason": "STOP"}],` +
          `"usageMetadata": {"promptTokenCount": 9,"candidatesTokenCount": 2,"totalTokenCount": 11,` +
          `"promptTokensDetails": [{"modality": "TEXT","tokenCount": 9}],` +
          `"candidatesTokensDetails": [{"modality": "TEXT","tokenCount": 2}]},${tail}`
      )
      // every line ends with CRLF
      assert.isFalse(/[^\r]\n/.test(body))
      // no end marker: the body simply ends after the last chunk
      assert.isFalse(body.includes("[DONE]"))
    }))

  it.scopedLive("answers :generateContent with the whole response, indented as Gemini writes it", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator.make()
      const response = yield* stream(emulator, { scenario: fixed, stream: false })
      assert.strictEqual(response.headers.get("content-type"), "application/json; charset=UTF-8")
      assert.strictEqual(
        yield* textOf(response),
        `{
  "candidates": [
    {
      "content": {
        "parts": [
          {
            "text": "Hi there!"
          }
        ],
        "role": "model"
      },
      "finishReason": "STOP"
    }
  ],
  "usageMetadata": {
    "promptTokenCount": 9,
    "candidatesTokenCount": 2,
    "totalTokenCount": 11,
    "promptTokensDetails": [
      {
        "modality": "TEXT",
        "tokenCount": 9
      }
    ],
    "candidatesTokensDetails": [
      {
        "modality": "TEXT",
        "tokenCount": 2
      }
    ]
  },
  "modelVersion": "gemini-test",
  "responseId": "resp-1"
}
`
      )
    }))

  it.scopedLive("thought parts, whole functionCall parts with object args, usage on every chunk", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator.make()
      const scenario: Scenario.Scenario = { extends: "tools", reasoning: "Look it up, then answer.", text: "Checking." }
      const chunks = geminiChunks(yield* streamText(emulator, { scenario }))
      const parts = chunks.map((c) => Json.at(c, "candidates", 0, "content", "parts", 0))
      assert.deepStrictEqual(parts.filter((p) => Json.field(p, "thought") === true).map((p) => Json.text(Json.field(p, "text"))).join(""), "Look it up, then answer.")
      // one chunk per call, the call whole, args as an object, in the order the calls start
      assert.deepStrictEqual(parts.filter((p) => Json.field(p, "functionCall") !== undefined), [
        { functionCall: { name: "get_weather", args: { city: "Paris", unit: "celsius" } } },
        { functionCall: { name: "get_time", args: { timezone: "Europe/Paris" } } }
      ])
      // reasoning 5 + text 1 + calls 2 content chunks, then the finish
      assert.strictEqual(chunks.length, 9)
      const last = chunks[chunks.length - 1]
      assert.strictEqual(Json.at(last, "candidates", 0, "finishReason"), "STOP")
      assert.isTrue(chunks.slice(0, -1).every((c) => Json.at(c, "candidates", 0, "finishReason") === undefined))
      // intermediate usage: prompt and thoughts so far, no candidates; the last one everything
      const usages = chunks.map((c) => Json.field(c, "usageMetadata"))
      assert.deepStrictEqual(usages.map((u) => Json.field(u, "thoughtsTokenCount")), [1, 2, 3, 4, 5, 5, 5, 5, 5])
      assert.isTrue(usages.slice(0, -1).every((u) => Json.field(u, "candidatesTokenCount") === undefined))
      assert.isTrue(usages.slice(0, -1).every((u) =>
        Json.number(Json.field(u, "totalTokenCount")) ===
          (Json.number(Json.field(u, "promptTokenCount")) ?? NaN) + (Json.number(Json.field(u, "thoughtsTokenCount")) ?? NaN)
      ))
      // output: 5 reasoning + 1 text + 2 starts + 6 + 5 argument fragments (the OpenAI deltas), 5 of them thoughts
      assert.deepStrictEqual(
        [Json.at(last, "usageMetadata", "candidatesTokenCount"), Json.at(last, "usageMetadata", "thoughtsTokenCount"), Json.at(last, "usageMetadata", "totalTokenCount")],
        [14, 5, 9 + 19]
      )
      assert.isUndefined(Json.at(last, "usageMetadata", "cachedContentTokenCount"))

      const plain = JSON.parse(yield* plainText(emulator, { scenario }))
      assert.deepStrictEqual(plain.candidates[0].content.parts, [
        { text: "Look it up, then answer.", thought: true },
        { text: "Checking." },
        { functionCall: { name: "get_weather", args: { city: "Paris", unit: "celsius" } } },
        { functionCall: { name: "get_time", args: { timezone: "Europe/Paris" } } }
      ])
      assert.deepStrictEqual(plain.usageMetadata, Json.field(last, "usageMetadata"))

      const named = yield* streamText(emulator, {
        scenario: { toolCalls: [{ id: "fc_1", name: "lookup", arguments: "{}" }] }
      })
      assert.deepStrictEqual(Json.at(geminiChunks(named)[0], "candidates", 0, "content", "parts", 0), {
        functionCall: { id: "fc_1", name: "lookup", args: {} }
      })
    }))

  it.scopedLive("reports the same usage streamed (last chunk) and not; cached content only when non-zero", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator.make()
      const messages = [
        { role: "system", content: "You are terse." },
        { role: "user", content: "Tell me about streaming, please." }
      ] as const
      for (const name of ["hello", "long", "reasoning", "tools", "unicode"] as const) {
        const streamed = readStream("gemini", yield* streamText(emulator, { scenario: name, messages }))
        const plain = readJson("gemini", yield* plainText(emulator, { scenario: name, messages }))
        assert.isDefined(streamed.usage, name)
        assert.deepStrictEqual(streamed.usage, plain.usage, name)
      }
      const hello = readJson("gemini", yield* plainText(emulator, { scenario: "hello", messages }))
      assert.deepStrictEqual(hello.usage, { input: 19, output: 5, cached: 0 })

      const cached = { usage: { inputTokens: 100, outputTokens: 7, cachedInputTokens: 40, reasoningTokens: 2 } }
      const chunks = geminiChunks(yield* streamText(emulator, { scenario: cached }))
      assert.isTrue(chunks.every((c) => Json.at(c, "usageMetadata", "cachedContentTokenCount") === 40))
      const final = JSON.parse(yield* plainText(emulator, { scenario: cached })).usageMetadata
      assert.deepStrictEqual(
        [final.promptTokenCount, final.candidatesTokenCount, final.thoughtsTokenCount, final.totalTokenCount],
        [100, 5, 2, 107]
      )
    }))

  it.scopedLive("maps finish reasons to Gemini's, and passes Gemini's own through", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator.make()
      const finish = (options: Options) => Effect.map(streamText(emulator, options), (b) => readStream("gemini", b).finish)
      assert.strictEqual(yield* finish({ scenario: "hello" }), "STOP")
      assert.strictEqual(yield* finish({ scenario: "tools" }), "STOP")
      assert.strictEqual(yield* finish({ scenario: "long", maxTokens: 3 }), "MAX_TOKENS")
      assert.strictEqual(yield* finish({ scenario: { finishReason: "content_filter" } }), "SAFETY")
      assert.strictEqual(yield* finish({ scenario: { finishReason: "RECITATION" } }), "RECITATION")
      assert.strictEqual(yield* finish({ scenario: { finishReason: "MALFORMED_FUNCTION_CALL" } }), "MALFORMED_FUNCTION_CALL")
    }))

  it.scopedLive("routes and credentials: x-goog-api-key or ?key=, 403 without, alt=sse, 404s", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator.make()
      const base = `${emulator.geminiBaseUrl}/v1beta/models/gemini-test`
      const noKey = yield* post(`${base}:generateContent`, {}, hi)
      assert.strictEqual(noKey.status, 403)
      assert.deepStrictEqual(JSON.parse(yield* textOf(noKey)), {
        error: {
          code: 403,
          message: "Method doesn't allow unregistered callers (callers without established identity). " +
            "Please use API Key or other form of API consumer identity to call this API.",
          status: "PERMISSION_DENIED"
        }
      })
      const byQuery = yield* post(`${base}:streamGenerateContent?alt=sse&key=AIza-q`, {}, hi)
      assert.strictEqual(byQuery.status, 200)
      assert.strictEqual(readStream("gemini", yield* textOf(byQuery)).text, Scenario.defaultText)
      const noSse = yield* post(`${base}:streamGenerateContent`, { "x-goog-api-key": "k" }, hi)
      assert.strictEqual(noSse.status, 400)
      assert.strictEqual(JSON.parse(yield* textOf(noSse)).error.status, "INVALID_ARGUMENT")
      const unknown = yield* post(`${base}:countTokens`, { "x-goog-api-key": "k" }, hi)
      assert.strictEqual(unknown.status, 404)
      assert.deepStrictEqual(JSON.parse(yield* textOf(unknown)), {
        error: { code: 404, message: "Method not found.", status: "NOT_FOUND" }
      })
      const elsewhere = yield* post(`${emulator.url}/v1beta/files`, {}, {})
      assert.strictEqual(elsewhere.status, 404)
      assert.strictEqual(JSON.parse(yield* textOf(elsewhere)).error.status, "NOT_FOUND")
      const badBody = yield* post(`${base}:generateContent`, { "x-goog-api-key": "k" }, { prompt: "hi" })
      assert.strictEqual(badBody.status, 400)
      assert.strictEqual(JSON.parse(yield* textOf(badBody)).error.status, "INVALID_ARGUMENT")
      // the model comes from the path, URL escapes read
      const escaped = yield* post(
        `${emulator.geminiBaseUrl}/v1beta/models/gemini-2.5-flash%2Dlite:generateContent`,
        { "x-goog-api-key": "k" },
        hi
      )
      assert.strictEqual(JSON.parse(yield* textOf(escaped)).modelVersion, "gemini-2.5-flash-lite")
      const log = yield* emulator.awaitIdle
      assert.deepStrictEqual(log.map((r) => [r.status, r.stream]), [
        [403, false],
        [200, true],
        [400, false],
        [404, false],
        [404, false],
        [400, false],
        [200, false]
      ])
    }))

  it.scopedLive("promptBlocked: promptFeedback with no candidates, streamed and not", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator.make()
      const scenario = { responseId: "r", faults: [Fault.promptBlocked({ reason: "PROHIBITED_CONTENT" })] }
      const body = yield* streamText(emulator, { scenario })
      assert.strictEqual(
        body,
        `data: {"promptFeedback": {"blockReason": "PROHIBITED_CONTENT"},"usageMetadata": {"promptTokenCount": 9,` +
          `"totalTokenCount": 9,"promptTokensDetails": [{"modality": "TEXT","tokenCount": 9}]},` +
          `"modelVersion": "gemini-test","responseId": "r"}\r\n\r\n`
      )
      const plain = JSON.parse(yield* plainText(emulator, { scenario: { faults: [Fault.promptBlocked()] } }))
      assert.deepStrictEqual(plain.promptFeedback, { blockReason: "SAFETY" })
      assert.isUndefined(plain.candidates)
      const log = yield* emulator.awaitIdle
      assert.deepStrictEqual(log.map((r) => [r.status, r.faults]), [[200, ["promptBlocked"]], [200, ["promptBlocked"]]])
    }))
})

describe("Emulator: Gemini faults", () => {
  it.scopedLive("status: Gemini's error body and Retry-After; context length; echoKey", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator.make()
      const unavailable = yield* stream(emulator, { scenario: { faults: [Fault.status({ status: 503, retryAfter: 2 })] } })
      assert.strictEqual(unavailable.status, 503)
      assert.strictEqual(unavailable.headers.get("retry-after"), "2")
      assert.strictEqual(
        yield* textOf(unavailable),
        `{\n  "error": {\n    "code": 503,\n    "message": "The model is overloaded. Please try again later.",\n` +
          `    "status": "UNAVAILABLE"\n  }\n}\n`
      )
      const exhausted = yield* stream(emulator, { scenario: { faults: [Fault.status({ status: 429 })] } })
      assert.strictEqual(JSON.parse(yield* textOf(exhausted)).error.status, "RESOURCE_EXHAUSTED")
      const context = JSON.parse(yield* plainText(emulator, { scenario: { faults: [Fault.contextLengthExceeded()] } }))
      assert.strictEqual(context.error.status, "INVALID_ARGUMENT")
      assert.match(context.error.message, /^The input token count \(\d+\) exceeds the maximum number of tokens allowed \(\d+\)\.$/)
      const echo = yield* stream(emulator, { scenario: { faults: [Fault.echoKey()] } })
      assert.strictEqual(echo.status, 403)
      assert.include(JSON.parse(yield* textOf(echo)).error.message, "AIza-test-123")
    }))

  it.scopedLive("truncate: a clean end after N chunks, with no finishReason", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator.make()
      const two = yield* streamText(emulator, { scenario: { faults: [Fault.truncate(2)] } })
      const read = readStream("gemini", two)
      assert.strictEqual(read.contentEvents, 2)
      assert.isNull(read.finish)
      assert.isTrue(two.endsWith("\r\n\r\n"))
      // 0: nothing at all (Gemini sends nothing before the first token)
      const none = yield* stream(emulator, { scenario: { faults: [Fault.truncate(0)] } })
      assert.strictEqual(none.status, 200)
      assert.strictEqual(yield* textOf(none), "")
    }))

  it.scopedLive("truncateMidEvent and reset", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator.make()
      const cut = yield* streamText(emulator, { scenario: { text: "añb ñc", faults: [Fault.truncateMidEvent(1)] } })
      assert.strictEqual(geminiData(cut).length, 1)
      assert.isFalse(cut.endsWith("\r\n\r\n"))
      const sized = yield* streamText(emulator, { scenario: { faults: [Fault.truncateMidEvent(0, { bytes: 7 })] } })
      assert.strictEqual(sized, "data: {")

      const response = yield* stream(emulator, { scenario: { faults: [Fault.reset(1, { rst: true })] } })
      const read = yield* Effect.either(Effect.tryPromise(() => response.text()))
      assert.isTrue(Either.isLeft(read))
      const record = yield* emulator.awaitEnded(requestId(response))
      assert.strictEqual(record.ending, "reset")
      assert.strictEqual(record.events, 1)
    }))

  it.scopedLive("stall: silent after N chunks until the client leaves (recorded client-closed); headersOnly", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator.make()
      const controller = new AbortController()
      const response = yield* stream(emulator, { scenario: { extends: "long", faults: [Fault.stall(2)] }, signal: controller.signal })
      const body = reader(response)
      yield* body.readUntil((t) => geminiData(t).length >= 2)
      const more = yield* body.readOnce.pipe(Effect.timeout("150 millis"), Effect.option)
      assert.isTrue(Option.isNone(more))
      controller.abort()
      const record = yield* emulator.awaitEnded(requestId(response))
      assert.strictEqual(record.ending, "client-closed")
      assert.strictEqual(record.events, 2)

      const silent = new AbortController()
      const headersOnly = yield* stream(emulator, { scenario: { faults: [Fault.headersOnly()] }, signal: silent.signal })
      assert.strictEqual(headersOnly.status, 200)
      const nothing = yield* reader(headersOnly).readOnce.pipe(Effect.timeout("100 millis"), Effect.option)
      assert.isTrue(Option.isNone(nothing))
      silent.abort()
      assert.strictEqual((yield* emulator.awaitEnded(requestId(headersOnly))).ending, "client-closed")
    }))

  it.scopedLive("dropDone changes nothing (no end marker); dropFinish keeps the last chunk's usage", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator.make()
      const normal = yield* streamText(emulator, { scenario: fixed })
      const noDone = yield* streamText(emulator, { scenario: { ...fixed, faults: [Fault.dropDone()] } })
      assert.strictEqual(noDone, normal)

      const noFinish = geminiChunks(yield* streamText(emulator, { scenario: { faults: [Fault.dropFinish()] } }))
      const last = noFinish[noFinish.length - 1]
      assert.isUndefined(Json.at(last, "candidates", 0, "finishReason"))
      assert.strictEqual(Json.at(last, "usageMetadata", "candidatesTokenCount"), 5)
      assert.isTrue(noFinish.every((c) => Json.at(c, "candidates", 0, "finishReason") === undefined))
      // with no usage either, the last chunk has nothing to carry and is left out
      const bare = geminiChunks(
        yield* streamText(emulator, { scenario: { faults: [Fault.dropFinish(), Fault.omitUsage()] } })
      )
      assert.strictEqual(bare.length, 5)
      const plain = JSON.parse(yield* plainText(emulator, { scenario: { faults: [Fault.dropFinish()] } }))
      assert.isUndefined(plain.candidates[0].finishReason)
      const log = yield* emulator.awaitIdle
      assert.deepStrictEqual(log.map((r) => r.faults), [[], [], ["dropFinish"], ["omitUsage", "dropFinish"], ["dropFinish"]])
    }))

  it.scopedLive("errorEvent: data: {\"error\":…}, INTERNAL by default, the status the fault names otherwise", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator.make()
      const body = yield* streamText(emulator, { scenario: { faults: [Fault.errorEvent(1)] } })
      const data = geminiData(body)
      assert.strictEqual(data.length, 2)
      assert.match(data[1], /^\{"error": \{"code": 500,"message": "An internal error has occurred\..*","status": "INTERNAL"\}\}$/)
      const unavailable = geminiData(
        yield* streamText(emulator, { scenario: { faults: [Fault.errorEvent(0, { errorType: "UNAVAILABLE", message: "busy" })] } })
      )
      assert.deepStrictEqual(JSON.parse(unavailable[0]), { error: { code: 503, message: "busy", status: "UNAVAILABLE" } })
    }))

  it.scopedLive("malformedJson and wrongSchema at event N, streamed and not", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator.make()
      const broken = geminiData(yield* streamText(emulator, { scenario: { faults: [Fault.malformedJson(2)] } }))
      assert.doesNotThrow(() => JSON.parse(broken[0]))
      assert.throws(() => JSON.parse(broken[1]))
      assert.doesNotThrow(() => JSON.parse(broken[2]))
      const wrong = geminiChunks(yield* streamText(emulator, { scenario: { faults: [Fault.wrongSchema(1)] } }))
      assert.strictEqual(Json.field(wrong[0], "candidates"), "unexpected")
      // past the last content event: the finish chunk
      const late = geminiChunks(yield* streamText(emulator, { scenario: { faults: [Fault.wrongSchema(99)] } }))
      assert.strictEqual(Json.field(late[late.length - 1], "candidates"), "unexpected")

      const plain = yield* plainText(emulator, { scenario: { faults: [Fault.malformedJson(1)] } })
      assert.throws(() => JSON.parse(plain))
      assert.strictEqual(JSON.parse(yield* plainText(emulator, { scenario: { faults: [Fault.wrongSchema(1)] } })).candidates, "unexpected")
    }))

  it.scopedLive("omitUsage: no usageMetadata; inflateUsage: streamed figures multiplied", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator.make()
      const omitted = geminiChunks(yield* streamText(emulator, { scenario: { faults: [Fault.omitUsage()] } }))
      assert.isTrue(omitted.every((c) => Json.field(c, "usageMetadata") === undefined))
      assert.strictEqual(Json.at(omitted[omitted.length - 1], "candidates", 0, "finishReason"), "STOP")
      assert.isUndefined(JSON.parse(yield* plainText(emulator, { scenario: { faults: [Fault.omitUsage()] } })).usageMetadata)

      const scenario = { extends: "reasoning", faults: [Fault.inflateUsage(3)] }
      const streamed = readStream("gemini", yield* streamText(emulator, { scenario })).usage
      const plain = readJson("gemini", yield* plainText(emulator, { scenario })).usage
      assert.strictEqual(streamed?.output, 3 * (plain?.output ?? 0))
      assert.strictEqual(streamed?.input, 3 * (plain?.input ?? 0))
    }))

  it.scopedLive("bufferedReplay, and keep-alive comments with CRLF", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator.make()
      const started = performance.now()
      const response = yield* stream(emulator, { scenario: { firstTokenDelayMs: 40, gapMs: 30, faults: [Fault.bufferedReplay()] } })
      const body = reader(response)
      yield* body.readAll
      const firstAt = (body.reads.find((r) => geminiData(r.upTo).length > 0)?.at ?? Infinity) - started
      const lastAt = body.reads[body.reads.length - 1].at - started
      assert.isTrue(firstAt >= 120, `first token at ${firstAt}ms`)
      assert.isTrue(lastAt - firstAt < 100, `spread ${lastAt - firstAt}ms`)

      const waited = yield* streamText(emulator, { scenario: { firstTokenDelayMs: 100, keepAlive: 20 } })
      assert.isTrue(waited.startsWith(": keep-alive\r\n\r\n"))
      const withoutComments = waited.split(": keep-alive\r\n\r\n").join("")
      assert.strictEqual(readStream("gemini", withoutComments).text, Scenario.defaultText)
    }))
})
