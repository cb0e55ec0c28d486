/**
 * What holds across the emulator's three wire formats: one scenario answers the same everywhere,
 * continuation works both ways in each, and a client going away is seen in each.
 */
import { assert, describe, it } from "@effect/vitest"
import { Emulator, Fault, Scenario } from "@sluice/emulator"
import { Effect } from "effect"
import type { FormatName, Message, Options } from "./support/emulatorClients.js"
import { reader, readJson, readStream, requestId, requestOf, send, sendText } from "./support/emulatorClients.js"

const formats: ReadonlyArray<FormatName> = ["openai", "anthropic", "gemini"]

const streamed = (format: FormatName, emulator: Emulator.Service, options: Options = {}) =>
  Effect.map(sendText(format, emulator, options), (body) => readStream(format, body))

const plain = (format: FormatName, emulator: Emulator.Service, options: Options = {}) =>
  Effect.map(sendText(format, emulator, { ...options, stream: false }), (body) => readJson(format, body))

const finishWords: Record<FormatName, Record<string, string>> = {
  openai: { stop: "stop", tools: "tool_calls" },
  anthropic: { stop: "end_turn", tools: "tool_use" },
  gemini: { stop: "STOP", tools: "STOP" }
}

describe("Emulator: one scenario, three formats", () => {
  it.scopedLive("answers the same text, reasoning, tool calls and usage in every format, streamed and not", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator.make()
      const messages: ReadonlyArray<Message> = [
        { role: "system", content: "You are terse." },
        { role: "user", content: "Tell me about streaming, please." }
      ]
      for (const name of ["hello", "long", "reasoning", "tools", "unicode"] as const) {
        const scenario = { extends: name, usage: { cachedInputTokens: 4 } }
        const reads = yield* Effect.forEach(formats, (format) =>
          Effect.all([streamed(format, emulator, { scenario, messages }), plain(format, emulator, { scenario, messages })]))
        const [reference] = reads[0]
        for (const [i, [s, p]] of reads.entries()) {
          const label = `${name}/${formats[i]}`
          for (const read of [s, p]) {
            assert.strictEqual(read.text, reference.text, label)
            assert.strictEqual(read.reasoning, reference.reasoning, label)
            assert.deepStrictEqual(read.toolCalls, reference.toolCalls, label)
            assert.deepStrictEqual(read.usage, reference.usage, label)
            assert.strictEqual(read.finish, finishWords[formats[i]][name === "tools" ? "tools" : "stop"], label)
          }
        }
        assert.deepStrictEqual(reference.usage, { input: 19, output: reference.usage?.output ?? -1, cached: 4 })
      }
    }))

  it.scopedLive("promptBlocked: OpenAI refuses with a 400 content_filter (Azure's prompt filter)", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator.make()
      const response = yield* send("openai", emulator, { scenario: { faults: [Fault.promptBlocked()] } })
      assert.strictEqual(response.status, 400)
      const body = JSON.parse(yield* Effect.promise(() => response.text()))
      assert.strictEqual(body.error.code, "content_filter")
    }))

  it.scopedLive("base URLs follow each official SDK", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator.make()
      assert.strictEqual(emulator.openAiBaseUrl, `${emulator.url}/v1`)
      assert.strictEqual(emulator.anthropicBaseUrl, emulator.url)
      assert.strictEqual(emulator.geminiBaseUrl, emulator.url)
    }))

  it.scopedLive("takes every credential style the real API takes; echoKey echoes the one that came; none is refused", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator.make()
      const bearer = (key: string) => ({ authorization: `Bearer ${key}` })
      const version = { "anthropic-version": "2026-10-21" }
      const styles: ReadonlyArray<readonly [FormatName, string, Record<string, string>, string?]> = [
        ["openai", "bearer", bearer("sk-o")],
        ["anthropic", "x-api-key", { "x-api-key": "sk-ant-k", ...version }],
        ["anthropic", "bearer", { ...bearer("sk-ant-b"), ...version }],
        ["gemini", "x-goog-api-key", { "x-goog-api-key": "AIza-h" }],
        ["gemini", "?key=", {}, "AIza-q"],
        ["gemini", "bearer", bearer("ya29.g")]
      ]
      const keyOf = (headers: Record<string, string>, query: string | undefined) =>
        query ?? headers["x-api-key"] ?? headers["x-goog-api-key"] ?? headers.authorization?.slice("Bearer ".length)
      for (const [format, style, headers, query] of styles) {
        const label = `${format}/${style}`
        const call = (scenario: Scenario.Scenario) => {
          const { init, url } = requestOf(format, emulator, { noKey: true, headers, scenario, stream: false })
          return Effect.promise(() => fetch(query === undefined ? url : `${url}?key=${query}`, init))
        }
        const ok = yield* call({})
        assert.strictEqual(ok.status, 200, label)
        assert.strictEqual(readJson(format, yield* Effect.promise(() => ok.text())).text, Scenario.defaultText, label)
        const echoed = yield* call({ faults: [Fault.echoKey()] })
        assert.strictEqual(echoed.status, format === "gemini" ? 403 : 401, label)
        assert.include(yield* Effect.promise(() => echoed.text()), keyOf(headers, query), label)
      }
      // No credential at all: Anthropic's 401 and Gemini's 403, as before (OpenAI-compatible servers take none).
      const refused = yield* Effect.forEach(["anthropic", "gemini"] as const, (format) =>
        Effect.map(send(format, emulator, { noKey: true, headers: format === "anthropic" ? version : {} }), (r) => r.status))
      assert.deepStrictEqual(refused, [401, 403])
      // Any other scheme in Authorization is no credential for the formats that read it besides their own header.
      const basic = yield* send("anthropic", emulator, { noKey: true, headers: { authorization: "Basic c2s6", ...version } })
      assert.strictEqual(basic.status, 401)
    }))

  it.scopedLive("sees a client going away mid-stream, in every format", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator.make()
      for (const format of formats) {
        const controller = new AbortController()
        const response = yield* send(format, emulator, {
          scenario: { extends: "long", gapMs: 10 },
          signal: controller.signal
        })
        const body = reader(response)
        yield* body.readUntil((t) => readStream(format, t).contentEvents >= 3)
        controller.abort()
        const record = yield* emulator.awaitEnded(requestId(response))
        assert.strictEqual(record.ending, "client-closed", format)
        assert.isTrue(record.events >= 3 && record.events < 100, `${format}: ${record.events} events`)
      }
    }))
})

