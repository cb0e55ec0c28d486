/**
 * The embedded demo: starts the emulator in-process and streams from it over real HTTP with the
 * OpenAI-compatible adapter. No API key, no network beyond loopback.
 */
import { NodeHttpClient } from "@effect/platform-node"
import { ChatRequest, Completion, type LanguageModel, type LlmError, type StreamEvent } from "@sluice/core"
import { Emulator, Fault, Scenario } from "@sluice/emulator"
import { OpenAiCompatible } from "@sluice/providers"
import { Clock, Console, Effect, Layer, Stream } from "effect"

const tty = process.stdout.isTTY === true && process.env.NO_COLOR === undefined
const dim = (s: string) => (tty ? `\x1b[2m${s}\x1b[0m` : s)
const bold = (s: string) => (tty ? `\x1b[1m${s}\x1b[0m` : s)
const red = (s: string) => (tty ? `\x1b[31m${s}\x1b[0m` : s)
const green = (s: string) => (tty ? `\x1b[32m${s}\x1b[0m` : s)

const request = ChatRequest.make({
  model: "emulated-gpt",
  messages: [ChatRequest.user("Explain in a few sentences why streaming clients must fail loudly.")]
})

const answer =
  "Streaming answers arrive as small deltas over one long HTTP response. When the connection breaks, " +
  "a careless client returns the shorter answer as if it were whole. Sluice checks for the finish reason " +
  "and turns a silent cut into a typed error that still holds everything received."

/** Streams one request, printing text as it arrives; reports time to first token and the outcome. */
const show = (title: string, model: LanguageModel.Service) =>
  Effect.gen(function*() {
    yield* Console.log(`\n${bold(title)}`)
    const start = yield* Clock.currentTimeMillis
    let firstToken: number | undefined
    const received: Array<StreamEvent.StreamEvent> = []
    const outcome = yield* model.stream(request).pipe(
      Stream.runForEach((event) =>
        Effect.gen(function*() {
          received.push(event)
          if (event._tag === "TextDelta") {
            if (firstToken === undefined) firstToken = (yield* Clock.currentTimeMillis) - start
            process.stdout.write(event.text)
          }
        })
      ),
      Effect.either
    )
    const elapsed = (yield* Clock.currentTimeMillis) - start
    const completion = Completion.fromEvents(received)
    process.stdout.write("\n")
    const ttft = firstToken === undefined ? "no token" : `first token ${firstToken} ms`
    if (outcome._tag === "Right") {
      const usage = completion.usage === null ? "no usage" : `${completion.usage.inputTokens} in / ${completion.usage.outputTokens} out`
      yield* Console.log(dim(`${green("ok")} · ${ttft} · ${elapsed} ms total · ${usage} · finish ${completion.finishReason}`))
    } else {
      const error: LlmError.LlmError = outcome.left
      yield* Console.log(`${red(error._tag)} ${dim(`· ${ttft} · ${elapsed} ms`)}\n  ${error.message}`)
      if (error.partial !== undefined) yield* Console.log(dim(`  partial kept: ${JSON.stringify(error.partial.text.slice(-40))} (${error.partial.text.length} chars)`))
    }
  })

const program = Effect.gen(function*() {
  const emulator = yield* Emulator.Emulator
  yield* Console.log(dim(`emulator listening on ${emulator.url} (OpenAI wire format)`))
  const model = (scenario: Scenario.Scenario) =>
    OpenAiCompatible.make({ baseUrl: emulator.openAiBaseUrl, provider: "emulator", headers: Scenario.headers(scenario) })
  const paced = { text: answer, firstTokenDelayMs: 250, gapMs: 12 }

  yield* show("1. A streamed answer", yield* model(paced))
  yield* show("2. The stream is cut after 12 events: the guard makes it loud", yield* model({ ...paced, faults: [Fault.truncate(12)] }))
  yield* show("3. The provider sends an error mid-stream", yield* model({ ...paced, faults: [Fault.errorEvent(8, { message: "upstream overloaded", errorType: "server_error" })] }))
  yield* show("4. A 429 with Retry-After is a typed RateLimited", yield* model({ faults: [Fault.status({ status: 429, retryAfter: 2 })] }))
  yield* show("5. The server never sends a finish reason, then says [DONE]", yield* model({ ...paced, gapMs: 3, faults: [Fault.dropFinish()] }))
})

program.pipe(
  Effect.provide(Layer.mergeAll(Emulator.layer(), NodeHttpClient.layerUndici)),
  Effect.runPromise
).catch((error: unknown) => {
  console.error(error)
  process.exitCode = 1
})
