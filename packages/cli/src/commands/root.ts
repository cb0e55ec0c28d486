/**
 * `sluice [prompt]`: one prompt to one provider (with fallbacks), the answer on stdout as it streams.
 * @internal
 */
import * as Command from "@effect/cli/Command"
import * as HelpDoc from "@effect/cli/HelpDoc"
import * as Options from "@effect/cli/Options"
import * as ValidationError from "@effect/cli/ValidationError"
import { Policy } from "@sluice/core"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { Failed } from "../internal/CliError.js"
import * as ExitCode from "../internal/ExitCode.js"
import * as Help from "../internal/Help.js"
import * as ModelOptions from "../internal/modelOptions.js"
import * as Provider from "../internal/Provider.js"
import { resilient } from "../internal/resilient.js"
import { runPrompt } from "../internal/runPrompt.js"
import { processTerminal } from "../internal/Terminal.js"

/** Whether stdin was named with `-` (set by main after checking the command line). */
export interface Input {
  readonly stdin: boolean
}

const retries = Options.integer("retries").pipe(
  Options.withPseudoName("N"),
  Options.withDefault(2),
  Options.mapEffect((n) =>
    n >= 0 && n <= 10
      ? Effect.succeed(n)
      : Effect.fail(ValidationError.invalidValue(HelpDoc.p(`--retries takes 0 to 10, got ${n}`)))
  )
)

/** The finish reasons `--fail-on` takes, as `Policy.guard`'s `failOn` names them. */
type FailOn = "length" | "content-filter"

const isFailOn = (word: string): word is FailOn => word === "length" || word === "content-filter"

const failOn = Options.text("fail-on").pipe(
  Options.withPseudoName("REASONS"),
  Options.mapEffect((text) => {
    const words = text.split(",").map((word) => word.trim()).filter((word) => word !== "")
    const wrong = words.find((word) => !isFailOn(word))
    return wrong !== undefined || words.length === 0
      ? Effect.fail(ValidationError.invalidValue(HelpDoc.p(`--fail-on takes length and content-filter, comma-separated; got ${JSON.stringify(text)}`)))
      : Effect.succeed(words.filter(isFailOn))
  }),
  Options.withDefault<ReadonlyArray<FailOn>>([])
)

const options = {
  ...ModelOptions.modelOptions,
  fallback: Options.text("fallback").pipe(Options.withPseudoName("PROVIDER:MODEL"), Options.repeated),
  retries,
  failOn,
  json: Options.boolean("json"),
  stats: Options.boolean("stats"),
  noStream: Options.boolean("no-stream"),
  prompt: ModelOptions.prompt
}

/** The prompt command's help. */
export const help: Help.Doc = {
  command: "sluice",
  usage: ["sluice [options] [PROMPT...]", "sluice audit|serve|demo [options]", "sluice help [COMMAND]"],
  args: ["PROMPT...", ModelOptions.promptHelp],
  summary: "Stream a completion to stdout with honest, typed failure: the answer on stdout as it arrives, one line on stderr when " +
    "anything went wrong (the partial answer stays on stdout), and an exit code per kind of failure.",
  flags: Help.flags(options, {
    ...ModelOptions.modelFlags,
    fallback: {
      names: ["--fallback"],
      value: "PROVIDER:MODEL",
      text: "Another model to fail over to when a route fails before its first token, tried in order; on the same provider it reuses --base-url.",
      repeatable: true,
      default: "none"
    },
    retries: {
      names: ["--retries"],
      value: "N",
      text: "Retries per route (jittered exponential backoff honouring Retry-After), and continuations of an answer cut mid-stream, " +
        "so the text on stdout is never repeated; 0 to 10, 0 turns both off.",
      default: "2"
    },
    failOn: {
      names: ["--fail-on"],
      value: "REASONS",
      text: "Finish reasons that make the run a failure, comma-separated: length (IncompleteStream, exit 6) and content-filter " +
        "(InvalidRequest, exit 7). Without it such an answer exits 0 and says so in one line on stderr.",
      default: "none"
    },
    json: { names: ["--json"], text: "One JSON object per line on stdout, ending with a summary line (see https://github.com/sluice-dev/sluice/blob/main/docs/contract.md)." },
    stats: { names: ["--stats"], text: "Time to first token, total time, tokens/s, usage, finish reason and attempts on stderr." },
    noStream: { names: ["--no-stream"], text: "Make the non-streaming call instead." }
  }),
  sections: [{
    title: "Commands",
    lines: [
      ["audit", "Check that a gateway really streams and counts usage honestly."],
      ["serve", "Run the fault-injecting emulator, to test your own client against bad streams."],
      ["demo", "See streaming and every policy at work against the emulator, offline."],
      ["help", "Show the help of a command: sluice help audit."]
    ]
  }, ModelOptions.providersSection]
}

/** The idle deadline when `--idle-timeout` is not given: a stream silent this long is dead. */
export const defaultIdle = Duration.minutes(2)

/** The prompt command, given where its prompt comes from. */
export const root = (input: Input) =>
  Command.make("sluice", options, (flags) =>
    Effect.gen(function*() {
      const text = yield* ModelOptions.readPrompt(flags.prompt, input.stdin)
      const primary = yield* ModelOptions.primaryRoute(flags)
      const fallbacks = yield* Effect.forEach(flags.fallback, (spec) => Provider.fallback(spec, primary))
      const [first, ...rest] = yield* Effect.forEach([primary, ...fallbacks], ModelOptions.resolve)
      const resilientModel = resilient(
        { service: first.service, model: primary.model },
        rest.map((r) => ({ service: r.service, model: r.route.model })),
        {
          retries: flags.retries,
          firstToken: Option.getOrUndefined(flags.firstTokenTimeout),
          idle: Option.getOrElse(flags.idleTimeout, () => defaultIdle),
          total: Option.getOrUndefined(flags.timeout)
        }
      )
      // Outermost, so a length or content-filter finish ends the run instead of being retried; the adapters guard the rest.
      const model = flags.failOn.length === 0 ? resilientModel : resilientModel.pipe(Policy.guard({ failOn: flags.failOn, strictEnd: false }))
      const result = yield* runPrompt(processTerminal(), model, ModelOptions.request(flags, primary.model, text), {
        label: Provider.label(primary),
        json: flags.json,
        stats: flags.stats,
        stream: !flags.noStream
      })
      if (result.exitCode !== ExitCode.ok) return yield* new Failed({ exitCode: result.exitCode })
    }))
