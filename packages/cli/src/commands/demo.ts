/**
 * `sluice demo`: starts the emulator in-process and shows, over real HTTP on loopback, a streamed
 * answer, a 429 absorbed by retry, a cut stream caught by the guard and healed by continuation, a
 * failover to a second provider, and an audit catching a buffered replay. No key, no network.
 * @internal
 */
import * as Command from "@effect/cli/Command"
import { ChatRequest } from "@sluice/core"
import { Emulator, Fault, Scenario } from "@sluice/emulator"
import { Providers } from "@sluice/providers"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as Audit from "../internal/Audit.js"
import { Failed } from "../internal/CliError.js"
import * as ExitCode from "../internal/ExitCode.js"
import type * as Help from "../internal/Help.js"
import * as Provider from "../internal/Provider.js"
import { resilient } from "../internal/resilient.js"
import { runPrompt } from "../internal/runPrompt.js"
import { noColor, style, type Terminal } from "../internal/Terminal.js"

/** Everything on stdout, in order, so the demo reads the same in a terminal and through a pipe. */
const demoTerminal = (): Terminal => {
  const tty = process.stdout.isTTY === true
  const st = style(tty && !noColor())
  const write = (text: string) => {
    process.stdout.write(text)
  }
  // `outIsTty: true` ends each answer with a newline before the lines that follow it.
  return { out: write, err: write, outIsTty: true, errIsTty: tty, style: st, outStyle: st }
}

const answers = {
  streamed:
    "Streaming answers arrive as small deltas over one long HTTP response. When the connection breaks, a careless " +
    "client returns the shorter answer as if it were whole; Sluice checks for the finish reason instead.",
  retried: "Rate limits are a request to wait, not a failure: the retry honoured the server's Retry-After and tried again.",
  healed:
    "A stream that stops without a finish reason is not an answer. The guard names the cut, and the continuation asks " +
    "the model for the rest, so the reader sees one seamless answer with nothing repeated and nothing lost.",
  failover: "This answer comes from the second provider, in Anthropic's wire format, after the first one kept failing.",
  audited:
    "A gateway that buffers the whole answer and replays it at once defeats streaming: the user stares at a spinner " +
    "for the full generation time, then everything appears together. Time to first token equals total time, and " +
    "nothing in the response says so. The audit compares when the first token came with when the last one did, over " +
    "several runs, and flags the replay."
}

// The CLI's default models, so the demo shows the names a user gets without `-m`.
const openAiModel = Providers.registry.openai.defaultModel
const anthropicModel = Providers.registry.anthropic.defaultModel

const request = (text: string) => ChatRequest.make({ model: openAiModel, messages: [ChatRequest.user(text)] })

