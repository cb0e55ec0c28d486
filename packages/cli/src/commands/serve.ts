/**
 * `sluice serve`: the emulator on a port, its scenario and faults from flags, logging each request,
 * until Ctrl-C — for testing one's own app against bad streams.
 * @internal
 */
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import { Emulator, Fault, Scenario } from "@sluice/emulator"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import { UsageError } from "../internal/CliError.js"
import { processTerminal } from "../internal/Terminal.js"

const int = (name: string, description: string) =>
  Options.integer(name).pipe(Options.withDescription(description), Options.withPseudoName("N"), Options.optional)
const flag = (name: string, description: string) => Options.boolean(name).pipe(Options.withDescription(description))

const options = {
  port: Options.integer("port").pipe(
    Options.withDescription("The port (0: any free one)"),
    Options.withDefault(8787)
  ),
  host: Options.text("host").pipe(Options.withDescription("The interface"), Options.withDefault("127.0.0.1")),
  scenario: Options.text("scenario").pipe(
    Options.withDescription(`A named scenario (${Object.keys(Scenario.named).join(", ")}) or a JSON scenario`),
    Options.withPseudoName("NAME|JSON"),
    Options.optional
  ),
  text: Options.text("text").pipe(Options.withDescription("The answer text"), Options.optional),
  firstTokenDelay: int("first-token-delay", "Milliseconds before the first token"),
  gap: int("gap", "Milliseconds between tokens"),
  keepAlive: int("keep-alive", "Send a keep-alive comment every N milliseconds while waiting"),
  truncateAfter: int("truncate-after", "End the body cleanly after N content events (no finish, no [DONE])"),
  truncateMidEvent: int("truncate-mid-event", "Cut the body inside the event after N content events"),
  resetAfter: int("reset-after", "Destroy the connection after N content events"),
  stallAfter: int("stall-after", "Go silent after N content events, keeping the connection open"),
  errorAfter: int("error-after", "Send an in-band error event after N content events"),
  status: int("status", "Answer with this HTTP status and the provider's error body"),
  retryAfter: Options.float("retry-after").pipe(
    Options.withDescription("Retry-After seconds on the --status answer (implies --status 429)"),
    Options.withPseudoName("S"),
    Options.optional
  ),
  dropDone: flag("drop-done", "Leave out the end marker ([DONE], message_stop)"),
  dropFinish: flag("drop-finish", "Leave out the finish reason"),
  buffered: flag("buffered", "Replay the whole answer at once after its paced duration (a buffering gateway)"),
  malformedAt: int("malformed-at", "Break the JSON of content event N"),
  omitUsage: flag("omit-usage", "Never send usage"),
  inflateUsage: Options.float("inflate-usage").pipe(
    Options.withDescription("Multiply streamed usage by F (non-streamed answers are untouched)"),
    Options.withPseudoName("F"),
    Options.optional
  ),
  times: int("times", "Inject the faults into the first N requests only"),
  quiet: flag("quiet", "Do not log requests")
}

type Flags = Command.Command.ParseConfig<typeof options>

const faultsOf = (flags: Flags): Array<Fault.Fault> => {
  const times = Option.match(flags.times, { onNone: () => ({}), onSome: (times) => ({ times }) })
  const faults: Array<Fault.Fault> = []
  const add = <A>(value: Option.Option<A>, make: (a: A) => Fault.Fault) => {
    if (Option.isSome(value)) faults.push(make(value.value))
  }
  if (Option.isSome(flags.status) || Option.isSome(flags.retryAfter)) {
    faults.push(Fault.status({
      status: Option.getOrElse(flags.status, () => 429),
      ...Option.match(flags.retryAfter, { onNone: () => ({}), onSome: (retryAfter) => ({ retryAfter }) }),
      ...times
    }))
  }
  add(flags.truncateAfter, (n) => Fault.truncate(n, times))
  add(flags.truncateMidEvent, (n) => Fault.truncateMidEvent(n, times))
  add(flags.resetAfter, (n) => Fault.reset(n, times))
  add(flags.stallAfter, (n) => Fault.stall(n, times))
  add(flags.errorAfter, (n) => Fault.errorEvent(n, times))
  add(flags.malformedAt, (n) => Fault.malformedJson(n, times))
  add(flags.inflateUsage, (factor) => Fault.inflateUsage(factor, times))
  if (flags.dropDone) faults.push(Fault.dropDone(times))
  if (flags.dropFinish) faults.push(Fault.dropFinish(times))
  if (flags.buffered) faults.push(Fault.bufferedReplay(times))
  if (flags.omitUsage) faults.push(Fault.omitUsage(times))
  return faults
}

