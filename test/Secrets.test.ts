/**
 * The API key never appears — not even a piece of it, in any case — in an error (its message,
 * `String`, JSON, `inspect`, `Cause.pretty`), a log line, a span (attributes, events, the failure it
 * ended with), a metrics summary or attempt record, nor in the CLI's stderr and `--json` output. A
 * recognisable key goes through every failure path of every format, streamed and not: the emulator's
 * faults, and a server that echoes the key in every field of every error shape and in its response
 * headers (`support/keyEchoServer.ts`). Each case must show `[REDACTED]`: the key really reached an
 * error and was scrubbed, so a scrubbing step that is skipped fails here.
 */
import { NodeHttpClient } from "@effect/platform-node"
import { assert, describe, it as test, layer } from "@effect/vitest"
import type { HttpClient } from "@effect/platform"
import { ChatRequest, type LanguageModel, LlmError, Policy } from "@sluice/core"
import { Emulator, Fault, Scenario } from "@sluice/emulator"
import { Anthropic, Gemini, OpenAiCompatible } from "@sluice/providers"
import { Cause, Chunk, Duration, Effect, Exit, Layer, Logger, Redacted, Stream, Tracer } from "effect"
import { inspect } from "node:util"
import { scrub, scrubError } from "../packages/providers/src/internal/secrets.js"
import { jsonLines, KEY as CLI_KEY, sluice } from "./support/cli.js"
import { baseUrl, caseNames, type Format, keyEchoServer } from "./support/keyEchoServer.js"

const KEY = "sk-proj-Q7vRm2T9kLpW4nZ8xD3fA6"
const request = ChatRequest.make({ model: "m", messages: [ChatRequest.user("hi")] })

/** The shortest piece of a key that counts as a leak. */
const piece = 8

/** Where `text` holds the key or any `piece` characters of it, in any case, with some context; undefined when nowhere. */
const leak = (text: string, key: string): string | undefined => {
  const lower = text.toLowerCase()
  for (let i = 0; i + piece <= key.length; i++) {
    const at = lower.indexOf(key.slice(i, i + piece).toLowerCase())
    if (at >= 0) return JSON.stringify(text.slice(Math.max(0, at - 100), at + 100))
  }
  return undefined
}

/** A tracer that keeps every span's name, attributes, events and the failure it ended with. */
const recordingTracer = (sink: Array<string>) =>
  Tracer.make({
    span: (name, parent, context, links, startTime, kind) => ({
      _tag: "Span",
      name,
      spanId: `span-${sink.length}`,
      traceId: "trace",
      parent,
      context,
      status: { _tag: "Started", startTime },
      attributes: new Map(),
      links,
      sampled: true,
      kind,
      end: (_endTime, exit) => {
        if (Exit.isFailure(exit)) sink.push(`${name} ended ${Cause.pretty(exit.cause)}`)
      },
      attribute: (k, v) => {
        sink.push(`${name} ${k}=${inspect(v)}`)
      },
      event: (event, _time, attributes) => {
        sink.push(`${name} event ${event} ${inspect(attributes)}`)
      },
      addLinks: () => undefined
    }),
    context: (f) => f()
  })

/** Everything a caller might print or ship of a failed exit. */
const renderings = (exit: Exit.Exit<unknown, unknown>): Array<string> => {
  if (Exit.isSuccess(exit)) return []
  const out = [Cause.pretty(exit.cause), inspect(exit.cause, { depth: 20 })]
  for (const error of Chunk.toReadonlyArray(Cause.failures(exit.cause))) {
    out.push(String(error), JSON.stringify(error), inspect(error, { depth: 20 }))
    if (error instanceof Error) out.push(error.message)
  }
  return out
}

/** What one call gave: its exit, and the renderings of its failure, its log lines and metrics summaries (with the attempts). */
interface Probe {
  readonly exit: Exit.Exit<unknown, unknown>
  readonly output: string
}

/**
 * Streams (or completes) one request through `model` under timeout, retry and metrics, with a logger
 * and `tracer` in place; a failure is also logged, as an application would.
 */
