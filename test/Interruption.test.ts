/**
 * Interrupting the consumer at any point aborts the HTTP request (the emulator sees the close) and
 * leaves no running fiber, open socket or timer behind.
 */
import { HttpClient } from "@effect/platform"
import { NodeHttpClient } from "@effect/platform-node"
import { assert, layer } from "@effect/vitest"
import { ChatRequest, type LanguageModel, Policy } from "@sluice/core"
import { Emulator, Scenario } from "@sluice/emulator"
import { Anthropic, Gemini, OpenAiCompatible } from "@sluice/providers"
import { Effect, Fiber, Layer, Redacted, Stream, Supervisor } from "effect"

const request = ChatRequest.make({ model: "m", messages: [ChatRequest.user("hi")] })
const scenario: Scenario.Scenario = { extends: "long", gapMs: 30, firstTokenDelayMs: 60 }

type Make = (emulator: Emulator.Service) => Effect.Effect<LanguageModel.Service, never, HttpClient.HttpClient>
const formats: ReadonlyArray<readonly [string, Make]> = [
  ["openai", (e) => OpenAiCompatible.make({ baseUrl: e.openAiBaseUrl, headers: Scenario.headers(scenario) })],
  ["anthropic", (e) => Anthropic.make({ baseUrl: e.anthropicBaseUrl, apiKey: Redacted.make("k"), headers: Scenario.headers(scenario) })],
  ["gemini", (e) => Gemini.make({ baseUrl: e.geminiBaseUrl, apiKey: Redacted.make("k"), headers: Scenario.headers(scenario) })]
]

const policies: ReadonlyArray<readonly [string, (m: LanguageModel.Service) => LanguageModel.Service]> = [
  ["bare", (m) => m],
  ["full stack", (m) =>
    m.pipe(
      Policy.timeout({ firstToken: "5 seconds", idle: "5 seconds" }),
      Policy.retry(),
      Policy.continuation(),
      Policy.failover([{ model: "backup" }]),
      Policy.hedge({ after: "10 seconds", routes: [{ model: "spare" }] }),
      Policy.timeout({ total: "1 minute" }),
      Policy.guard()
    )]
]

/** Sockets and timers Node holds open (what a leak would add to). */
const handles = () => {
  const counts = { sockets: 0, timers: 0 }
  for (const kind of process.getActiveResourcesInfo()) {
    if (kind === "TCPSocketWrap") counts.sockets++
    if (kind === "Timeout") counts.timers++
  }
  return counts
}

layer(Layer.mergeAll(Emulator.layer(), NodeHttpClient.layerUndici), { excludeTestServices: true })("Interruption", (it) => {
  for (const [format, make] of formats) {
    for (const [policy, wrap] of policies) {
      it.effect(`${format}, ${policy}: interrupting after 0, 1 or 5 events aborts the request and leaks nothing`, () =>
        Effect.gen(function*() {
          const emulator = yield* Emulator.Emulator
          const model = wrap(yield* make(emulator))
          // Warm the connection pool so keep-alive sockets are in the baseline.
          yield* emulator.reset
          for (const take of [0, 1, 5]) {
            const before = handles()
            const supervisor = yield* Supervisor.track
            const fiber = yield* model.stream(request).pipe(
              // Hold the stream open after `take` events until interrupted; with 0, interrupt while waiting for the first.
              (s) => (take === 0 ? s : Stream.concat(Stream.take(s, take), Stream.never)),
              Stream.runDrain,
              Effect.supervised(supervisor),
              Effect.fork
            )
            const records = yield* emulator.awaitRequests(1)
            const record = records[records.length - 1]
            if (take > 0) yield* Effect.sleep(`${60 + take * 30 + 50} millis`)
            yield* Fiber.interrupt(fiber)
            const ended = yield* emulator.awaitEnded(record.id)
            assert.strictEqual(ended.ending, "client-closed", `${format} ${policy} take ${take}`)
            assert.isBelow(ended.events, 100)
            const alive = (yield* supervisor.value).filter((f) => f.unsafePoll() === null)
            assert.strictEqual(alive.length, 0, `${format} ${policy} take ${take}: running fibers`)
            // Let the aborted socket's close callbacks run, then compare.
            yield* Effect.sleep("20 millis")
            const after = handles()
            assert.isAtMost(after.sockets, before.sockets + 1, `${format} ${policy} take ${take}: sockets`)
            assert.isAtMost(after.timers, before.timers, `${format} ${policy} take ${take}: timers`)
            yield* emulator.reset
          }
        }))
    }
  }
})
