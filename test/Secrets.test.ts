/**
 * The API key never appears in an error message, a log line, a span attribute or a defect: a
 * recognisable key goes through every failure path of every format, including a provider that
 * echoes it back, and all output is searched for it.
 */
import { NodeHttpClient } from "@effect/platform-node"
import { assert, layer } from "@effect/vitest"
import { HttpClient } from "@effect/platform"
import { ChatRequest, type LanguageModel, type LlmError, Policy } from "@sluice/core"
import { Emulator, Fault, Scenario } from "@sluice/emulator"
import { Anthropic, Gemini, OpenAiCompatible } from "@sluice/providers"
import { Cause, Effect, Exit, Layer, Logger, Redacted, Stream, Tracer } from "effect"
import { inspect } from "node:util"

const KEY = "sk-SLUICE-SECRET-7f3a9c2e1d"
const request = ChatRequest.make({ model: "m", messages: [ChatRequest.user("hi")] })

/** A tracer that keeps every span's name and attributes. */
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
      end: () => undefined,
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

type Make = (emulator: Emulator.Service, scenario: Scenario.Scenario) => Effect.Effect<LanguageModel.Service, never, HttpClient.HttpClient>

const formats: ReadonlyArray<readonly [string, Make]> = [
  ["openai", (e, s) => OpenAiCompatible.make({ baseUrl: e.openAiBaseUrl, apiKey: Redacted.make(KEY), headers: Scenario.headers(s) })],
  ["anthropic", (e, s) => Anthropic.make({ baseUrl: e.anthropicBaseUrl, apiKey: Redacted.make(KEY), headers: Scenario.headers(s) })],
  ["gemini", (e, s) => Gemini.make({ baseUrl: e.geminiBaseUrl, apiKey: Redacted.make(KEY), headers: Scenario.headers(s) })]
]

const faults: ReadonlyArray<Scenario.Scenario> = [
  { faults: [{ type: "echoKey" }] },
  { faults: [Fault.status({ status: 400, message: `bad request for key ${KEY}` })] },
  { faults: [Fault.status({ status: 401 })] },
  { faults: [Fault.status({ status: 429, retryAfter: 1, message: `slow down ${KEY}` })] },
  { faults: [Fault.status({ status: 500, message: `internal error with ${KEY}` })] },
  { faults: [Fault.errorEvent(1, { message: `overloaded ${KEY}` })] },
  { faults: [Fault.truncate(2)] },
  { faults: [Fault.reset(1)] },
  { faults: [{ type: "malformedJson", atEvent: 1 }] },
  { faults: [{ type: "wrongSchema", atEvent: 1 }] },
  { faults: [Fault.stall(1)] }
]

layer(Layer.mergeAll(Emulator.layer(), NodeHttpClient.layerUndici), { excludeTestServices: true })("Secrets", (it) => {
  it.effect("no failure path of any format lets the key out", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator.Emulator
      const output: Array<string> = []
      const logger = Logger.make(({ cause, message }) => {
        output.push(inspect(message, { depth: 10 }), Cause.pretty(cause))
      })
      const causes: Array<Cause.Cause<LlmError.LlmError>> = []
      for (const [format, make] of formats) {
        for (const scenario of faults) {
          const model = (yield* make(emulator, scenario)).pipe(Policy.timeout({ idle: "200 millis", total: "600 millis" }), Policy.retry({ maxAttempts: 1 }))
          const streamed = yield* model.stream(request).pipe(Stream.runDrain, Effect.withSpan("test"), Effect.exit)
          const completed = yield* model.complete(request).pipe(Effect.withSpan("test"), Effect.exit)
          if (Exit.isFailure(streamed)) causes.push(streamed.cause)
          if (Exit.isFailure(completed)) causes.push(completed.cause)
          assert.isTrue(Exit.isFailure(streamed), `${format} ${JSON.stringify(scenario)} should fail`)
        }
      }
      for (const cause of causes) {
        // Everything a caller might print or ship: the message, JSON, inspection, the cause, a log line.
        output.push(Cause.pretty(cause), inspect(cause, { depth: 20 }))
        for (const error of Cause.failures(cause)) {
          output.push(error.message, String(error), JSON.stringify(error), inspect(error, { depth: 20 }))
        }
        yield* Effect.logError("request failed", cause).pipe(Effect.provide(Logger.replace(Logger.defaultLogger, logger)))
      }
      const all = output.join("\n")
      assert.isAbove(output.length, 100)
      // The key is really in play: the echoing provider sent it back, and it was scrubbed.
      assert.include(all, "[REDACTED]")
      assert.notInclude(all, KEY)
      // Nor a recognisable fragment of it.
      assert.notInclude(all, KEY.slice(3, 18))
    }))

  it.effect("no span attribute of any request holds the key", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator.Emulator
      const spans: Array<string> = []
      for (const [, make] of formats) {
        for (const scenario of [{}, { faults: [{ type: "echoKey" as const }] }]) {
          const model = yield* make(emulator, scenario)
          yield* model.stream(request).pipe(Stream.runDrain, Effect.withSpan("caller"), Effect.withTracer(recordingTracer(spans)), Effect.exit)
          yield* model.complete(request).pipe(Effect.withSpan("caller"), Effect.withTracer(recordingTracer(spans)), Effect.exit)
        }
      }
      assert.isAbove(spans.length, 20)
      assert.isTrue(spans.some((s) => /header\.(authorization|x-api-key|x-goog-api-key)=/.test(s)))
      for (const span of spans) assert.notInclude(span, KEY, span)
    }))
})
