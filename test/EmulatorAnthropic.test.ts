/**
 * The emulator's Anthropic Messages format over real sockets, read with `fetch` as raw bytes.
 */
import { assert, describe, it } from "@effect/vitest"
import { Emulator, Fault, Scenario } from "@sluice/emulator"
import { Effect, Either, Option } from "effect"
import type { Options } from "./support/emulatorClients.js"
import { anthropicEvents, clientFor, reader, readJson, readStream, requestId } from "./support/emulatorClients.js"
import * as Json from "./support/json.js"

const { plainText, stream, streamText } = clientFor("anthropic")
const types = (body: string) => anthropicEvents(body).map((e) => e.event)

const fixed = { text: "Hi there!", responseId: "msg_test" } satisfies Scenario.Scenario

describe("Emulator: Anthropic Messages format", () => {
  it.scopedLive("streams byte-exact events", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator.make()
      const response = yield* stream(emulator, { scenario: fixed })
      assert.strictEqual(response.status, 200)
      assert.strictEqual(response.headers.get("content-type"), "text/event-stream; charset=utf-8")
      assert.strictEqual(response.headers.get("cache-control"), "no-cache")
      const body = yield* Effect.promise(() => response.text())
      const event = (name: string, data: string) => `event: ${name}\ndata: ${data}\n\n`
      assert.strictEqual(
        body,
        event(
          "message_start",
          `{"type":"message_start","message":{"id":"msg_test","type":"message","role":"assistant","model":"claude-test",` +
            `"content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":9,"cache_creation_input_tokens":0,` +
            `"cache_read_input_tokens":0,"output_tokens":1}}}`
        ) +
          event("content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`) +
          event("ping", `{"type": "ping"}`) +
          event(
            "content_block_delta",
            `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi "}}`
          ) +
          event(
            "content_block_delta",
            `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"there!"}}`
          ) +
          event("content_block_stop", `{"type":"content_block_stop","index":0}`) +
          event(
            "message_delta",
            `{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":2}}`
          ) +
          event("message_stop", `{"type":"message_stop"}`)
      )
    }))

  it.scopedLive("answers a non-streamed request with a message object", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator.make()
      const response = yield* stream(emulator, { scenario: fixed, stream: false })
      assert.strictEqual(response.headers.get("content-type"), "application/json")
      assert.strictEqual(
        yield* Effect.promise(() => response.text()),
        `{"id":"msg_test","type":"message","role":"assistant","model":"claude-test",` +
          `"content":[{"type":"text","text":"Hi there!"}],"stop_reason":"end_turn","stop_sequence":null,` +
          `"usage":{"input_tokens":9,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":2}}`
      )
    }))

  it.scopedLive("thinking, text and tool_use blocks one after the other, as Anthropic sends them", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator.make()
      const scenario: Scenario.Scenario = {
        extends: "tools",
        reasoning: "Look it up.",
        text: "Checking.",
        toolCalls: [...Scenario.named.tools.toolCalls, { name: "get_date", arguments: "{}" }]
      }
      const body = yield* streamText(emulator, { scenario })
      const events = anthropicEvents(body)
      const starts = events.filter((e) => e.event === "content_block_start").map((e) => Json.field(e.data, "content_block"))
      assert.deepStrictEqual(starts, [
        { type: "thinking", thinking: "", signature: "" },
        { type: "text", text: "" },
        { type: "tool_use", id: "toolu_sluice_0", name: "get_weather", input: {} },
        { type: "tool_use", id: "toolu_sluice_1", name: "get_time", input: {} },
        { type: "tool_use", id: "toolu_sluice_2", name: "get_date", input: {} }
      ])
      // blocks never interleave: each block's events lie between its start and its stop
      let open: number | undefined
      for (const e of events) {
        if (e.event === "content_block_start") {
          assert.isUndefined(open)
          open = Json.number(Json.field(e.data, "index"))
        } else if (e.event === "content_block_delta") {
          assert.strictEqual(Json.field(e.data, "index"), open)
        } else if (e.event === "content_block_stop") {
          assert.strictEqual(Json.field(e.data, "index"), open)
          open = undefined
        }
      }
      // one ping, right after the first block starts
      assert.deepStrictEqual(types(body).slice(0, 4), ["message_start", "content_block_start", "ping", "content_block_delta"])
      assert.strictEqual(types(body).filter((t) => t === "ping").length, 1)
      // the thinking block ends with its signature
      const thinking = events.filter((e) => Json.field(e.data, "index") === 0)
      assert.strictEqual(Json.at(thinking[thinking.length - 2].data, "delta", "type"), "signature_delta")
      assert.isTrue((Json.text(Json.at(thinking[thinking.length - 2].data, "delta", "signature")) ?? "").length > 0)
      // arguments: an empty first fragment, then the JSON in pieces; none at all for {}
      const fragments = (index: number) =>
        events.filter((e) => e.event === "content_block_delta" && Json.field(e.data, "index") === index).map((e) => Json.text(Json.at(e.data, "delta", "partial_json")))
      assert.strictEqual(fragments(2)[0], "")
      assert.isTrue(fragments(2).length > 2)
      assert.strictEqual(fragments(2).join(""), "{\"city\":\"Paris\",\"unit\":\"celsius\"}")
      assert.deepStrictEqual(fragments(4), [])
      const read = readStream("anthropic", body)
      assert.strictEqual(read.reasoning, "Look it up.")
      assert.strictEqual(read.text, "Checking.")
      assert.deepStrictEqual(read.toolCalls, [
        { name: "get_weather", arguments: { city: "Paris", unit: "celsius" } },
        { name: "get_time", arguments: { timezone: "Europe/Paris" } },
        { name: "get_date", arguments: {} }
      ])
      assert.strictEqual(read.finish, "tool_use")

      const plain = readJson("anthropic", yield* plainText(emulator, { scenario }))
      assert.deepStrictEqual([plain.text, plain.reasoning, plain.toolCalls, plain.finish], [
        read.text,
        read.reasoning,
        read.toolCalls,
        read.finish
      ])
      const message = JSON.parse(yield* plainText(emulator, { scenario }))
      assert.deepStrictEqual(message.content.map((b: { type: string }) => b.type), [
        "thinking",
        "text",
        "tool_use",
        "tool_use",
        "tool_use"
      ])
      assert.isTrue(message.content[0].signature.length > 0)
    }))

  it.scopedLive("reports the same usage streamed and not; input_tokens leaves out cached tokens", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator.make()
      const messages = [
        { role: "system", content: "You are terse." },
        { role: "user", content: "Tell me about streaming, please." }
      ] as const
      for (const name of ["hello", "long", "reasoning", "tools", "unicode"] as const) {
        const streamed = readStream("anthropic", yield* streamText(emulator, { scenario: name, messages }))
        const plain = readJson("anthropic", yield* plainText(emulator, { scenario: name, messages }))
        assert.isDefined(streamed.usage, name)
        assert.deepStrictEqual(streamed.usage, plain.usage, name)
      }
      // the same figures as the OpenAI format: 3 + (4 + 3 words) + (4 + 5 words) in, one token per delta out
      const hello = readJson("anthropic", yield* plainText(emulator, { scenario: "hello", messages }))
      assert.deepStrictEqual(hello.usage, { input: 19, output: 5, cached: 0 })

      const cached = { usage: { inputTokens: 100, outputTokens: 7, cachedInputTokens: 40 } }
      const start = Json.at(anthropicEvents(yield* streamText(emulator, { scenario: cached }))[0].data, "message", "usage")
      assert.deepStrictEqual(start, {
        input_tokens: 60,
        cache_creation_input_tokens: 0,
        cache_read_input_tokens: 40,
        output_tokens: 1
      })
      assert.deepStrictEqual(JSON.parse(yield* plainText(emulator, { scenario: cached })).usage, {
        input_tokens: 60,
        cache_creation_input_tokens: 0,
        cache_read_input_tokens: 40,
        output_tokens: 7
      })
    }))

  it.scopedLive("maps finish reasons to Anthropic's stop reasons, and passes Anthropic's own through", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator.make()
      const finish = (options: Options) => Effect.map(streamText(emulator, options), (b) => readStream("anthropic", b).finish)
      assert.strictEqual(yield* finish({ scenario: "hello" }), "end_turn")
      assert.strictEqual(yield* finish({ scenario: "tools" }), "tool_use")
      assert.strictEqual(yield* finish({ scenario: "long", maxTokens: 3 }), "max_tokens")
      assert.strictEqual(yield* finish({ scenario: { finishReason: "content_filter" } }), "refusal")
      assert.strictEqual(yield* finish({ scenario: { finishReason: "stop_sequence" } }), "stop_sequence")
      assert.strictEqual(yield* finish({ scenario: { finishReason: "pause_turn" } }), "pause_turn")
      const cut = readStream("anthropic", yield* streamText(emulator, { scenario: "long", maxTokens: 3 }))
      assert.strictEqual(cut.contentEvents, 3)
      assert.strictEqual(cut.usage?.output, 3)
    }))

  it.scopedLive("checks x-api-key, anthropic-version and max_tokens as Anthropic does", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator.make()
      const noKey = yield* stream(emulator, { noKey: true, headers: { "anthropic-version": "2023-06-01" } })
      assert.strictEqual(noKey.status, 401)
      assert.strictEqual(
        yield* Effect.promise(() => noKey.text()),
        `{"type":"error","error":{"type":"authentication_error","message":"x-api-key header is required"}}`
      )
      const noVersion = yield* stream(emulator, { noKey: true, headers: { "x-api-key": "k" } })
      assert.strictEqual(noVersion.status, 400)
      assert.deepStrictEqual(JSON.parse(yield* Effect.promise(() => noVersion.text())), {
        type: "error",
        error: { type: "invalid_request_error", message: "anthropic-version: header is required" }
      })
      const noMax = yield* Effect.promise(() =>
        fetch(`${emulator.anthropicBaseUrl}/v1/messages`, {
          method: "POST",
          headers: { "x-api-key": "k", "anthropic-version": "2023-06-01" },
          body: JSON.stringify({ model: "claude-test", messages: [{ role: "user", content: "Hi" }] })
        })
      )
      assert.strictEqual(noMax.status, 400)
      assert.strictEqual(JSON.parse(yield* Effect.promise(() => noMax.text())).error.message, "max_tokens: Field required")
      const missing = yield* Effect.promise(() =>
        fetch(`${emulator.url}/v1/nope`, { method: "POST", headers: { "anthropic-version": "2023-06-01" } })
      )
      assert.strictEqual(missing.status, 404)
      assert.deepStrictEqual(JSON.parse(yield* Effect.promise(() => missing.text())), {
        type: "error",
        error: { type: "not_found_error", message: "Not Found" }
      })
      const log = yield* emulator.awaitIdle
      assert.deepStrictEqual(log.map((r) => r.status), [401, 400, 400, 404])
    }))

  it.scopedLive("accepts content blocks and a system prompt; counts them like the OpenAI format", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator.make()
      const response = yield* Effect.promise(() =>
        fetch(`${emulator.anthropicBaseUrl}/v1/messages`, {
          method: "POST",
          headers: { "x-api-key": "k", "anthropic-version": "2023-06-01" },
          body: JSON.stringify({
            model: "claude-test",
            max_tokens: 100,
            system: [{ type: "text", text: "Be brief." }],
            messages: [
              { role: "user", content: [{ type: "text", text: "What is the weather?" }] },
              { role: "assistant", content: [{ type: "tool_use", id: "toolu_1", name: "get_weather", input: {} }] },
              { role: "user", content: [{ type: "tool_result", tool_use_id: "toolu_1", content: "Sunny and warm" }] }
            ]
          })
        })
      )
      const message = JSON.parse(yield* Effect.promise(() => response.text()))
      // 3 + (4 + 2) system + (4 + 4) user + (4 + 0) assistant + (4 + 3) tool result
      assert.strictEqual(message.usage.input_tokens, 28)
    }))
})

