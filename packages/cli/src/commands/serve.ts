/**
 * `sluice serve`: the emulator on a port, its scenario and faults from flags, logging each request,
 * until Ctrl-C — for testing one's own app against bad streams.
 * @internal
 */
import * as Command from "@effect/cli/Command"
import * as HelpDoc from "@effect/cli/HelpDoc"
import * as Options from "@effect/cli/Options"
import * as ValidationError from "@effect/cli/ValidationError"
import { Emulator, Fault, Scenario } from "@sluice/emulator"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import { UsageError } from "../internal/CliError.js"
import * as Help from "../internal/Help.js"
import { printable, processTerminal } from "../internal/Terminal.js"

/** An integer flag checked against its range, so a bad value is a usage error naming the flag. */
const bounded = <A extends number>(options: Options.Options<A>, name: string, min: number, max = Number.MAX_SAFE_INTEGER) =>
  options.pipe(
    Options.mapEffect((n) =>
      n >= min && n <= max
        ? Effect.succeed(n)
        : Effect.fail(ValidationError.invalidValue(HelpDoc.p(
          `--${name} takes ${max === Number.MAX_SAFE_INTEGER ? `a number from ${min}` : `${min} to ${max}`}, got ${n}`
        )))
    )
  )
const int = (name: string, min: number, max?: number) =>
  bounded(Options.integer(name).pipe(Options.withPseudoName("N")), name, min, max).pipe(Options.optional)
const ms = (name: string, min: number) =>
  bounded(Options.integer(name).pipe(Options.withPseudoName("MS")), name, min).pipe(Options.optional)
const flag = (name: string) => Options.boolean(name)

const options = {
  port: bounded(Options.integer("port").pipe(Options.withPseudoName("PORT")), "port", 0, 65535).pipe(Options.withDefault(8787)),
  host: Options.text("host").pipe(Options.withDefault("127.0.0.1")),
  scenario: Options.text("scenario").pipe(Options.withPseudoName("NAME|JSON"), Options.optional),
  text: Options.text("text").pipe(Options.optional),
  firstTokenDelay: ms("first-token-delay", 0),
  gap: ms("gap", 0),
  keepAlive: ms("keep-alive", 1),
  truncateAfter: int("truncate-after", 0),
  truncateMidEvent: int("truncate-mid-event", 0),
  resetAfter: int("reset-after", 0),
  stallAfter: int("stall-after", 0),
  errorAfter: int("error-after", 0),
  status: bounded(Options.integer("status").pipe(Options.withPseudoName("CODE")), "status", 400, 599).pipe(Options.optional),
  retryAfter: Options.float("retry-after").pipe(
    Options.withPseudoName("S"),
    Options.mapEffect((s) =>
      s >= 0 ? Effect.succeed(s) : Effect.fail(ValidationError.invalidValue(HelpDoc.p(`--retry-after takes seconds from 0, got ${s}`)))
    ),
    Options.optional
  ),
  dropDone: flag("drop-done"),
  dropFinish: flag("drop-finish"),
  buffered: flag("buffered"),
  bufferedAfter: int("buffered-after", 0),
  malformedAt: int("malformed-at", 1),
  omitUsage: flag("omit-usage"),
  inflateUsage: Options.float("inflate-usage").pipe(
    Options.withPseudoName("F"),
    Options.mapEffect((f) =>
      f > 0 ? Effect.succeed(f) : Effect.fail(ValidationError.invalidValue(HelpDoc.p(`--inflate-usage takes a factor above 0, got ${f}`)))
    ),
    Options.optional
  ),
  times: int("times", 1),
  quiet: flag("quiet")
}