/** The scenario the flags describe: `--scenario` (default `hello`) with the other flags laid over it. */
export const scenarioOf = (flags: Flags): Either.Either<Scenario.Scenario, UsageError> =>
  Scenario.parse(Option.getOrElse(flags.scenario, () => "hello")).pipe(
    Either.mapLeft((error) => new UsageError({ reason: `--scenario: ${error.message}` })),
    Either.map((base): Scenario.Scenario => {
      const faults = [...(base.faults ?? []), ...faultsOf(flags)]
      const set = <K extends keyof Scenario.Scenario>(key: K, value: Option.Option<NonNullable<Scenario.Scenario[K]>>) =>
        Option.match(value, { onNone: () => ({}), onSome: (v) => ({ [key]: v }) })
      return {
        ...base,
        ...set("text", flags.text),
        ...set("firstTokenDelayMs", flags.firstTokenDelay),
        ...set("gapMs", flags.gap),
        ...set("keepAlive", flags.keepAlive),
        ...(faults.length === 0 ? {} : { faults })
      }
    })
  )

const clock = (): string => new Date().toISOString().slice(11, 23)

/** Where the emulator listens. */
export const serve = Command.make("sluice serve", options, (flags) =>
  Effect.gen(function*() {
    const terminal = processTerminal()
    const s = terminal.outStyle
    const scenario = yield* scenarioOf(flags)
    const emulator = yield* Emulator.make({ port: flags.port, host: flags.host, scenario }).pipe(
      Effect.mapError((error) =>
        new UsageError({
          reason: error._tag === "ScenarioError"
            ? `--scenario: ${error.message}`
            : `cannot listen on ${flags.host}:${flags.port}: ${error.message}`
        })
      )
    )
    terminal.out(
      [
        `${s.bold("sluice serve")} · emulator listening on ${emulator.url}`,
        `  openai     ${emulator.openAiBaseUrl}`,
        `  anthropic  ${emulator.anthropicBaseUrl}`,
        `  gemini     ${emulator.geminiBaseUrl}`,
        `  scenario   ${JSON.stringify(scenario)} ${s.dim("(a request may choose its own with the x-sluice-scenario header)")}`,
        `try: OPENAI_API_KEY=test sluice --base-url ${emulator.openAiBaseUrl} "Hello"`,
        s.dim("Ctrl-C stops it"),
        ""
      ].join("\n")
    )
    if (flags.quiet) return yield* Effect.never
    let seen = 0
    while (true) {
      const records = yield* emulator.awaitRequests(seen + 1)
      for (const record of records.slice(seen)) {
        yield* Effect.fork(
          Effect.map(emulator.awaitEnded(record.id), (done) => {
            const took = done.endedAt === null ? "" : ` · ${Math.round(done.endedAt - done.startedAt)} ms`
            const faults = done.faults.length === 0 ? "" : ` · faults ${done.faults.join(", ")}`
            const what = done.stream ? `${done.events} events` : "json"
            const continuation = done.continuation === null ? "" : ` · continuation (${done.continuation.mode} at ${done.continuation.prefixLength})`
            terminal.out(`${s.dim(clock())} ${done.method} ${done.path} → ${done.status ?? "–"} · ${what} · ${done.ending}${faults}${continuation}${took}\n`)
          })
        )
      }
      seen = records.length
    }
  }).pipe(Effect.scoped)).pipe(
    Command.withDescription(
      "Run the emulator: a local server speaking the OpenAI, Anthropic and Gemini wire formats, with faults from flags. Runs until Ctrl-C."
    )
  )