describe("Emulator: continuation in every format", () => {
  const text = Scenario.defaultText // "Hello from the Sluice emulator."

  it.scopedLive("prefill: a last assistant message holding a prefix is continued right after it", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator.make()
      const messages: ReadonlyArray<Message> = [{ role: "user", content: "Hi" }, { role: "assistant", content: "Hello from the Slu" }]
      for (const format of formats) {
        assert.strictEqual((yield* streamed(format, emulator, { messages })).text, "ice emulator.", format)
        assert.strictEqual((yield* plain(format, emulator, { messages })).text, "ice emulator.", format)
      }
      // DeepSeek's flag on the prefix message
      const flagged = yield* streamed("openai", emulator, {
        messages: [{ role: "user", content: "Hi" }, { role: "assistant", content: "Hello from", prefix: true }]
      })
      assert.strictEqual(flagged.text, " the Sluice emulator.")
      const log = yield* emulator.awaitIdle
      assert.deepStrictEqual(log.map((r) => r.continuation), [
        ...Array.from({ length: 6 }, () => ({ mode: "prefill" as const, prefixLength: 18 })),
        { mode: "prefill", prefixLength: 10 }
      ])
    }))

  it.scopedLive("instruction: an assistant prefix then a user request to go on is answered with the rest", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator.make()
      const messages: ReadonlyArray<Message> = [
        { role: "user", content: "Hi" },
        { role: "assistant", content: "Hello from the " },
        { role: "user", content: "Continue exactly where you stopped, without repeating anything." }
      ]
      for (const format of formats) {
        const read = yield* streamed(format, emulator, { messages, scenario: "hello" })
        assert.strictEqual(read.text, "Sluice emulator.", format)
        assert.strictEqual(read.contentEvents, 2, format)
        assert.strictEqual(read.usage?.output, 2, format)
        assert.strictEqual((yield* plain(format, emulator, { messages })).text, "Sluice emulator.", format)
      }
      const log = yield* emulator.awaitIdle
      assert.isTrue(log.every((r) => r.continuation?.mode === "instruction" && r.continuation.prefixLength === 15))
    }))

  it.scopedLive("a prefix that does not match, or a whole earlier answer, is answered anew", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator.make()
      for (const format of formats) {
        const other = yield* streamed(format, emulator, {
          messages: [{ role: "user", content: "Hi" }, { role: "assistant", content: "Good day" }]
        })
        assert.strictEqual(other.text, text, format)
        const nextTurn = yield* streamed(format, emulator, {
          messages: [
            { role: "user", content: "Hi" },
            { role: "assistant", content: text },
            { role: "user", content: "And again?" }
          ]
        })
        assert.strictEqual(nextTurn.text, text, format)
        // a continuation carries no reasoning
        const reasoning = yield* streamed(format, emulator, {
          scenario: "reasoning",
          messages: [{ role: "user", content: "Hi" }, { role: "assistant", content: "Hello!" }]
        })
        assert.deepStrictEqual([reasoning.reasoning, reasoning.text], ["", " How can I help you today?"], format)
      }
      const log = yield* emulator.awaitIdle
      assert.deepStrictEqual(log.map((r) => r.continuation?.mode ?? null), [
        null,
        null,
        "prefill",
        null,
        null,
        "prefill",
        null,
        null,
        "prefill"
      ])
    }))

  it.scopedLive("Anthropic refuses a prefill that ends with whitespace, as the real API does", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator.make()
      const response = yield* send("anthropic", emulator, {
        messages: [{ role: "user", content: "Hi" }, { role: "assistant", content: "Hello from " }]
      })
      assert.strictEqual(response.status, 400)
      assert.deepStrictEqual(JSON.parse(yield* Effect.promise(() => response.text())), {
        type: "error",
        error: { type: "invalid_request_error", message: "messages: final assistant content cannot end with trailing whitespace" }
      })
    }))

  it.scopedLive("times: the first request truncates, the continuation completes the exact text (both ways)", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator.make()
      const full = Scenario.named.long.text
      for (const format of formats) {
        for (const mode of ["prefill", "instruction"] as const) {
          // a fresh key per case, so `times` counts from 1
          const scenario = { extends: "long", model: `${format}-${mode}`, faults: [Fault.truncate(17, { times: 1 })] }
          const first = yield* streamed(format, emulator, { scenario })
          assert.isNull(first.finish)
          assert.strictEqual(first.contentEvents, 17)
          // Anthropic rejects trailing whitespace in a prefill: the client trims it, and the rest starts with it
          const prefix = format === "anthropic" && mode === "prefill" ? first.text.trimEnd() : first.text
          const messages: ReadonlyArray<Message> = mode === "prefill"
            ? [{ role: "user", content: "Tell me" }, { role: "assistant", content: prefix }]
            : [
              { role: "user", content: "Tell me" },
              { role: "assistant", content: prefix },
              { role: "user", content: "Continue." }
            ]
          const rest = yield* streamed(format, emulator, { scenario, messages })
          assert.strictEqual(prefix + rest.text, full, `${format}/${mode}`)
          assert.isNotNull(rest.finish, `${format}/${mode}`)
        }
      }
    }))
})