const probe = (model: LanguageModel.Service, tracer: Tracer.Tracer, mode: "stream" | "complete") => {
  const output: Array<string> = []
  const logger = Logger.make(({ annotations, cause, message }) => {
    output.push(inspect(message, { depth: 10 }), Cause.pretty(cause), inspect(annotations, { depth: 10 }))
  })
  const wrapped = model.pipe(
    // Generous bounds: only the emulator's stall waits for them.
    Policy.timeout({ idle: "1 second", total: "5 seconds" }),
    Policy.retry({ maxAttempts: 1 }),
    Policy.metrics({ onSummary: (summary) => Effect.sync(() => output.push(JSON.stringify(summary), inspect(summary, { depth: 10 }))) })
  )
  const call: Effect.Effect<unknown, unknown> = mode === "stream" ? Stream.runDrain(wrapped.stream(request)) : wrapped.complete(request)
  return call.pipe(
    Effect.withSpan("caller"),
    Effect.exit,
    Effect.tap((exit) => (Exit.isFailure(exit) ? Effect.logError("request failed", exit.cause) : Effect.void)),
    Effect.map((exit): Probe => ({ exit, output: [...output, ...renderings(exit)].join("\n") })),
    Effect.provide(Logger.replace(Logger.defaultLogger, logger)),
    Effect.withTracer(tracer)
  )
}

const modes = ["stream", "complete"] as const

/** The first line of what a failed exit says, for assertion messages. */
const said = (exit: Exit.Exit<unknown, unknown>): string => (Exit.isFailure(exit) ? Cause.pretty(exit.cause).split("\n")[0] : "success")

const adapters: ReadonlyArray<readonly [Format, (baseUrl: string, headers?: Record<string, string>) => Effect.Effect<LanguageModel.Service, never, HttpClient.HttpClient>]> = [
  ["openai", (baseUrl, headers) => OpenAiCompatible.make({ baseUrl, apiKey: Redacted.make(KEY), headers })],
  ["anthropic", (baseUrl, headers) => Anthropic.make({ baseUrl, apiKey: Redacted.make(KEY), headers })],
  ["gemini", (baseUrl, headers) => Gemini.make({ baseUrl, apiKey: Redacted.make(KEY), headers })]
]

const emulatorUrl = (emulator: Emulator.Service, format: Format): string =>
  format === "openai" ? emulator.openAiBaseUrl : format === "anthropic" ? emulator.anthropicBaseUrl : emulator.geminiBaseUrl

/** Emulator faults that fail a request; `echoes` when the key is in what the provider sends back, `streamOnly` for a fault of streams alone. */
const faults: ReadonlyArray<{ readonly scenario: Scenario.Scenario; readonly echoes: boolean; readonly streamOnly?: boolean }> = [
  { scenario: { faults: [{ type: "echoKey" }] }, echoes: true },
  { scenario: { faults: [Fault.status({ status: 400, message: `bad request for key ${KEY}` })] }, echoes: true },
  // The report of issue 11: the key in the code (OpenAI) or the type (Anthropic's `error.type`, Gemini's `status`).
  { scenario: { faults: [Fault.status({ status: 400, message: "bad request", code: KEY, errorType: KEY })] }, echoes: true },
  { scenario: { faults: [Fault.status({ status: 404, code: KEY, errorType: KEY })] }, echoes: true },
  { scenario: { faults: [Fault.status({ status: 401 })] }, echoes: false },
  { scenario: { faults: [Fault.status({ status: 429, retryAfter: 1, message: `slow down ${KEY}`, code: KEY, errorType: KEY })] }, echoes: true },
  { scenario: { faults: [Fault.status({ status: 500, message: `internal error with ${KEY}`, errorType: KEY })] }, echoes: true },
  { scenario: { faults: [Fault.contextLengthExceeded({ message: `prompt is too long for ${KEY}` })] }, echoes: true },
  { scenario: { faults: [Fault.errorEvent(1, { message: `overloaded ${KEY}` })] }, echoes: true },
  { scenario: { faults: [Fault.errorEvent(1, { message: "overloaded", errorType: KEY, code: KEY })] }, echoes: true },
  { scenario: { faults: [Fault.truncate(2)] }, echoes: false },
  { scenario: { faults: [Fault.reset(1)] }, echoes: false },
  { scenario: { faults: [{ type: "malformedJson", atEvent: 1 }] }, echoes: false },
  { scenario: { faults: [{ type: "wrongSchema", atEvent: 1 }] }, echoes: false },
  // A non-streamed call would wait for the total bound: the stall is a streaming fault.
  { scenario: { faults: [Fault.stall(1)] }, echoes: false, streamOnly: true }
]

