/**
 * The emulator over real sockets, read with Node's global `fetch` as raw bytes.
 */
import { assert, describe, it } from "@effect/vitest"
import { Emulator, Fault, Scenario } from "@sluice/emulator"
import { Config, ConfigProvider, Deferred, Effect, Either, Exit, Fiber, Option, Schema, Scope } from "effect"
import { spawn } from "node:child_process"
import { fileURLToPath } from "node:url"
import { openAiData as dataOf, reader } from "./support/emulatorClients.js"

// ---------------------------------------------------------------------------------------------
// helpers

interface ChatOptions {
  readonly scenario?: Scenario.Scenario | string
  readonly stream?: boolean
  readonly includeUsage?: boolean
  readonly messages?: ReadonlyArray<{ readonly role: string; readonly content: string }>
  readonly maxTokens?: number
  readonly headers?: Record<string, string>
  readonly signal?: AbortSignal
}

const requestInit = (options: ChatOptions): RequestInit => ({
  method: "POST",
  headers: {
    "content-type": "application/json",
    authorization: "Bearer sk-test-123",
    ...(options.scenario === undefined ? {} : Scenario.headers(options.scenario)),
    ...options.headers
  },
  body: JSON.stringify({
    model: "gpt-test",
    messages: options.messages ?? [{ role: "user", content: "Say hi" }],
    ...(options.stream === false ? {} : { stream: true }),
    ...(options.includeUsage === true ? { stream_options: { include_usage: true } } : {}),
    ...(options.maxTokens === undefined ? {} : { max_tokens: options.maxTokens })
  }),
  ...(options.signal === undefined ? {} : { signal: options.signal })
})

const chat = (emulator: Emulator.Service, options: ChatOptions = {}) =>
  Effect.promise(() => fetch(`${emulator.openAiBaseUrl}/chat/completions`, requestInit(options)))

const chatText = (emulator: Emulator.Service, options: ChatOptions = {}) =>
  Effect.flatMap(chat(emulator, options), (response) => Effect.promise(() => response.text()))

// The wire shapes the tests look at, decoded loosely (extra fields are ignored).
const UsageJson = Schema.Struct({
  prompt_tokens: Schema.Number,
  completion_tokens: Schema.Number,
  total_tokens: Schema.Number,
  prompt_tokens_details: Schema.optional(Schema.Struct({ cached_tokens: Schema.Number })),
  completion_tokens_details: Schema.optional(Schema.Struct({ reasoning_tokens: Schema.Number }))
})
type UsageJson = typeof UsageJson.Type

const ToolCallDelta = Schema.Struct({
  index: Schema.Number,
  id: Schema.optional(Schema.String),
  type: Schema.optional(Schema.String),
  function: Schema.Struct({ name: Schema.optional(Schema.String), arguments: Schema.String })
})

const Chunk = Schema.Struct({
  id: Schema.String,
  choices: Schema.Array(Schema.Struct({
    delta: Schema.Struct({
      content: Schema.optional(Schema.String),
      reasoning_content: Schema.optional(Schema.String),
      reasoning: Schema.optional(Schema.String),
      tool_calls: Schema.optional(Schema.Array(ToolCallDelta))
    }),
    finish_reason: Schema.NullOr(Schema.String)
  })),
  usage: Schema.optional(Schema.NullOr(UsageJson)),
  x_groq: Schema.optional(Schema.Struct({ usage: UsageJson }))
})
type Chunk = typeof Chunk.Type

const ErrorBody = Schema.Struct({
  error: Schema.Struct({ message: Schema.String, type: Schema.String, param: Schema.Null, code: Schema.NullOr(Schema.String) })
})

const CompletionJson = Schema.Struct({
  choices: Schema.Array(Schema.Struct({
    message: Schema.Struct({
      content: Schema.NullOr(Schema.String),
      reasoning_content: Schema.optional(Schema.String),
      tool_calls: Schema.optional(Schema.Array(Schema.Struct({
        id: Schema.String,
        function: Schema.Struct({ name: Schema.String, arguments: Schema.String })
      })))
    }),
    finish_reason: Schema.NullOr(Schema.String)
  })),
  usage: Schema.optional(UsageJson)
})

const json = <A, I>(schema: Schema.Schema<A, I>) => Schema.decodeUnknownSync(Schema.parseJson(schema))
const decodeChunk = json(Chunk)
const decodeError = json(ErrorBody)
const decodeCompletion = json(CompletionJson)

const chunksOf = (body: string): Array<Chunk> => dataOf(body).filter((d) => d !== "[DONE]").map((d) => decodeChunk(d))

const isContent = (chunk: Chunk): boolean => {
  const delta = chunk.choices[0]?.delta
  return delta !== undefined &&
    (delta.content !== undefined && delta.content !== "" || delta.reasoning_content !== undefined ||
      delta.reasoning !== undefined || delta.tool_calls !== undefined)
}

const textOf = (chunks: ReadonlyArray<Chunk>): string => chunks.map((c) => c.choices[0]?.delta.content ?? "").join("")

const finishReasons = (chunks: ReadonlyArray<Chunk>) =>
  chunks.flatMap((c) => c.choices.flatMap((choice) => (choice.finish_reason === null ? [] : [choice.finish_reason])))

/** The last usage figure in a stream, wherever the style put it. */
const lastUsage = (chunks: ReadonlyArray<Chunk>): UsageJson | undefined => {
  let found: UsageJson | undefined
  for (const chunk of chunks) {
    if (chunk.usage !== undefined && chunk.usage !== null) found = chunk.usage
    if (chunk.x_groq !== undefined) found = chunk.x_groq.usage
  }
  return found
}

