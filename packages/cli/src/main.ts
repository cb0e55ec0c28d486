/**
 * The `sluice` command: routes to a subcommand by its first word (so a prompt that merely contains
 * "audit" is still a prompt), checks the command line strictly, answers help and completion itself,
 * runs the command with Node's platform services, and turns the outcome into its exit code (docs/contract.md)
 * (130 after Ctrl-C and 143 after SIGTERM, either of which interrupts the request and so aborts it;
 * 1 when stdout cannot be written, 0 when its reader went away).
 *
 * @since 0.1.0
 */
import * as Command from "@effect/cli/Command"
import * as ValidationError from "@effect/cli/ValidationError"
import type * as FileSystem from "@effect/platform/FileSystem"
import type * as HttpClient from "@effect/platform/HttpClient"
import type * as Path from "@effect/platform/Path"
import type * as Terminal from "@effect/platform/Terminal"
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as NodePath from "@effect/platform-node/NodePath"
import * as NodeTerminal from "@effect/platform-node/NodeTerminal"
import * as Cause from "effect/Cause"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as Option from "effect/Option"
import * as Audit from "./commands/audit.js"
import * as Demo from "./commands/demo.js"
import * as Root from "./commands/root.js"
import * as Serve from "./commands/serve.js"
import { checkArgv, type FlagInfo, flagsOf } from "./internal/checkArgv.js"
import { Failed, UsageError } from "./internal/CliError.js"
import * as ExitCode from "./internal/ExitCode.js"
import * as Help from "./internal/Help.js"
import { type Signal, StopSignal } from "./internal/StopSignal.js"
import { noColor, printable, style } from "./internal/Terminal.js"
import { version } from "./internal/version.js"

type Env = HttpClient.HttpClient | FileSystem.FileSystem | Path.Path | Terminal.Terminal | StopSignal

type Sub = "audit" | "serve" | "demo"

const isSub = (word: string | undefined): word is Sub => word === "audit" || word === "serve" || word === "demo"

const argv = process.argv.slice(2)
// `sluice help` and `sluice help audit` show help; `sluice help me with this` is a prompt.
const helpFor = argv[0] === "help" && (argv.length === 1 || (argv.length === 2 && (isSub(argv[1]) || argv[1] === "sluice")))
  ? (isSub(argv[1]) ? argv[1] : "sluice")
  : undefined
const sub = isSub(argv[0]) ? argv[0] : undefined
const name = sub === undefined ? "sluice" : `sluice ${sub}`
const rest = sub === undefined ? argv : argv.slice(1)

/** What main needs of a command: its flags (to check the command line), its help, and a way to run it. */
interface Entry {
  readonly flags: ReadonlyMap<string, FlagInfo>
  readonly help: Help.Doc
  readonly run: (args: ReadonlyArray<string>) => Effect.Effect<void, unknown, Env>
}

const entry = <N extends string, E, A>(command: Command.Command<N, Env, E, A>, help: Help.Doc): Entry => ({
  flags: flagsOf(command),
  help,
  run: (args) => Command.run(command, { name: "sluice", version })(["node", "sluice", ...args])
})

/** The command the first word names; `stdin` says whether a lone `-` asked for the prompt on stdin. */
const commandFor = (which: Sub | undefined, stdin: boolean): Entry => {
  switch (which) {
    case "audit":
      return entry(Audit.audit({ stdin }), Audit.help)
    case "serve":
      return entry(Serve.serve, Serve.help)
    case "demo":
      return entry(Demo.demo, Demo.help)
    case undefined:
      return entry(Root.root({ stdin }), Root.help)
  }
}

const everyCommand: ReadonlyArray<Sub | undefined> = [undefined, "audit", "serve", "demo"]