/** The emulator's help. */
export const help: Help.Doc = {
  command: "sluice serve",
  usage: ["sluice serve [options]"],
  summary: "Run the emulator: a local server speaking the OpenAI, Anthropic and Gemini wire formats, answering with a scenario and " +
    "the faults its flags name, logging each request, until Ctrl-C. A request may choose its own scenario with the x-sluice-scenario header.",
  flags: Help.flags(options, {
    port: { names: ["--port"], value: "PORT", text: "The port, 0 to 65535 (0: any free one).", default: "8787" },
    host: { names: ["--host"], value: "HOST", text: "The interface to listen on.", default: "127.0.0.1" },
    scenario: {
      names: ["--scenario"],
      value: "NAME|JSON",
      text: `A named scenario (${Object.keys(Scenario.named).join(", ")}) or a JSON scenario; the other flags are laid over it.`,
      default: "hello"
    },
    text: { names: ["--text"], value: "TEXT", text: "The answer text.", default: "the scenario's" },
    firstTokenDelay: { names: ["--first-token-delay"], value: "MS", text: "Milliseconds before the first token.", default: "0" },
    gap: { names: ["--gap"], value: "MS", text: "Milliseconds between tokens.", default: "0" },
    keepAlive: { names: ["--keep-alive"], value: "MS", text: "Send a keep-alive comment every MS milliseconds while waiting.", default: "none" },
    truncateAfter: { names: ["--truncate-after"], value: "N", text: "End the body cleanly after N content events (no finish, no end marker)." },
    truncateMidEvent: { names: ["--truncate-mid-event"], value: "N", text: "Cut the body inside the event after N content events." },
    resetAfter: { names: ["--reset-after"], value: "N", text: "Destroy the connection after N content events." },
    stallAfter: { names: ["--stall-after"], value: "N", text: "Go silent after N content events, keeping the connection open." },
    errorAfter: { names: ["--error-after"], value: "N", text: "Send an in-band error event after N content events." },
    status: { names: ["--status"], value: "CODE", text: "Answer with this HTTP status, 400 to 599, and the provider's error body." },
    retryAfter: { names: ["--retry-after"], value: "S", text: "Retry-After seconds on the --status answer (implies --status 429)." },
    dropDone: { names: ["--drop-done"], text: "Leave out the end marker ([DONE], message_stop)." },
    dropFinish: { names: ["--drop-finish"], text: "Leave out the finish reason." },
    buffered: { names: ["--buffered"], text: "Replay the whole answer at once after its paced duration (a buffering gateway)." },
    bufferedAfter: {
      names: ["--buffered-after"],
      value: "N",
      text: "Send the first N content events paced, then hold the rest for its paced duration and replay it at once."
    },
    malformedAt: { names: ["--malformed-at"], value: "N", text: "Break the JSON of content event N (from 1)." },
    omitUsage: { names: ["--omit-usage"], text: "Never send usage." },
    inflateUsage: { names: ["--inflate-usage"], value: "F", text: "Multiply streamed usage by F (non-streamed answers are untouched)." },
    times: { names: ["--times"], value: "N", text: "Inject the faults into the first N requests only (from 1).", default: "every request" },
    quiet: { names: ["--quiet"], text: "Do not log requests." }
  })
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
  if (flags.buffered || Option.isSome(flags.bufferedAfter)) {
    faults.push(Fault.bufferedReplay({ ...Option.match(flags.bufferedAfter, { onNone: () => ({}), onSome: (afterEvents) => ({ afterEvents }) }), ...times }))
  }
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

/** Why the server could not listen (the platform's `ServeError` carries Node's error, e.g. EADDRINUSE, as its cause). */
const reasonOf = (cause: unknown): string =>
  cause instanceof Error ? cause.message : typeof cause === "string" && cause !== "" ? cause : "the server did not start"

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
            : `cannot listen on ${flags.host}:${flags.port}: ${reasonOf(error.cause)}`
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
            terminal.out(`${s.dim(clock())} ${printable(done.method)} ${printable(done.path)} → ${done.status ?? "–"} · ${what} · ${done.ending}${faults}${continuation}${took}\n`)
          })
        )
      }
      seen = records.length
    }
  }).pipe(Effect.scoped))
