/**
 * The `sluice` command: routes to a subcommand by its first word (so a prompt that merely contains
 * "audit" is still a prompt), checks the command line strictly, runs the command with Node's
 * platform services, and turns the outcome into DESIGN §7's exit code (130 after Ctrl-C, which
 * interrupts the request and so aborts it).
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
import { audit } from "./commands/audit.js"
import { demo } from "./commands/demo.js"
import { root } from "./commands/root.js"
import { serve } from "./commands/serve.js"
import { checkArgv, flagsOf } from "./internal/checkArgv.js"
import { Failed, UsageError } from "./internal/CliError.js"
import * as ExitCode from "./internal/ExitCode.js"
import { noColor, style } from "./internal/Terminal.js"
import { version } from "./internal/version.js"

type Env = HttpClient.HttpClient | FileSystem.FileSystem | Path.Path | Terminal.Terminal

const argv = process.argv.slice(2)
const sub = argv[0] === "audit" || argv[0] === "serve" || argv[0] === "demo" ? argv[0] : undefined
const name = sub === undefined ? "sluice" : `sluice ${sub}`
const rest = sub === undefined ? argv : argv.slice(1)

/** What main needs of a command: its flags (to check the command line) and a way to run it. */
interface Entry {
  readonly flags: ReadonlyMap<string, boolean>
  readonly run: (args: ReadonlyArray<string>) => Effect.Effect<void, unknown, Env>
}

const entry = <N extends string, E, A>(command: Command.Command<N, Env, E, A>): Entry => ({
  flags: flagsOf(command),
  run: (args) => Command.run(command, { name: "sluice", version })(["node", "sluice", ...args])
})

/** The command the first word names; `stdin` says whether a lone `-` asked for the prompt on stdin. */
const commandFor = (stdin: boolean): Entry => {
  switch (sub) {
    case "audit":
      return entry(audit({ stdin }))
    case "serve":
      return entry(serve)
    case "demo":
      return entry(demo)
    case undefined:
      return entry(root({ stdin }))
  }
}

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
const stderrLogger = Logger.replace(Logger.defaultLogger, Logger.withConsoleError(Logger.stringLogger))

const platform = Layer.mergeAll(NodeFileSystem.layer, NodePath.layer, NodeTerminal.layer, NodeHttpClient.layerUndici, stderrLogger)

const usageError = (message: string): number => {
  process.stderr.write(`${red("sluice")}: ${message}\n`)
  return ExitCode.usage
}

/** Runs the command and gives its exit code; never fails. */
const main = (stdin: boolean, args: ReadonlyArray<string>): Effect.Effect<number> =>
  commandFor(stdin).run(args).pipe(
    Effect.as(ExitCode.ok),
    Effect.catchAll((error: unknown) => {
      // @effect/cli printed its own message for a bad command line.
      if (ValidationError.isValidationError(error)) return Effect.succeed(ExitCode.usage)
      if (error instanceof Failed) return Effect.succeed(error.exitCode)
      if (error instanceof UsageError) return Effect.succeed(usageError(error.message))
      process.stderr.write(`${red("sluice")}: unexpected failure: ${error instanceof Error ? error.message : String(error)}\n`)
      return Effect.succeed(ExitCode.unexpected)
    }),
    withPlainConsole,
    Effect.provide(platform)
  )

const exit = (code: number): void => {
  process.exitCode = code
  // Let stdout drain (a pipe may still hold the answer's last bytes), then leave even if a socket lingers.
  process.stdout.write("", () => process.exit(code))
}

const start = (): void => {
  const checked = checkArgv(commandFor(false).flags, rest, name)
  if (Either.isLeft(checked)) return exit(usageError(checked.left.message))
  const fiber = Effect.runFork(main(checked.right.stdin, checked.right.args))
  // The first signal interrupts (aborting any request); a second one leaves at once.
  let signal: number | undefined
  const onSignal = (code: number) => () => {
    if (signal !== undefined) process.exit(signal)
    signal = code
    fiber.unsafeInterruptAsFork(fiber.id())
  }
  process.on("SIGINT", onSignal(ExitCode.interrupted))
  process.on("SIGTERM", onSignal(ExitCode.terminated))
  process.stdout.on("error", (error: NodeJS.ErrnoException) => {
    // The reader went away (`sluice … | head`): stop quietly.
    if (error.code === "EPIPE") process.exit(ExitCode.ok)
  })
  fiber.addObserver((outcome) => {
    if (Exit.isSuccess(outcome)) return exit(outcome.value)
    // Ctrl-C: 130 (SIGTERM: 143), except for `serve`, whose normal end it is.
    if (Cause.isInterruptedOnly(outcome.cause)) return exit(sub === "serve" ? ExitCode.ok : signal ?? ExitCode.interrupted)
    const defect = Option.getOrElse(Cause.dieOption(outcome.cause), () => Cause.pretty(outcome.cause))
    process.stderr.write(`${red("sluice")}: unexpected failure: ${defect instanceof Error ? defect.message : String(defect)}\n`)
    return exit(ExitCode.unexpected)
  })
}

start()