const colorOut = process.stdout.isTTY === true && !noColor()
const colorErr = process.stderr.isTTY === true && !noColor()
const red = style(colorErr).red
const ansi = /\x1b\[[0-9;]*m/g
const plain = (args: ReadonlyArray<unknown>, color: boolean): ReadonlyArray<unknown> =>
  color ? args : args.map((arg) => (typeof arg === "string" ? arg.replace(ansi, "") : arg))

/** `@effect/cli` colours its help and errors unconditionally: strip that off a non-TTY and under `NO_COLOR`. */
const withPlainConsole = <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Console.consoleWith((base) =>
    Effect.withConsole(self, {
      ...base,
      log: (...args: ReadonlyArray<unknown>) => base.log(...plain(args, colorOut)),
      error: (...args: ReadonlyArray<unknown>) => base.error(...plain(args, colorErr))
    })
  )

/** Logs (a policy's warning) go to stderr: stdout carries only the answer or the `--json` lines. */
const stderrLogger = Logger.replace(Logger.defaultLogger, Logger.withConsoleError(Logger.map(Logger.stringLogger, printable)))

/** The signal that stopped the CLI, for what it prints on the way out. */
let signal: Signal | undefined

const platform = Layer.mergeAll(
  NodeFileSystem.layer,
  NodePath.layer,
  NodeTerminal.layer,
  NodeHttpClient.layerUndici,
  stderrLogger,
  Layer.succeed(StopSignal, { received: () => signal })
)

const usageError = (message: string): number => {
  process.stderr.write(`${red("sluice")}: ${printable(message)}\n`)
  return ExitCode.usage
}

const unexpected = (message: string): number => {
  process.stderr.write(`${red("sluice")}: unexpected failure: ${printable(message)}\n`)
  return ExitCode.unexpected
}

/** Prints the help of a command; a flag the help does not describe (or one it describes that does not exist) is said on stderr. */
const showHelp = (command: Entry): number => {
  const described = Help.namesOf(command.help)
  const missing = [...command.flags.keys()].filter((flag) => !described.has(flag))
  const extra = [...described.keys()].filter((flag) => !command.flags.has(flag))
  if (missing.length + extra.length > 0) {
    process.stderr.write(`${red("sluice")}: the help is out of date: ${[...missing, ...extra].join(", ")}\n`)
  }
  process.stdout.write(`${Help.render(command.help, version, style(colorOut))}\n`)
  return ExitCode.ok
}

/** Runs the command and gives its exit code; never fails. */
const main = (stdin: boolean, args: ReadonlyArray<string>): Effect.Effect<number> =>
  commandFor(sub, stdin).run(args).pipe(
    Effect.as(ExitCode.ok),
    Effect.catchAll((error: unknown) => {
      // @effect/cli printed its own message for a bad command line.
      if (ValidationError.isValidationError(error)) return Effect.succeed(ExitCode.usage)
      if (error instanceof Failed) return Effect.succeed(error.exitCode)
      if (error instanceof UsageError) return Effect.succeed(usageError(error.message))
      return Effect.succeed(unexpected(error instanceof Error ? error.message : String(error)))
    }),
    withPlainConsole,
    Effect.provide(platform)
  )

const exit = (code: number): void => {
  process.exitCode = code
  // Let stdout drain (a pipe may still hold the answer's last bytes), then leave even if a socket lingers.
  process.stdout.write("", () => process.exit(code))
}

const exitCodeOf = (received: Signal | undefined): number => (received === "SIGTERM" ? ExitCode.terminated : ExitCode.interrupted)

const start = (): void => {
  process.stdout.on("error", (error: NodeJS.ErrnoException) => {
    // The reader went away (`sluice … | head`): it has what it wanted, so stop quietly and with 0.
    if (error.code === "EPIPE") return process.exit(ExitCode.ok)
    // Anything else (a full disk) lost the answer: say so once, and fail.
    process.stderr.write(`${red("sluice")}: cannot write to stdout: ${error.message}\n`)
    process.exit(ExitCode.unexpected)
  })
  if (helpFor !== undefined) return exit(showHelp(commandFor(helpFor === "sluice" ? undefined : helpFor, false)))
  const command = commandFor(sub, false)
  const checked = checkArgv(command.flags, rest, name)
  if (Either.isLeft(checked)) return exit(usageError(checked.left.message))
  if (checked.right.help) return exit(showHelp(command))
  const shell = checked.right.completions
  if (shell !== undefined) {
    process.stdout.write(Help.completions(shell, everyCommand.map((which) => commandFor(which, false).help)))
    return exit(ExitCode.ok)
  }
  const fiber = Effect.runFork(main(checked.right.stdin, checked.right.args))
  // The first signal interrupts (aborting any request); a second one leaves at once.
  const onSignal = (received: Signal) => () => {
    if (signal !== undefined) process.exit(exitCodeOf(signal))
    signal = received
    fiber.unsafeInterruptAsFork(fiber.id())
  }
  process.on("SIGINT", onSignal("SIGINT"))
  process.on("SIGTERM", onSignal("SIGTERM"))
  fiber.addObserver((outcome) => {
    if (Exit.isSuccess(outcome)) return exit(outcome.value)
    // Ctrl-C: 130 (SIGTERM: 143), except for `serve`, whose normal end it is.
    if (Cause.isInterruptedOnly(outcome.cause)) return exit(sub === "serve" ? ExitCode.ok : exitCodeOf(signal))
    const defect = Option.getOrElse(Cause.dieOption(outcome.cause), () => Cause.pretty(outcome.cause))
    return exit(unexpected(defect instanceof Error ? defect.message : String(defect)))
  })
}

start()