const errorOf = (response: Response) => Effect.map(Effect.promise(() => response.text()), decodeError)

const completion = (emulator: Emulator.Service, options: ChatOptions = {}) =>
  Effect.map(chatText(emulator, { ...options, stream: false }), decodeCompletion)


const contentEvents = (text: string): number => chunksOf(text).filter(isContent).length

const withEmulator = (options?: Emulator.Options) => Emulator.make(options)

// ---------------------------------------------------------------------------------------------

describe("Emulator: OpenAI wire format", () => {
  const fixed = { text: "Hi there!", responseId: "chatcmpl-test", created: 1700000000 } satisfies Scenario.Scenario

  it.scopedLive("streams byte-exact chunks, with usage when asked", () =>
    Effect.gen(function*() {
      const emulator = yield* withEmulator()
      const response = yield* chat(emulator, { scenario: fixed, includeUsage: true })
      assert.strictEqual(response.status, 200)
      assert.strictEqual(response.headers.get("content-type"), "text/event-stream; charset=utf-8")
      assert.strictEqual(response.headers.get("cache-control"), "no-cache")
      assert.strictEqual(response.headers.get("connection"), "keep-alive")
      const body = yield* Effect.promise(() => response.text())
      const head = `{"id":"chatcmpl-test","object":"chat.completion.chunk","created":1700000000,"model":"gpt-test",` +
        `"system_fingerprint":"fp_sluice","choices":`
      assert.strictEqual(
        body,
        `data: ${head}[{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}],"usage":null}\n\n` +
          `data: ${head}[{"index":0,"delta":{"content":"Hi "},"logprobs":null,"finish_reason":null}],"usage":null}\n\n` +
          `data: ${head}[{"index":0,"delta":{"content":"there!"},"logprobs":null,"finish_reason":null}],"usage":null}\n\n` +
          `data: ${head}[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}],"usage":null}\n\n` +
          `data: ${head}[],"usage":{"prompt_tokens":9,"completion_tokens":2,"total_tokens":11,` +
          `"prompt_tokens_details":{"cached_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}}}\n\n` +
          `data: [DONE]\n\n`
      )
    }))

  it.scopedLive("streams no usage and no usage fields when not asked", () =>
    Effect.gen(function*() {
      const emulator = yield* withEmulator()
      const body = yield* chatText(emulator, { scenario: fixed })
      const head = `{"id":"chatcmpl-test","object":"chat.completion.chunk","created":1700000000,"model":"gpt-test",` +
        `"system_fingerprint":"fp_sluice","choices":`
      assert.strictEqual(
        body,
        `data: ${head}[{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}]}\n\n` +
          `data: ${head}[{"index":0,"delta":{"content":"Hi "},"logprobs":null,"finish_reason":null}]}\n\n` +
          `data: ${head}[{"index":0,"delta":{"content":"there!"},"logprobs":null,"finish_reason":null}]}\n\n` +
          `data: ${head}[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}]}\n\n` +
          `data: [DONE]\n\n`
      )
    }))

  it.scopedLive("answers a non-streamed request with a chat.completion object", () =>
    Effect.gen(function*() {
      const emulator = yield* withEmulator()
      const response = yield* chat(emulator, { scenario: fixed, stream: false })
      assert.strictEqual(response.headers.get("content-type"), "application/json")
      const text = yield* Effect.promise(() => response.text())
      assert.strictEqual(
        text,
        `{"id":"chatcmpl-test","object":"chat.completion","created":1700000000,"model":"gpt-test","choices":[{"index":0,` +
          `"message":{"role":"assistant","content":"Hi there!","refusal":null},"logprobs":null,"finish_reason":"stop"}],` +
          `"usage":{"prompt_tokens":9,"completion_tokens":2,"total_tokens":11,"prompt_tokens_details":{"cached_tokens":0},` +
          `"completion_tokens_details":{"reasoning_tokens":0}},"system_fingerprint":"fp_sluice"}`
      )
    }))

  it.scopedLive("reports the same usage streamed and not, for every named scenario and usage style", () =>
    Effect.gen(function*() {
      const emulator = yield* withEmulator()
      const messages = [
        { role: "system", content: "You are terse." },
        { role: "user", content: "Tell me about streaming, please." }
      ]
      for (const name of ["hello", "long", "reasoning", "tools", "unicode"] as const) {
        for (const usageStyle of ["openai", "deepseek", "continuous", "groq"] as const) {
          const scenario = { extends: name, usageStyle }
          const streamed = lastUsage(chunksOf(yield* chatText(emulator, { scenario, includeUsage: true, messages })))
          const plain = (yield* completion(emulator, { scenario, messages })).usage
          assert.isDefined(streamed, `${name}/${usageStyle}`)
          assert.deepStrictEqual(streamed, plain, `${name}/${usageStyle}`)
        }
      }
      // Input: 3 + (4 + 3 words) + (4 + 5 words); output: one per delta.
      const hello = yield* completion(emulator, { scenario: "hello", messages })
      assert.strictEqual(hello.usage?.prompt_tokens, 19)
      assert.strictEqual(hello.usage?.completion_tokens, 5)
    }))

  it.scopedLive("usage can be overridden", () =>
    Effect.gen(function*() {
      const emulator = yield* withEmulator()
      const scenario = { usage: { inputTokens: 100, outputTokens: 7, cachedInputTokens: 40, reasoningTokens: 2 } }
      const usage = lastUsage(chunksOf(yield* chatText(emulator, { scenario, includeUsage: true })))
      assert.deepStrictEqual(usage, {
        prompt_tokens: 100,
        completion_tokens: 7,
        total_tokens: 107,
        prompt_tokens_details: { cached_tokens: 40 },
        completion_tokens_details: { reasoning_tokens: 2 }
      })
    }))

  it.scopedLive("usage styles put usage where those servers do", () =>
    Effect.gen(function*() {
      const emulator = yield* withEmulator()
      const deepseek = chunksOf(yield* chatText(emulator, { scenario: { usageStyle: "deepseek" } }))
      const deepseekFinish = deepseek[deepseek.length - 1]
      assert.strictEqual(deepseekFinish.choices[0].finish_reason, "stop")
      assert.strictEqual(deepseekFinish.usage?.completion_tokens, 5)

      const groq = chunksOf(yield* chatText(emulator, { scenario: { usageStyle: "groq" } }))
      assert.strictEqual(groq[groq.length - 1].x_groq?.usage.completion_tokens, 5)

      const continuous = chunksOf(yield* chatText(emulator, { scenario: { usageStyle: "continuous" } }))
      assert.deepStrictEqual(continuous.map((c) => c.usage?.completion_tokens), [0, 1, 2, 3, 4, 5, 5])

      const none = chunksOf(yield* chatText(emulator, { scenario: { usageStyle: "none" }, includeUsage: true }))
      assert.isUndefined(lastUsage(none))
    }))

  it.scopedLive("cuts text by word, by character or by a number of characters", () =>
    Effect.gen(function*() {
      const emulator = yield* withEmulator()
      const deltas = (chunking: Scenario.Chunking) =>
        Effect.map(
          chatText(emulator, { scenario: { text: "  Héllo 🌍 wörld\n", chunking } }),
          (body) => chunksOf(body).filter(isContent).map((c) => c.choices[0].delta.content)
        )
      assert.deepStrictEqual(yield* deltas("word"), ["  Héllo ", "🌍 ", "wörld\n"])
      assert.deepStrictEqual(yield* deltas("char"), Array.from("  Héllo 🌍 wörld\n"))
      assert.deepStrictEqual(yield* deltas(4), ["  Hé", "llo ", "🌍 wö", "rld\n"])
    }))

  it.scopedLive("streams reasoning before the text, in either field", () =>
    Effect.gen(function*() {
      const emulator = yield* withEmulator()
      const chunks = chunksOf(yield* chatText(emulator, { scenario: "reasoning" }))
      const reasoning = chunks.map((c) => c.choices[0]?.delta.reasoning_content ?? "").join("")
      assert.strictEqual(reasoning, "The user greets me. A short, friendly greeting is the right answer.")
      const firstText = chunks.findIndex((c) => (c.choices[0]?.delta.content ?? "") !== "")
      const lastReasoning = chunks.reduce(
        (last, c, i) => (c.choices[0]?.delta.reasoning_content === undefined ? last : i),
        -1
      )
      assert.isTrue(lastReasoning < firstText)

      const groq = chunksOf(yield* chatText(emulator, { scenario: { extends: "reasoning", reasoningField: "reasoning" } }))
      assert.isTrue(groq.some((c) => c.choices[0]?.delta.reasoning !== undefined))
      assert.isFalse(groq.some((c) => c.choices[0]?.delta.reasoning_content !== undefined))

      const plain = yield* completion(emulator, { scenario: "reasoning" })
      assert.strictEqual(plain.choices[0].message.reasoning_content, reasoning)
      assert.strictEqual(plain.choices[0].message.content, "Hello! How can I help you today?")
    }))

  it.scopedLive("streams tool calls as OpenAI does, interleaved in the tools scenario", () =>
    Effect.gen(function*() {
      const emulator = yield* withEmulator()
      const chunks = chunksOf(yield* chatText(emulator, { scenario: "tools" }))
      const calls = chunks.flatMap((c) => c.choices[0]?.delta.tool_calls ?? [])
      // id, type and name on the first delta of each call only, with empty arguments
      const starts = calls.filter((c) => c.id !== undefined)
      assert.deepStrictEqual(starts.map((c) => [c.index, c.type, c.function.name, c.function.arguments]), [
        [0, "function", "get_weather", ""],
        [1, "function", "get_time", ""]
      ])
      assert.isTrue(calls.filter((c) => c.id === undefined).every((c) => c.function.name === undefined))
      const args = (index: number) => calls.filter((c) => c.index === index).map((c) => c.function.arguments).join("")
      assert.strictEqual(args(0), "{\"city\":\"Paris\",\"unit\":\"celsius\"}")
      assert.strictEqual(args(1), "{\"timezone\":\"Europe/Paris\"}")
      // interleaved: the indexes alternate at the start
      assert.deepStrictEqual(calls.slice(0, 4).map((c) => c.index), [0, 1, 0, 1])
      assert.deepStrictEqual(finishReasons(chunks), ["tool_calls"])

      const plain = yield* completion(emulator, { scenario: "tools" })
      assert.strictEqual(plain.choices[0].message.content, null)
      assert.deepStrictEqual(plain.choices[0].message.tool_calls?.map((c) => c.function.name), ["get_weather", "get_time"])
      assert.strictEqual(plain.choices[0].finish_reason, "tool_calls")
    }))

  it.scopedLive("writes the same bytes whatever the write mode", () =>
    Effect.gen(function*() {
      const emulator = yield* withEmulator()
      const base = { extends: "unicode", responseId: "chatcmpl-x", created: 1 } satisfies Scenario.Scenario
      const split = yield* chatText(emulator, { scenario: { ...base, write: "split" } })
      const event = yield* chatText(emulator, { scenario: { ...base, write: "event" } })
      const bulk = yield* chatText(emulator, { scenario: { ...base, write: "bulk" } })
      assert.strictEqual(split, event)
      assert.strictEqual(bulk, event)
      assert.strictEqual(textOf(chunksOf(split)), Scenario.named.unicode.text)
    }))

  it.scopedLive("flushes each event on its own; split mode cuts events across writes", () =>
    Effect.gen(function*() {
      const emulator = yield* withEmulator()
      const readsOf = (scenario: Scenario.Scenario) =>
        Effect.gen(function*() {
          const body = reader(yield* chat(emulator, { scenario, includeUsage: true }))
          yield* body.readAll
          return body.reads.map((r, i) => r.upTo.slice(i === 0 ? 0 : body.reads[i - 1].upTo.length))
        })
      // 9 events (role, 5 deltas, finish, usage, [DONE]): far more than one read, none cut mid-event
      const events = yield* readsOf({})
      assert.isTrue(events.length > 3, `${events.length} reads`)
      assert.isTrue(events.every((piece) => piece.endsWith("\n\n")))
      // split: some read ends inside an event
      const split = yield* readsOf({ write: "split" })
      assert.isTrue(split.some((piece) => !piece.endsWith("\n\n")))
      // bulk: the body is written at once
      const bulk = yield* readsOf({ write: "bulk" })
      assert.isTrue(bulk.length < events.length, `${bulk.length} reads in bulk`)
    }))

  it.scopedLive("sends Azure's prompt-filter chunk first when asked", () =>
    Effect.gen(function*() {
      const emulator = yield* withEmulator()
      const first = dataOf(yield* chatText(emulator, { scenario: { azureFilterChunk: true } }))[0]
      const chunk = json(Schema.Struct({
        id: Schema.String,
        choices: Schema.Array(Schema.Unknown),
        prompt_filter_results: Schema.Array(Schema.Unknown)
      }))(first)
      assert.strictEqual(chunk.id, "")
      assert.deepStrictEqual(chunk.choices, [])
      assert.strictEqual(chunk.prompt_filter_results.length, 1)
    }))

  it.scopedLive("continues from an assistant prefix, and honours max_tokens", () =>
    Effect.gen(function*() {
      const emulator = yield* withEmulator()
      const rest = textOf(chunksOf(
        yield* chatText(emulator, {
          messages: [{ role: "user", content: "Hi" }, { role: "assistant", content: "Hello from the Slu" }]
        })
      ))
      assert.strictEqual(rest, "ice emulator.")

      const cut = chunksOf(yield* chatText(emulator, { maxTokens: 2 }))
      assert.strictEqual(textOf(cut), "Hello from ")
      assert.deepStrictEqual(finishReasons(cut), ["length"])
    }))
})

