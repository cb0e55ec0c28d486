/**
 * A strict look at the command line before `@effect/cli` parses it: `@effect/cli` takes an unknown
 * flag before a variadic argument for part of the prompt, and a lone `-` (stdin) for a subcommand.
 * Known flags come from the command's own usage, so the table cannot drift from the definitions.
 * @internal
 */
import * as Command from "@effect/cli/Command"
import type * as Usage from "@effect/cli/Usage"
import * as Either from "effect/Either"
import { UsageError } from "./CliError.js"

/** `@effect/cli`'s built-in flags: whether each takes a value. */
const builtIns: ReadonlyArray<readonly [string, boolean]> = [
  ["--help", false],
  ["-h", false],
  ["--version", false],
  ["--wizard", false],
  ["--completions", true],
  ["--log-level", true]
]

const collect = (usage: Usage.Usage, into: Map<string, boolean>): void => {
  switch (usage._tag) {
    case "Named":
      for (const name of usage.names) if (name.startsWith("-")) into.set(name, usage.acceptedValues._tag === "Some")
      return
    case "Optional":
    case "Repeated":
      return collect(usage.usage, into)
    case "Alternation":
    case "Concat":
      collect(usage.left, into)
      return collect(usage.right, into)
    case "Empty":
    case "Mixed":
      return
  }
}

/** The command's flags, each with whether it takes a value. */
export const flagsOf = <Name extends string, R, E, A>(command: Command.Command<Name, R, E, A>): ReadonlyMap<string, boolean> => {
  const flags = new Map<string, boolean>(builtIns)
  collect(Command.getUsage(command), flags)
  return flags
}

/** The command line, checked: the arguments to hand on, and whether a lone `-` asked for stdin. */
export interface Checked {
  readonly args: ReadonlyArray<string>
  readonly stdin: boolean
}

/** Rejects unknown flags and flags missing their value; takes a lone `-` out (it means "read stdin"). */
export const checkArgv = (
  flags: ReadonlyMap<string, boolean>,
  argv: ReadonlyArray<string>,
  commandName: string
): Either.Either<Checked, UsageError> => {
  const args: Array<string> = []
  let stdin = false
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]
    if (arg === "--") {
      args.push(...argv.slice(i))
      break
    }
    if (arg === "-") {
      stdin = true
      continue
    }
    if (arg.startsWith("-") && arg.length > 1 && !/^-\d/.test(arg)) {
      const eq = arg.indexOf("=")
      const name = eq < 0 ? arg : arg.slice(0, eq)
      const takesValue = flags.get(name)
      if (takesValue === undefined) {
        return Either.left(new UsageError({ reason: `unknown option ${name} for ${commandName} (see ${commandName} --help)` }))
      }
      args.push(arg)
      if (takesValue && eq < 0) {
        if (i + 1 >= argv.length) return Either.left(new UsageError({ reason: `${name} needs a value` }))
        args.push(argv[++i])
      }
      continue
    }
    args.push(arg)
  }
  return Either.right({ args, stdin })
}