layer(Layer.mergeAll(Emulator.layer(), NodeHttpClient.layerUndici), { excludeTestServices: true })("Secrets", (it) => {
  it.effect("no emulator fault of any format lets the key out, streamed or not", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator.Emulator
      const spans: Array<string> = []
      const outputs: Array<string> = []
      for (const [format, make] of adapters) {
        for (const { echoes, scenario, streamOnly } of faults) {
          const model = yield* make(emulatorUrl(emulator, format), Scenario.headers(scenario))
          for (const mode of streamOnly === true ? ["stream" as const] : modes) {
            const what = `${format} ${mode} ${JSON.stringify(scenario)}`
            const { exit, output } = yield* probe(model, recordingTracer(spans), mode)
            // Some faults touch only the stream (a truncation, a reset): `complete` then succeeds.
            if (mode === "stream") assert.isTrue(Exit.isFailure(exit), `${what} should fail`)
            if (echoes) assert.include(output, "[REDACTED]", `${what}: the key should reach an error, scrubbed (${said(exit)})`)
            outputs.push(output)
          }
        }
      }
      const all = [...outputs, ...spans].join("\n")
      assert.isAbove(outputs.length, 80)
      assert.isUndefined(leak(all, KEY))
    }))

  it.scoped("a provider echoing the key in every field, header and chunk of every error shape lets no piece of it out", () =>
    Effect.gen(function*() {
      const server = yield* keyEchoServer
      const spans: Array<string> = []
      const outputs: Array<string> = []
      for (const [format, make] of adapters) {
        for (const name of caseNames) {
          const model = yield* make(baseUrl(server.url, format, name))
          for (const mode of modes) {
            const what = `${format} ${mode} ${name}`
            const { exit, output } = yield* probe(model, recordingTracer(spans), mode)
            assert.isTrue(Exit.isFailure(exit), `${what} should fail`)
            assert.include(output, "[REDACTED]", `${what}: the key should reach an error, scrubbed (${said(exit)})`)
            const leaked = leak(output, KEY)
            assert.isUndefined(leaked, `${what}: ${leaked}`)
            outputs.push(output)
          }
        }
      }
      assert.strictEqual(outputs.length, adapters.length * caseNames.length * modes.length)
      // The HTTP client's span records every response header: the echoed ones are scrubbed, not dropped.
      assert.isTrue(spans.some((s) => s.includes("http.response.header.x-echo-key='[REDACTED]'")), "the echoed header reaches the span, scrubbed")
      const leaked = leak(spans.join("\n"), KEY)
      assert.isUndefined(leaked, `a span holds the key: ${leaked}`)
    }))

  it.effect("no span attribute of any request holds the key", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator.Emulator
      const spans: Array<string> = []
      for (const [format, make] of adapters) {
        for (const scenario of [{}, { faults: [{ type: "echoKey" as const }] }]) {
          const model = yield* make(emulatorUrl(emulator, format), Scenario.headers(scenario))
          yield* model.stream(request).pipe(Stream.runDrain, Effect.withSpan("caller"), Effect.withTracer(recordingTracer(spans)), Effect.exit)
          yield* model.complete(request).pipe(Effect.withSpan("caller"), Effect.withTracer(recordingTracer(spans)), Effect.exit)
        }
      }
      assert.isAbove(spans.length, 20)
      assert.isTrue(spans.some((s) => /header\.(authorization|x-api-key|x-goog-api-key)=/.test(s)))
      assert.isUndefined(leak(spans.join("\n"), KEY))
    }))

  it.scoped("the CLI prints no piece of the key on stderr or in --json, whatever field the provider echoes it in", () =>
    Effect.gen(function*() {
      const server = yield* keyEchoServer
      const variables: Readonly<Record<Format, string>> = { openai: "OPENAI_API_KEY", anthropic: "ANTHROPIC_API_KEY", gemini: "GEMINI_API_KEY" }
      const runs: Array<{ readonly what: string; readonly args: ReadonlyArray<string>; readonly env: Record<string, string> }> = []
      for (const format of ["openai", "anthropic", "gemini"] as const) {
        for (const name of ["code-only", "status-400", "stream-error", "stream-error-no-message", "malformed-quoted", "wrong-schema"]) {
          for (const mode of [[], ["--no-stream"]]) {
            runs.push({
              what: `${format} ${name} ${mode.join(" ")}`,
              args: ["-p", format, "-m", "m", "--base-url", baseUrl(server.url, format, name), "--retries", "0", "--json", "--stats", ...mode, "hi"],
              env: { [variables[format]]: CLI_KEY }
            })
          }
        }
      }
      const results = yield* Effect.forEach(runs, (run) => Effect.map(sluice(run.args, { env: run.env }), (result) => ({ ...run, result })), {
        concurrency: 3
      })
      for (const { result, what } of results) {
        const printed = `${result.stdout}\n${result.stderr}`
        assert.notStrictEqual(result.code, 0, `${what}: ${printed}`)
        // Both outputs say what failed: the summary's error on stdout (whole, so the marker shows the key
        // reached it), the one short line on stderr.
        assert.strictEqual(jsonLines(result.stdout).at(-1)?.ok, false, what)
        assert.include(result.stdout, "[REDACTED]", `${what}: ${printed}`)
        const leaked = leak(printed, CLI_KEY)
        assert.isUndefined(leaked, `${what}: ${leaked}`)
      }
    }), 120_000)
})