describe("Emulator: scenarios", () => {
  it.scopedLive("takes a scenario by name, JSON, or base64url JSON; rejects a bad one with a 400", () =>
    Effect.gen(function*() {
      const emulator = yield* withEmulator()
      const byName = textOf(chunksOf(yield* chatText(emulator, { scenario: "reasoning" })))
      assert.strictEqual(byName, "Hello! How can I help you today?")
      const byJson = textOf(chunksOf(yield* chatText(emulator, { headers: { "x-sluice-scenario": "{\"text\":\"json\"}" } })))
      assert.strictEqual(byJson, "json")
      const encoded = Buffer.from(JSON.stringify({ text: "日本語 ✓" })).toString("base64url")
      const byBase64 = textOf(chunksOf(yield* chatText(emulator, { headers: { "x-sluice-scenario": encoded } })))
      assert.strictEqual(byBase64, "日本語 ✓")
      assert.strictEqual(Scenario.encodeHeader({ text: "日本語 ✓" }), encoded)

      const bad = yield* chat(emulator, { headers: { "x-sluice-scenario": "{\"gapMs\":-1}" } })
      assert.strictEqual(bad.status, 400)
      const error = yield* errorOf(bad)
      assert.strictEqual(error.error.code, "invalid_scenario")
      assert.include(error.error.message, "gapMs")
    }))

  it("parses and validates scenarios without a server", () => {
    assert.isTrue(Either.isRight(Scenario.parse("long")))
    assert.isTrue(Either.isLeft(Scenario.parse("nope")))
    assert.isTrue(Either.isLeft(Scenario.parse("{\"faults\":[{\"type\":\"stall\"}]}")))
    const merged = Scenario.parse("{\"extends\":\"unicode\",\"gapMs\":3}")
    assert.isTrue(Either.isRight(merged) && merged.right.write === "split" && merged.right.gapMs === 3)
    assert.isTrue(Either.isLeft(Scenario.validate({ text: 1 })))
  })

  it.scopedLive("uses the server's default scenario and extra named scenarios", () =>
    Effect.gen(function*() {
      const emulator = yield* withEmulator({ scenario: "mine", scenarios: { mine: { text: "custom default" } } })
      assert.strictEqual(textOf(chunksOf(yield* chatText(emulator))), "custom default")
      const failed = yield* Effect.exit(Effect.scoped(withEmulator({ scenario: "missing" })))
      assert.isTrue(Exit.isFailure(failed))
    }))

  it.scopedLive("paces the first token and the gaps with real time, the role chunk at once", () =>
    Effect.gen(function*() {
      const emulator = yield* withEmulator()
      const started = performance.now()
      const response = yield* chat(emulator, { scenario: { text: "a b c", firstTokenDelayMs: 120, gapMs: 40 } })
      const body = reader(response)
      yield* body.readUntil((t) => dataOf(t).length >= 1)
      const roleAt = body.reads[0].at - started
      yield* body.readUntil((t) => contentEvents(t) >= 1)
      const firstAt = body.reads[body.reads.length - 1].at - started
      yield* body.readAll
      const lastAt = body.reads[body.reads.length - 1].at - started
      assert.isTrue(firstAt - roleAt >= 80, `first token ${firstAt - roleAt}ms after the role chunk`)
      assert.isTrue(lastAt - firstAt >= 80, `the rest took ${lastAt - firstAt}ms`)
      assert.strictEqual(textOf(chunksOf(body.text)), "a b c")
    }))

  it.scopedLive("sends keep-alive comments while waiting", () =>
    Effect.gen(function*() {
      const emulator = yield* withEmulator()
      const body = yield* chatText(emulator, {
        scenario: { firstTokenDelayMs: 100, keepAlive: { intervalMs: 20, comment: "OPENROUTER PROCESSING" } }
      })
      assert.isTrue(body.includes(": OPENROUTER PROCESSING\n\n"))
      assert.strictEqual(textOf(chunksOf(body)), Scenario.defaultText)
    }))
})