const program = Effect.gen(function*() {
  const started = performance.now()
  const terminal = demoTerminal()
  const s = terminal.style
  const say = (text: string) => terminal.out(`${text}\n`)
  const emulator = yield* Emulator.make()
  const openai = (scenario: Scenario.Scenario, model: string = openAiModel) =>
    Provider.service({ provider: "openai", model, baseUrl: emulator.openAiBaseUrl }, Redacted.make("demo-key"), Scenario.headers(scenario))
  const anthropic = (scenario: Scenario.Scenario) =>
    Provider.service(
      { provider: "anthropic", model: anthropicModel, baseUrl: emulator.anthropicBaseUrl },
      Redacted.make("demo-key"),
      Scenario.headers(scenario)
    )
  const quick = { baseDelay: "200 millis" } as const
  const step = (n: number, title: string, what: string) => {
    say(`\n${s.bold(`${n} · ${title}`)}`)
    say(s.dim(what))
  }
  const show = (label: string, model: Parameters<typeof runPrompt>[1], text: string) =>
    runPrompt(terminal, model, request(text), { label, json: false, stats: true, stream: true })

  say(`${s.bold("sluice demo")} · the emulator listens on ${emulator.url} and speaks the OpenAI and Anthropic wire formats.`)
  say(s.dim("Every request below is real HTTP over loopback, through the same policies as `sluice \"prompt\"`. No key, no network."))

  step(1, "A streamed answer", "Text reaches stdout as each delta arrives; the stats line gives the time to first token.")
  yield* show(`openai/${openAiModel}`, resilient({ service: yield* openai({ text: answers.streamed, firstTokenDelayMs: 250, gapMs: 18 }), model: openAiModel }, [], { retries: 2, ...quick }), "Why must streaming clients fail loudly?")

  step(2, "A 429, absorbed by retry", "The first request gets HTTP 429 with Retry-After: 1; the retry waits that long, then streams.")
  yield* show(
    `openai/${openAiModel}`,
    resilient(
      { service: yield* openai({ text: answers.retried, gapMs: 15, faults: [Fault.status({ status: 429, retryAfter: 1, times: 1 })] }), model: openAiModel },
      [],
      { retries: 2, ...quick }
    ),
    "What is a rate limit?"
  )

  step(
    3,
    "A cut stream, caught by the guard and healed by continuation",
    "The body ends cleanly after 12 tokens with no finish reason: a silent truncation. The guard names it (IncompleteStream),\n" +
      "and the continuation asks for the rest and splices it on — nothing printed twice."
  )
  const healed = yield* show(
    `openai/${openAiModel}`,
    resilient(
      { service: yield* openai({ text: answers.healed, gapMs: 18, faults: [Fault.truncate(12, { times: 1 })] }), model: openAiModel },
      [],
      { retries: 2, ...quick }
    ),
    "What is a truncated stream?"
  )
  const splice = healed.attempts.find((a) => a.kind === "continuation")?.spliceAt
  if (splice !== undefined) say(s.dim(`the cut came after ${splice} characters; the rest was spliced on there`))

  step(
    4,
    "Failover to a second provider",
    `openai/${openAiModel} answers HTTP 503 every time; after one retry the request moves to anthropic/${anthropicModel}.`
  )
  yield* show(
    `openai/${openAiModel}`,
    resilient(
      { service: yield* openai({ text: "unused", faults: [Fault.status({ status: 503 })] }), model: openAiModel },
      [{ service: yield* anthropic({ text: answers.failover, gapMs: 15 }), model: anthropicModel }],
      { retries: 1, ...quick }
    ),
    "Who answers?"
  )

  step(
    5,
    "An audit catching a buffered replay",
    "A \"gateway\" holds the whole answer back and sends it in one write: `sluice audit` compares the first token with the last."
  )
  const gateway = yield* openai({ text: answers.audited, firstTokenDelayMs: 100, gapMs: 8, faults: [Fault.bufferedReplay()] })
  const report = yield* Audit.audit(gateway, request("Explain buffered replay."), 2, (index, run) => say(Audit.runText(s, index, run)))
  say(Audit.reportText(s, report))
  if (report.buffered) say(s.dim("(as intended: the audit exits non-zero on such a gateway; the demo goes on)"))

  say(`\n${s.green("done")} in ${((performance.now() - started) / 1000).toFixed(1)} s. ` +
    s.dim(`Try it on your own app: sluice serve --buffered, or sluice serve --truncate-after 20, then point a client at it.`))
  const failed = !report.buffered || healed.error !== undefined
  if (failed) return yield* new Failed({ exitCode: ExitCode.unexpected })
}).pipe(Effect.scoped)

/** The demo command. */
/** The demo's help. */
export const help: Help.Doc = {
  command: "sluice demo",
  usage: ["sluice demo"],
  summary: "Start the emulator in-process and show streaming and every policy at work over real HTTP on loopback: a streamed answer, " +
    "a 429 absorbed by retry, a cut stream healed by continuation, failover, and an audit catching a buffered replay. No key, no network.",
  flags: []
}

/** The demo command. */
export const demo = Command.make("sluice demo", {}, () => program)