describe("Emulator: Anthropic faults", () => {
  it.scopedLive("status: Anthropic's error body, 529 overloaded, Retry-After; context length; echoKey", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator.make()
      const overloaded = yield* stream(emulator, { scenario: { faults: [Fault.status({ status: 529, retryAfter: 3 })] } })
      assert.strictEqual(overloaded.status, 529)
      assert.strictEqual(overloaded.headers.get("retry-after"), "3")
      assert.strictEqual(
        yield* Effect.promise(() => overloaded.text()),
        `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`
      )
      const limited = yield* stream(emulator, { scenario: { faults: [Fault.status({ status: 429, retryAfterMs: 250 })] } })
      assert.strictEqual(limited.status, 429)
      assert.strictEqual(limited.headers.get("retry-after-ms"), "250")
      assert.strictEqual(JSON.parse(yield* Effect.promise(() => limited.text())).error.type, "rate_limit_error")

      const context = yield* stream(emulator, { scenario: { faults: [Fault.contextLengthExceeded()] } })
      assert.strictEqual(context.status, 400)
      const body = JSON.parse(yield* Effect.promise(() => context.text()))
      assert.strictEqual(body.error.type, "invalid_request_error")
      assert.match(body.error.message, /^prompt is too long: \d+ tokens > \d+ maximum$/)

      const echo = yield* stream(emulator, { scenario: { faults: [Fault.echoKey()] } })
      assert.strictEqual(echo.status, 401)
      const echoed = JSON.parse(yield* Effect.promise(() => echo.text()))
      assert.strictEqual(echoed.error.type, "authentication_error")
      assert.include(echoed.error.message, "sk-ant-test-123")
    }))

  it.scopedLive("truncate: a clean end after N content events, without message_delta or message_stop", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator.make()
      const body = yield* streamText(emulator, { scenario: { faults: [Fault.truncate(2)] } })
      assert.deepStrictEqual(types(body), [
        "message_start",
        "content_block_start",
        "ping",
        "content_block_delta",
        "content_block_delta"
      ])
      assert.isTrue(body.endsWith("\n\n"))
      // 0: everything before the first token
      const none = yield* streamText(emulator, { scenario: { faults: [Fault.truncate(0)] } })
      assert.deepStrictEqual(types(none), ["message_start", "content_block_start", "ping"])
      // past the end: all content, then nothing
      const all = yield* streamText(emulator, { scenario: { faults: [Fault.truncate(99)] } })
      assert.strictEqual(readStream("anthropic", all).text, Scenario.defaultText)
      assert.deepStrictEqual(types(all).slice(-1), ["content_block_delta"])
    }))

  it.scopedLive("truncateMidEvent and reset", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator.make()
      const cut = yield* streamText(emulator, { scenario: { text: "añb ñc", faults: [Fault.truncateMidEvent(1)] } })
      assert.isFalse(cut.endsWith("\n\n"))
      assert.strictEqual(readStream("anthropic", cut).contentEvents, 1)
      assert.isTrue(cut.slice(cut.lastIndexOf("\n\n") + 2).startsWith("event: content_block_delta\ndata: {"))

      const response = yield* stream(emulator, { scenario: { faults: [Fault.reset(2)] } })
      assert.strictEqual(response.status, 200)
      const read = yield* Effect.either(Effect.tryPromise(() => response.text()))
      assert.isTrue(Either.isLeft(read))
      const record = yield* emulator.awaitEnded(requestId(response))
      assert.strictEqual(record.ending, "reset")
      assert.strictEqual(record.events, 2)
    }))

  it.scopedLive("stall: silent after N events until the client leaves (recorded client-closed); headersOnly", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator.make()
      const controller = new AbortController()
      const response = yield* stream(emulator, { scenario: { extends: "long", faults: [Fault.stall(3)] }, signal: controller.signal })
      const body = reader(response)
      yield* body.readUntil((t) => readStream("anthropic", t).contentEvents >= 3)
      const more = yield* body.readOnce.pipe(Effect.timeout("150 millis"), Effect.option)
      assert.isTrue(Option.isNone(more))
      controller.abort()
      const record = yield* emulator.awaitEnded(requestId(response))
      assert.strictEqual(record.ending, "client-closed")
      assert.strictEqual(record.events, 3)

      const silent = new AbortController()
      const headersOnly = yield* stream(emulator, { scenario: { faults: [Fault.headersOnly()] }, signal: silent.signal })
      assert.strictEqual(headersOnly.status, 200)
      assert.strictEqual(headersOnly.headers.get("content-type"), "text/event-stream; charset=utf-8")
      const nothing = yield* reader(headersOnly).readOnce.pipe(Effect.timeout("100 millis"), Effect.option)
      assert.isTrue(Option.isNone(nothing))
      silent.abort()
      assert.strictEqual((yield* emulator.awaitEnded(requestId(headersOnly))).ending, "client-closed")
    }))

  it.scopedLive("dropDone: no message_stop; dropFinish: stop_reason null, usage kept", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator.make()
      const noStop = yield* streamText(emulator, { scenario: { faults: [Fault.dropDone()] } })
      assert.deepStrictEqual(types(noStop).slice(-1), ["message_delta"])
      assert.strictEqual(readStream("anthropic", noStop).finish, "end_turn")

      const noFinish = anthropicEvents(yield* streamText(emulator, { scenario: { faults: [Fault.dropFinish()] } }))
      const delta = noFinish.find((e) => e.event === "message_delta")
      assert.deepStrictEqual(delta?.data, {
        type: "message_delta",
        delta: { stop_reason: null, stop_sequence: null },
        usage: { output_tokens: 5 }
      })
      assert.strictEqual(noFinish[noFinish.length - 1].event, "message_stop")
      assert.isNull(JSON.parse(yield* plainText(emulator, { scenario: { faults: [Fault.dropFinish()] } })).stop_reason)
      const log = yield* emulator.awaitIdle
      assert.deepStrictEqual(log.map((r) => r.faults), [["dropDone"], ["dropFinish"], ["dropFinish"]])
    }))

  it.scopedLive("errorEvent: event: error, overloaded_error by default, the type the fault names otherwise", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator.make()
      const body = yield* streamText(emulator, { scenario: { faults: [Fault.errorEvent(1)] } })
      assert.isTrue(
        body.endsWith(`event: error\ndata: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}\n\n`),
        body
      )
      assert.strictEqual(readStream("anthropic", body).contentEvents, 1)
      assert.isFalse(types(body).includes("message_stop"))
      const api = anthropicEvents(
        yield* streamText(emulator, { scenario: { faults: [Fault.errorEvent(0, { errorType: "api_error", message: "boom" })] } })
      )
      assert.deepStrictEqual(api[api.length - 1].data, { type: "error", error: { type: "api_error", message: "boom" } })
    }))

  it.scopedLive("malformedJson and wrongSchema at event N", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator.make()
      const broken = anthropicEvents(yield* streamText(emulator, { scenario: { faults: [Fault.malformedJson(2)] } }))
      const deltas = broken.filter((e) => e.event === "content_block_delta")
      assert.isDefined(deltas[0].data)
      assert.isUndefined(deltas[1].data)
      assert.strictEqual(deltas[1].raw, `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"from "}`)
      assert.isDefined(deltas[2].data)

      const wrong = anthropicEvents(yield* streamText(emulator, { scenario: { faults: [Fault.wrongSchema(1)] } }))
      assert.strictEqual(Json.field(wrong.find((e) => e.event === "content_block_delta")?.data, "delta"), "unexpected")
      // past the last content event: the message_delta
      const late = anthropicEvents(yield* streamText(emulator, { scenario: { faults: [Fault.wrongSchema(99)] } }))
      assert.strictEqual(Json.field(late.find((e) => e.event === "message_delta")?.data, "delta"), "unexpected")
      // non-streamed
      const plain = yield* plainText(emulator, { scenario: { faults: [Fault.malformedJson(1)] } })
      assert.throws(() => JSON.parse(plain))
      assert.strictEqual(JSON.parse(yield* plainText(emulator, { scenario: { faults: [Fault.wrongSchema(1)] } })).content, "unexpected")
    }))

  it.scopedLive("omitUsage: no usage anywhere; inflateUsage: streamed figures multiplied", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator.make()
      const omitted = anthropicEvents(yield* streamText(emulator, { scenario: { faults: [Fault.omitUsage()] } }))
      assert.isUndefined(Json.at(omitted[0].data, "message", "usage"))
      assert.isUndefined(Json.field(omitted.find((e) => e.event === "message_delta")?.data, "usage"))
      assert.strictEqual(readStream("anthropic", yield* streamText(emulator, { scenario: { faults: [Fault.omitUsage()] } })).finish, "end_turn")
      assert.isUndefined(JSON.parse(yield* plainText(emulator, { scenario: { faults: [Fault.omitUsage()] } })).usage)

      const scenario = { extends: "long", faults: [Fault.inflateUsage(2)] }
      const streamed = readStream("anthropic", yield* streamText(emulator, { scenario })).usage
      const plain = readJson("anthropic", yield* plainText(emulator, { scenario })).usage
      assert.strictEqual(streamed?.output, 2 * (plain?.output ?? 0))
      assert.strictEqual(streamed?.input, 2 * (plain?.input ?? 0))
    }))

  it.scopedLive("bufferedReplay, and ping events as keep-alives while waiting", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator.make()
      const started = performance.now()
      const response = yield* stream(emulator, { scenario: { firstTokenDelayMs: 40, gapMs: 30, faults: [Fault.bufferedReplay()] } })
      const body = reader(response)
      yield* body.readAll
      const firstAt = (body.reads.find((r) => readStream("anthropic", r.upTo).contentEvents > 0)?.at ?? Infinity) - started
      const lastAt = body.reads[body.reads.length - 1].at - started
      assert.isTrue(firstAt >= 120, `first token at ${firstAt}ms`)
      assert.isTrue(lastAt - firstAt < 100, `spread ${lastAt - firstAt}ms`)
      assert.strictEqual(readStream("anthropic", body.text).text, Scenario.defaultText)

      const waited = yield* streamText(emulator, { scenario: { firstTokenDelayMs: 100, keepAlive: 20 } })
      assert.isTrue(types(waited).filter((t) => t === "ping").length >= 3)
      assert.isFalse(waited.includes(": keep-alive"))
      assert.strictEqual(readStream("anthropic", waited).text, Scenario.defaultText)
    }))

  it.scopedLive("promptBlocked: an answer with no content and stop_reason refusal", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator.make()
      const body = yield* streamText(emulator, { scenario: { faults: [Fault.promptBlocked()] } })
      assert.deepStrictEqual(types(body), ["message_start", "ping", "message_delta", "message_stop"])
      const read = readStream("anthropic", body)
      assert.strictEqual(read.finish, "refusal")
      assert.strictEqual(read.text, "")
      assert.strictEqual(read.usage?.output, 0)
      const plain = JSON.parse(yield* plainText(emulator, { scenario: { faults: [Fault.promptBlocked()] } }))
      assert.deepStrictEqual(plain.content, [])
      assert.strictEqual(plain.stop_reason, "refusal")
    }))
})