describe("Emulator: faults", () => {
  it.scopedLive("status: HTTP error with an OpenAI error body and Retry-After", () =>
    Effect.gen(function*() {
      const emulator = yield* withEmulator()
      const response = yield* chat(emulator, {
        scenario: { faults: [Fault.status({ status: 429, retryAfter: 2, retryAfterMs: 1500 })] }
      })
      assert.strictEqual(response.status, 429)
      assert.strictEqual(response.headers.get("retry-after"), "2")
      assert.strictEqual(response.headers.get("retry-after-ms"), "1500")
      assert.deepStrictEqual(yield* errorOf(response), {
        error: {
          message: "Rate limit reached for requests. Please try again later.",
          type: "requests",
          param: null,
          code: "rate_limit_exceeded"
        }
      })
      const date = "Wed, 21 Oct 2026 07:28:00 GMT"
      const dated = yield* chat(emulator, { scenario: { faults: [Fault.status({ status: 503, retryAfter: date })] } })
      assert.strictEqual(dated.status, 503)
      assert.strictEqual(dated.headers.get("retry-after"), date)

      const context = yield* chat(emulator, { scenario: { faults: [Fault.contextLengthExceeded()] } })
      assert.strictEqual(context.status, 400)
      const body = yield* errorOf(context)
      assert.strictEqual(body.error.code, "context_length_exceeded")
      assert.strictEqual(body.error.type, "invalid_request_error")
    }))

  it.scopedLive("times: a fault applies to the first N requests of the same scenario key only", () =>
    Effect.gen(function*() {
      const emulator = yield* withEmulator()
      const scenario = { faults: [Fault.status({ status: 503, times: 2 })] }
      const statuses: Array<number> = []
      for (let i = 0; i < 3; i++) {
        const response = yield* chat(emulator, { scenario })
        statuses.push(response.status)
        yield* Effect.promise(() => response.text())
      }
      assert.deepStrictEqual(statuses, [503, 503, 200])
      // another key counts separately
      const other = yield* chat(emulator, { scenario: { ...scenario, text: "other" } })
      assert.strictEqual(other.status, 503)
      yield* Effect.promise(() => other.text())
      const log = yield* emulator.requests
      assert.deepStrictEqual(log.map((r) => r.attempt), [1, 2, 3, 1])
      // reset clears the counters
      yield* emulator.reset
      assert.strictEqual((yield* chat(emulator, { scenario })).status, 503)
    }))

  it.scopedLive("echoKey: a 401 echoing the bearer token", () =>
    Effect.gen(function*() {
      const emulator = yield* withEmulator()
      const response = yield* chat(emulator, { scenario: { faults: [Fault.echoKey()] } })
      assert.strictEqual(response.status, 401)
      const body = yield* errorOf(response)
      assert.include(body.error.message, "sk-test-123")
      assert.strictEqual(body.error.code, "invalid_api_key")
    }))

  it.scopedLive("truncate: a clean end after N content events, no finish, no [DONE]", () =>
    Effect.gen(function*() {
      const emulator = yield* withEmulator()
      const body = yield* chatText(emulator, { scenario: { faults: [Fault.truncate(2)] }, includeUsage: true })
      const chunks = chunksOf(body)
      assert.strictEqual(chunks.filter(isContent).length, 2)
      assert.deepStrictEqual(finishReasons(chunks), [])
      assert.isFalse(body.includes("[DONE]"))
      assert.isTrue(body.endsWith("\n\n"))
    }))

  it.scopedLive("truncateMidEvent: the body ends cleanly inside an event", () =>
    Effect.gen(function*() {
      const emulator = yield* withEmulator()
      const response = yield* chat(emulator, {
        scenario: { text: "añb ñc", chunking: "word", faults: [Fault.truncateMidEvent(1)] }
      })
      const bytes = new Uint8Array(yield* Effect.promise(() => response.arrayBuffer()))
      const text = new TextDecoder().decode(bytes)
      assert.strictEqual(contentEvents(text), 1)
      assert.isFalse(text.endsWith("\n\n"))
      // the cut falls inside "ñ" (0xC3 0xB1): the last byte is its lead byte
      assert.strictEqual(bytes[bytes.length - 1], 0xc3)

      const sized = yield* chatText(emulator, { scenario: { faults: [Fault.truncateMidEvent(0, { bytes: 10 })] } })
      assert.isTrue(sized.endsWith("\n\ndata: {\"id"), sized.slice(-20))
    }))

  it.scopedLive("reset: the connection is cut after N events and the body read rejects", () =>
    Effect.gen(function*() {
      const emulator = yield* withEmulator()
      for (const rst of [false, true]) {
        const response = yield* chat(emulator, { scenario: { faults: [Fault.reset(2, { rst })] } })
        assert.strictEqual(response.status, 200)
        const read = yield* Effect.either(Effect.tryPromise(() => response.text()))
        assert.isTrue(Either.isLeft(read), `rst=${rst}`)
        const record = yield* emulator.awaitEnded(response.headers.get("x-request-id") ?? "")
        assert.strictEqual(record.ending, "reset")
        assert.strictEqual(record.events, 2)
      }
    }))

  it.scopedLive("stall: nothing after N events until the client leaves; recorded client-closed", () =>
    Effect.gen(function*() {
      const emulator = yield* withEmulator()
      const controller = new AbortController()
      const response = yield* chat(emulator, {
        scenario: { extends: "long", faults: [Fault.stall(3)] },
        signal: controller.signal
      })
      const body = reader(response)
      yield* body.readUntil((t) => contentEvents(t) >= 3)
      const more = yield* body.readOnce.pipe(Effect.timeout("150 millis"), Effect.option)
      assert.isTrue(Option.isNone(more), "no bytes after the stall point")
      assert.strictEqual(contentEvents(body.text), 3)
      controller.abort()
      const record = yield* emulator.awaitEnded(response.headers.get("x-request-id") ?? "")
      assert.strictEqual(record.ending, "client-closed")
      assert.strictEqual(record.events, 3)
    }))

  it.scopedLive("headersOnly: status and headers, then nothing", () =>
    Effect.gen(function*() {
      const emulator = yield* withEmulator()
      const controller = new AbortController()
      const response = yield* chat(emulator, { scenario: { faults: [Fault.headersOnly()] }, signal: controller.signal })
      assert.strictEqual(response.status, 200)
      assert.strictEqual(response.headers.get("content-type"), "text/event-stream; charset=utf-8")
      const more = yield* reader(response).readOnce.pipe(Effect.timeout("100 millis"), Effect.option)
      assert.isTrue(Option.isNone(more))
      controller.abort()
      const record = yield* emulator.awaitEnded(response.headers.get("x-request-id") ?? "")
      assert.strictEqual(record.ending, "client-closed")
      assert.strictEqual(record.sseEvents, 0)
    }))

  it.scopedLive("dropDone and dropFinish", () =>
    Effect.gen(function*() {
      const emulator = yield* withEmulator()
      const noDone = yield* chatText(emulator, { scenario: { faults: [Fault.dropDone()] } })
      assert.isFalse(noDone.includes("[DONE]"))
      assert.deepStrictEqual(finishReasons(chunksOf(noDone)), ["stop"])

      const noFinish = yield* chatText(emulator, { scenario: { faults: [Fault.dropFinish()] } })
      assert.isTrue(noFinish.endsWith("data: [DONE]\n\n"))
      assert.deepStrictEqual(finishReasons(chunksOf(noFinish)), [])
      assert.strictEqual(textOf(chunksOf(noFinish)), Scenario.defaultText)

      // when usage rides on the finish chunk, the chunk stays with a null finish reason
      const deepseek = chunksOf(
        yield* chatText(emulator, { scenario: { usageStyle: "deepseek", faults: [Fault.dropFinish()] } })
      )
      assert.deepStrictEqual(finishReasons(deepseek), [])
      assert.isDefined(lastUsage(deepseek))
    }))

  it.scopedLive("errorEvent: an in-band error after N events, then the end", () =>
    Effect.gen(function*() {
      const emulator = yield* withEmulator()
      const body = yield* chatText(emulator, {
        scenario: { faults: [Fault.errorEvent(1, { message: "overloaded", errorType: "server_error" })] }
      })
      const data = dataOf(body)
      assert.strictEqual(data.length, 3)
      assert.deepStrictEqual(decodeError(data[2]), {
        error: { message: "overloaded", type: "server_error", param: null, code: null }
      })
      assert.isFalse(body.includes("[DONE]"))
    }))

  it.scopedLive("malformedJson and wrongSchema at event N", () =>
    Effect.gen(function*() {
      const emulator = yield* withEmulator()
      const data = dataOf(yield* chatText(emulator, { scenario: { faults: [Fault.malformedJson(2)] } }))
      // data[0] is the role chunk; content event n is data[n]
      assert.doesNotThrow(() => JSON.parse(data[1]))
      assert.throws(() => JSON.parse(data[2]))
      assert.doesNotThrow(() => JSON.parse(data[3]))

      const wrong = dataOf(yield* chatText(emulator, { scenario: { faults: [Fault.wrongSchema(1)] } }))
      assert.strictEqual(json(Schema.Struct({ choices: Schema.Unknown }))(wrong[1]).choices, "unexpected")
    }))

  it.scopedLive("omitUsage and inflateUsage", () =>
    Effect.gen(function*() {
      const emulator = yield* withEmulator()
      const omitted = chunksOf(yield* chatText(emulator, { scenario: { faults: [Fault.omitUsage()] }, includeUsage: true }))
      assert.isUndefined(lastUsage(omitted))
      assert.deepStrictEqual(finishReasons(omitted), ["stop"])

      const scenario = { extends: "long", faults: [Fault.inflateUsage(2)] }
      const streamed = lastUsage(chunksOf(yield* chatText(emulator, { scenario, includeUsage: true })))
      const plain = (yield* completion(emulator, { scenario })).usage
      assert.isDefined(streamed)
      assert.isDefined(plain)
      assert.strictEqual(streamed?.completion_tokens, 2 * (plain?.completion_tokens ?? 0))
      assert.strictEqual(streamed?.prompt_tokens, 2 * (plain?.prompt_tokens ?? 0))
    }))

  it.scopedLive("bufferedReplay: nothing until the paced duration, then everything at once", () =>
    Effect.gen(function*() {
      const emulator = yield* withEmulator()
      const started = performance.now()
      // 5 deltas: 40 + 5 * 30 = 190 ms of pacing
      const response = yield* chat(emulator, {
        scenario: { firstTokenDelayMs: 40, gapMs: 30, faults: [Fault.bufferedReplay()] }
      })
      const body = reader(response)
      yield* body.readAll
      const firstAt = (body.reads.find((r) => contentEvents(r.upTo) > 0)?.at ?? Infinity) - started
      const lastAt = body.reads[body.reads.length - 1].at - started
      assert.isTrue(firstAt >= 120, `first token at ${firstAt}ms`)
      assert.isTrue(lastAt - firstAt < 100, `spread ${lastAt - firstAt}ms`)
      assert.strictEqual(textOf(chunksOf(body.text)), Scenario.defaultText)
      assert.isTrue(body.text.endsWith("data: [DONE]\n\n"))
    }))

  it.scopedLive("bufferedReplay afterEvents: the first events paced, then a hold of the rest's paced duration, then the rest at once", () =>
    Effect.gen(function*() {
      const emulator = yield* withEmulator()
      const started = performance.now()
      // 5 deltas: the first at once, then 4 * 200 = 800 ms held, then the other 4 and the finish together
      // (wide margins: the bounds below hold on a loaded 2-core machine).
      const response = yield* chat(emulator, {
        scenario: { gapMs: 200, faults: [Fault.bufferedReplay({ afterEvents: 1 })] }
      })
      const body = reader(response)
      yield* body.readAll
      const firstAt = (body.reads.find((r) => contentEvents(r.upTo) > 0)?.at ?? Infinity) - started
      const secondAt = (body.reads.find((r) => contentEvents(r.upTo) > 1)?.at ?? Infinity) - started
      const lastAt = body.reads[body.reads.length - 1].at - started
      assert.isBelow(firstAt, 500, `first token at ${firstAt}ms`)
      assert.isAtLeast(secondAt - firstAt, 600, `held for ${secondAt - firstAt}ms`)
      assert.isBelow(lastAt - secondAt, 300, `the rest spread over ${lastAt - secondAt}ms`)
      assert.strictEqual(textOf(chunksOf(body.text)), Scenario.defaultText)
      assert.isTrue(body.text.endsWith("data: [DONE]\n\n"))
      const [record] = yield* emulator.requests
      assert.deepStrictEqual(record.faults, ["bufferedReplay"])
    }))

  it.scopedLive("non-streamed requests: status, reset and malformed faults apply too", () =>
    Effect.gen(function*() {
      const emulator = yield* withEmulator()
      const status = yield* chat(emulator, { stream: false, scenario: { faults: [Fault.status({ status: 500 })] } })
      assert.strictEqual(status.status, 500)
      const reset = yield* Effect.either(
        Effect.tryPromise(() =>
          fetch(`${emulator.openAiBaseUrl}/chat/completions`, requestInit({ stream: false, scenario: { faults: [Fault.reset(0)] } }))
        )
      )
      assert.isTrue(Either.isLeft(reset))
      const malformed = yield* chatText(emulator, { stream: false, scenario: { faults: [Fault.malformedJson(1)] } })
      assert.throws(() => JSON.parse(malformed))
    }))
})

