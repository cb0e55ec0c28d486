/**
 * `sluice audit`: the quick check before trusting a gateway — N streamed runs and one non-streamed
 * run of the same prompt, judged for buffered replay, finish reasons, and honest usage.
 * @internal
 */
import * as Command from "@effect/cli/Command"
import * as HelpDoc from "@effect/cli/HelpDoc"
import * as Options from "@effect/cli/Options"
import * as ValidationError from "@effect/cli/ValidationError"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Audit from "../internal/Audit.js"
import { Failed } from "../internal/CliError.js"
import * as Help from "../internal/Help.js"
import { jsonSafe } from "../internal/JsonLines.js"
import * as ModelOptions from "../internal/modelOptions.js"
import * as Provider from "../internal/Provider.js"
import { resilient } from "../internal/resilient.js"
import { processTerminal } from "../internal/Terminal.js"
import { defaultIdle } from "./root.js"

/** The prompt when none is given: long enough (a few hundred words) to tell streaming from replay. */
export const defaultPrompt = "Write three paragraphs, about two hundred words in all, on how rivers shape the land they cross."

const options = {
  ...ModelOptions.modelOptions,
  runs: Options.integer("runs").pipe(
    Options.withPseudoName("N"),
    Options.withDefault(3),
    Options.mapEffect((n) =>
      n >= 1 && n <= 20 ? Effect.succeed(n) : Effect.fail(ValidationError.invalidValue(HelpDoc.p(`--runs takes 1 to 20, got ${n}`)))
    )
  ),
  json: Options.boolean("json"),
  prompt: ModelOptions.prompt
}

/** The audit's help. */
export const help: Help.Doc = {
  command: "sluice audit",
  usage: ["sluice audit [options] [PROMPT...]"],
  args: ["PROMPT...", `${ModelOptions.promptHelp} Default: a built-in prompt asking for about two hundred words.`],
  summary: "Audit a provider or gateway: time to first token against total time over N streamed runs, a buffered-replay verdict " +
    "(how the text spread over each answer's time), finish reasons and usage, and streamed usage against a non-streamed run of " +
    "the same prompt. Exits with the code of the first failed check.",
  flags: Help.flags(options, {
    ...ModelOptions.modelFlags,
    runs: { names: ["--runs"], value: "N", text: "Streamed runs, 1 to 20; one non-streamed run follows.", default: "3" },
    json: { names: ["--json"], text: "Print one JSON object with the findings (see https://github.com/sluice-dev/sluice/blob/main/docs/contract.md)." }
  }),
  sections: [ModelOptions.providersSection]
}

/** The audit command, given whether a lone `-` asked for the prompt on stdin. */
export const audit = (input: { readonly stdin: boolean }) =>
  Command.make("sluice audit", options, (flags) =>
    Effect.gen(function*() {
      const terminal = processTerminal()
      const text = flags.prompt.length === 0 && !input.stdin
        ? defaultPrompt
        : yield* ModelOptions.readPrompt(flags.prompt, input.stdin)
      const route = yield* ModelOptions.primaryRoute(flags)
      const { service } = yield* ModelOptions.resolve(route)
      // No retries, no continuation: the audit measures the provider as it is; only the deadlines apply.
      const model = resilient({ service, model: route.model }, [], {
        retries: 0,
        firstToken: Option.getOrUndefined(flags.firstTokenTimeout),
        idle: Option.getOrElse(flags.idleTimeout, () => defaultIdle),
        total: Option.getOrUndefined(flags.timeout)
      })
      if (!flags.json) {
        terminal.out(
          `${terminal.outStyle.bold("sluice audit")} · ${Provider.label(route)} at ${route.baseUrl} · ${flags.runs} streamed run(s) and 1 non-streamed\n`
        )
      }
      const report = yield* Audit.audit(model, ModelOptions.request(flags, route.model, text), flags.runs, (index, run) => {
        if (!flags.json) terminal.out(`${Audit.runText(terminal.outStyle, index, run)}\n`)
      })
      if (flags.json) {
        const { exitCode: _, ...json } = report
        terminal.out(`${jsonSafe(JSON.stringify({ ...json, baseUrl: route.baseUrl, runs: flags.runs }))}\n`)
      } else {
        terminal.out(`${Audit.reportText(terminal.outStyle, report)}\n`)
      }
      if (!report.ok) return yield* new Failed({ exitCode: report.exitCode })
    }))