describe("scrubError", () => {
  const partial = { text: `the model said ${KEY}`, reasoning: "", toolCalls: [], usage: null, finishReason: null }

  test("scrubs every string field, nested ones too, and keeps the class, the other fields and the partial exactly", () => {
    const error = new LlmError.ProviderStreamError({
      provider: "p",
      model: "m",
      errorType: KEY,
      providerMessage: `overloaded for ${KEY.toUpperCase()}`,
      retryable: true,
      partial
    })
    const clean = scrubError(error, [KEY])
    assert.instanceOf(clean, LlmError.ProviderStreamError)
    assert.deepStrictEqual({ ...clean }, { ...error, errorType: "[REDACTED]", providerMessage: "overloaded for [REDACTED]" })
    // The answer the caller already received is content, kept exactly as received.
    assert.deepStrictEqual(clean.partial, partial)
    const transport = scrubError(new LlmError.TransportError({ provider: "p", model: "m", reason: "reset", cause: new Error(`echo ${KEY}`) }), [KEY])
    assert.instanceOf(transport, LlmError.TransportError)
    assert.notInclude(inspect(transport, { depth: 10 }), KEY)
    const limited = scrubError(new LlmError.RateLimited({ provider: "p", model: "m", retryAfter: Duration.seconds(3), providerMessage: KEY }), [KEY])
    assert.isTrue(limited._tag === "RateLimited" && limited.retryAfter !== undefined && Duration.toMillis(limited.retryAfter) === 3000)
  })

  test("gives back the very error when no field holds a secret, and keeps Sluice's own words", () => {
    const timeout = new LlmError.Timeout({ provider: "p", model: "m", phase: "first-token", after: Duration.seconds(1), partial })
    assert.strictEqual(scrubError(timeout, [KEY]), timeout)
    assert.strictEqual(scrubError(timeout, []), timeout)
    // A secret that is one of Sluice's words (a local server's key) leaves the error what it was.
    const cut = new LlmError.IncompleteStream({ provider: "p", model: "m-done-without-finish", ending: "done-without-finish" })
    const clean = scrubError(cut, ["done-without-finish"])
    assert.isTrue(clean._tag === "IncompleteStream" && clean.ending === "done-without-finish" && clean.model === "m-[REDACTED]", String(clean))
  })

  test("removes a secret cut short or quoted in part, in any case, and leaves other text alone", () => {
    assert.strictEqual(scrub(`data ${KEY.slice(0, 10)}`, [KEY]), "data [REDACTED]")
    assert.strictEqual(scrub(`…"${KEY.slice(5, 17).toLowerCase()}"…`, [KEY]), "…\"[REDACTED]\"…")
    assert.strictEqual(scrub(`${KEY}${KEY}, ${KEY.slice(0, 7)}`, [KEY]), `[REDACTED][REDACTED], ${KEY.slice(0, 7)}`)
    assert.strictEqual(scrub("key test1 here", ["test1"]), "key [REDACTED] here")
    assert.strictEqual(scrub("abc", ["abc"]), "abc")
    assert.strictEqual(scrub("nothing to see", [KEY]), "nothing to see")
  })
})