describe("Emulator: request log and lifecycle", () => {
  it.scopedLive("records each request, and a client abort mid-stream as client-closed", () =>
    Effect.gen(function*() {
      const emulator = yield* withEmulator()
      const complete = yield* chat(emulator, { scenario: "hello", includeUsage: true })
      yield* Effect.promise(() => complete.text())
      const id = complete.headers.get("x-request-id") ?? ""
      const record = yield* emulator.awaitEnded(id)
      assert.strictEqual(record.ending, "complete")
      assert.strictEqual(record.status, 200)
      assert.strictEqual(record.method, "POST")
      assert.strictEqual(record.path, "/v1/chat/completions")
      assert.strictEqual(record.scenarioKey, "hello")
      assert.strictEqual(record.headers.authorization, "Bearer sk-test-123")
      assert.strictEqual(Schema.decodeUnknownSync(Schema.Struct({ model: Schema.String }))(record.body).model, "gpt-test")
      assert.isTrue(record.stream)
      assert.strictEqual(record.events, 5)
      assert.strictEqual(record.sseEvents, 9) // role, 5 deltas, finish, usage, [DONE]
      assert.isTrue(record.endedAt !== null && record.endedAt >= record.startedAt)

      const controller = new AbortController()
      const response = yield* chat(emulator, { scenario: { extends: "long", gapMs: 10 }, signal: controller.signal })
      const body = reader(response)
      yield* body.readUntil((t) => contentEvents(t) >= 3)
      controller.abort()
      const aborted = yield* emulator.awaitEnded(response.headers.get("x-request-id") ?? "")
      assert.strictEqual(aborted.ending, "client-closed")
      assert.isTrue(aborted.events >= 3 && aborted.events < 100, `${aborted.events} events`)
      const idle = yield* emulator.awaitIdle
      assert.strictEqual(idle.length, 2)
    }))

  it.scopedLive("serves the log, health and 404s over HTTP", () =>
    Effect.gen(function*() {
      const emulator = yield* withEmulator()
      yield* chatText(emulator)
      const health = yield* Effect.promise(() => fetch(`${emulator.url}/_emulator/health`))
      assert.strictEqual(health.status, 200)
      const missing = yield* Effect.promise(() => fetch(`${emulator.url}/v1/nope`, { method: "POST" }))
      assert.strictEqual(missing.status, 404)
      assert.deepStrictEqual(yield* errorOf(missing), {
        error: { message: "Invalid URL (POST /v1/nope)", type: "invalid_request_error", param: null, code: null }
      })
      yield* emulator.awaitIdle
      const text = yield* Effect.promise(() => fetch(`${emulator.url}/_emulator/requests`).then((r) => r.text()))
      const log = yield* Schema.decodeUnknown(Schema.parseJson(Schema.Array(Emulator.RequestRecord)))(text)
      assert.deepStrictEqual(log.map((r) => [r.path, r.status, r.ending]), [
        ["/v1/chat/completions", 200, "complete"],
        ["/v1/nope", 404, "complete"]
      ])
    }))

  it.scopedLive("rejects a malformed body with a 400", () =>
    Effect.gen(function*() {
      const emulator = yield* withEmulator()
      const response = yield* Effect.promise(() =>
        fetch(`${emulator.openAiBaseUrl}/chat/completions`, { method: "POST", body: "{", headers: { "content-type": "application/json" } })
      )
      assert.strictEqual(response.status, 400)
      const noModel = yield* Effect.promise(() =>
        fetch(`${emulator.openAiBaseUrl}/chat/completions`, { method: "POST", body: "{\"messages\":[]}" })
      )
      assert.strictEqual(noModel.status, 400)
      const error = yield* errorOf(noModel)
      assert.include(error.error.message, "model")
    }))

  it.live("closing the scope ends a stalled request as stalled, without hanging", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const emulator = yield* Scope.extend(withEmulator(), scope)
      const response = yield* chat(emulator, { scenario: { faults: [Fault.stall(1)] } })
      const body = reader(response)
      yield* body.readUntil((t) => contentEvents(t) >= 1)
      const reading = yield* Effect.fork(Effect.either(Effect.tryPromise(() => response.text())))
      yield* Scope.close(scope, Exit.void)
      const log = yield* emulator.requests
      assert.strictEqual(log[0].ending, "stalled")
      // the client sees the connection go
      const read = yield* Fiber.join(reading).pipe(Effect.timeout("2 seconds"))
      assert.isTrue(Either.isLeft(read))
    }))

  it.scopedLive("Emulator.layer provides the service", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator.Emulator
      assert.match(emulator.url, /^http:\/\/127\.0\.0\.1:\d+$/)
      assert.strictEqual(emulator.openAiBaseUrl, `${emulator.url}/v1`)
      yield* chatText(emulator)
      const log = yield* Emulator.awaitIdle
      assert.strictEqual(log.length, 1)
    }).pipe(Effect.provide(Emulator.layer())))

  it.scopedLive("Emulator.layerConfig reads its options from Config", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator.Emulator
      assert.strictEqual(textOf(chunksOf(yield* chatText(emulator))), "from config")
    }).pipe(
      Effect.provide(Emulator.layerConfig({ scenario: Config.string("SCENARIO") })),
      Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["SCENARIO", "{\"text\":\"from config\"}"]])))
    ))

  it.scopedLive("bin.js starts, prints where it listens, and answers", () =>
    Effect.gen(function*() {
      const bin = fileURLToPath(new URL("../packages/emulator/dist/bin.js", import.meta.url))
      const child = yield* Effect.acquireRelease(
        Effect.sync(() => spawn(process.execPath, [bin, "--port", "0", "--scenario", "reasoning"], { stdio: "pipe" })),
        (child) =>
          Effect.async<void>((resume) => {
            if (child.exitCode !== null) return resume(Effect.void)
            child.once("exit", () => resume(Effect.void))
            child.kill("SIGTERM")
          })
      )
      const line = yield* Deferred.make<string>()
      let out = ""
      child.stdout.on("data", (data: Buffer) => {
        out += data.toString("utf8")
        const match = /^sluice-emulator listening on (http:\/\/127\.0\.0\.1:\d+)\n/.exec(out)
        if (match !== null) Deferred.unsafeDone(line, Effect.succeed(match[1]))
      })
      const url = yield* Deferred.await(line).pipe(Effect.timeout("10 seconds"))
      const response = yield* Effect.promise(() =>
        fetch(`${url}/v1/chat/completions`, requestInit({ stream: false }))
      )
      const answer = decodeCompletion(yield* Effect.promise(() => response.text()))
      assert.strictEqual(answer.choices[0].message.content, "Hello! How can I help you today?")
    }))
})
