/**
 * `sluice [prompt]`: one prompt to one provider (with fallbacks), the answer on stdout as it streams.
 * @internal
 */
import * as Command from "@effect/cli/Command"
import * as HelpDoc from "@effect/cli/HelpDoc"
import * as Options from "@effect/cli/Options"
import * as ValidationError from "@effect/cli/ValidationError"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { Failed } from "../internal/CliError.js"
import * as ExitCode from "../internal/ExitCode.js"
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
  Options.withDescription("Retries per route, and continuations of an answer cut mid-stream (0 turns both off)"),
  Options.withPseudoName("N"),
  Options.withDefault(2),
  Options.mapEffect((n) =>
    n >= 0 && n <= 10
      ? Effect.succeed(n)
      : Effect.fail(ValidationError.invalidValue(HelpDoc.p(`--retries takes 0 to 10, got ${n}`)))
  )
)

const options = {
  ...ModelOptions.modelOptions,
  fallback: Options.text("fallback").pipe(
    Options.withDescription("Another model to fail over to, as PROVIDER:MODEL (repeatable, tried in order)"),
    Options.withPseudoName("PROVIDER:MODEL"),
    Options.repeated
  ),
  retries,
  json: Options.boolean("json").pipe(Options.withDescription("One JSON object per line on stdout, ending with a summary line")),
  stats: Options.boolean("stats").pipe(
    Options.withDescription("Time to first token, tokens/s, usage and finish reason on stderr")
  ),
  noStream: Options.boolean("no-stream").pipe(Options.withDescription("Make the non-streaming call instead")),
  prompt: ModelOptions.prompt
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
      const model = resilient(
        { service: first.service, model: primary.model },
        rest.map((r) => ({ service: r.service, model: r.route.model })),
        {
          retries: flags.retries,
          firstToken: Option.getOrUndefined(flags.firstTokenTimeout),
          idle: Option.getOrElse(flags.idleTimeout, () => defaultIdle),
          total: Option.getOrUndefined(flags.timeout)
        }
      )
      const result = yield* runPrompt(processTerminal(), model, ModelOptions.request(flags, primary.model, text), {
        label: Provider.label(primary),
        json: flags.json,
        stats: flags.stats,
        stream: !flags.noStream
      })
      if (result.exitCode !== ExitCode.ok) return yield* new Failed({ exitCode: result.exitCode })
    })).pipe(
      Command.withDescription(
        "Stream a completion to stdout with honest, typed failure. Other commands: " +
          "`sluice audit` (check a gateway streams and counts usage honestly), " +
          "`sluice serve` (run the fault-injecting emulator), `sluice demo` (see every policy at work, offline)."
      )
    )
