/**
 * A strict look at the command line before `@effect/cli` parses it: `@effect/cli` takes an unknown
 * flag before a variadic argument for part of the prompt, a flag given twice for the start of the
 * prompt, and a lone `-` (stdin) for a subcommand. Known flags come from the command's own usage,
 * so the table cannot drift from the definitions. Help and completion are answered here, not by
 * `@effect/cli` (see `Help.ts`); its wizard is not offered.
 * @internal
 */
import * as Command from "@effect/cli/Command"
import type * as Usage from "@effect/cli/Usage"
import * as Either from "effect/Either"
import { UsageError } from "./CliError.js"

/** What the command line knows of a flag. */
export interface FlagInfo {
  readonly takesValue: boolean
  /** Each occurrence adds a value (`--fallback`); any other flag given twice keeps its last value. */
  readonly repeatable: boolean
  /** The same for every name of the flag (its last name, the long one), so `-m a --model b` is one flag given twice. */
  readonly key: string
}

/** `@effect/cli`'s built-in flags that stay (not `--wizard`); help and completion are answered before it parses. */
const builtIns: ReadonlyArray<readonly [string, FlagInfo]> = [
  ["--help", { takesValue: false, repeatable: false, key: "--help" }],
  ["-h", { takesValue: false, repeatable: false, key: "--help" }],
  ["--version", { takesValue: false, repeatable: false, key: "--version" }],
  ["--completions", { takesValue: true, repeatable: false, key: "--completions" }],
  ["--log-level", { takesValue: true, repeatable: false, key: "--log-level" }]
]

const collect = (usage: Usage.Usage, repeatable: boolean, into: Map<string, FlagInfo>): void => {
  switch (usage._tag) {
    case "Named": {
      const names = usage.names.filter((name) => name.startsWith("-"))
      const info = { takesValue: usage.acceptedValues._tag === "Some", repeatable, key: names[names.length - 1] ?? "" }
      for (const name of names) into.set(name, info)
      return
    }
    case "Optional":
      return collect(usage.usage, repeatable, into)
    case "Repeated":
      return collect(usage.usage, true, into)
    case "Alternation":
    case "Concat":
      collect(usage.left, repeatable, into)
      return collect(usage.right, repeatable, into)
    case "Empty":
    case "Mixed":
      return
  }
}

/** The command's flags by name. */
export const flagsOf = <Name extends string, R, E, A>(command: Command.Command<Name, R, E, A>): ReadonlyMap<string, FlagInfo> => {
  const flags = new Map<string, FlagInfo>(builtIns)
  collect(Command.getUsage(command), false, flags)
  return flags
}

/** The shells `--completions` writes for. */
export type Shell = "sh" | "bash" | "zsh" | "fish"

const isShell = (s: string): s is Shell => s === "sh" || s === "bash" || s === "zsh" || s === "fish"

/** The command line, checked. */
export interface Checked {
  /** The arguments to hand on, each flag once. */
  readonly args: ReadonlyArray<string>
  /** A lone `-` asked for the prompt on stdin. */
  readonly stdin: boolean
  /** `-h` or `--help` was given. */
  readonly help: boolean
  /** `--completions SHELL` was given. */
  readonly completions: Shell | undefined
}

/**
 * Rejects unknown flags and flags missing their value; keeps the last value of a flag given twice (as
 * most Unix tools do) so that the second is never read as the prompt; takes a lone `-` out (it means
 * "read stdin").
 */
export const checkArgv = (
  flags: ReadonlyMap<string, FlagInfo>,
  argv: ReadonlyArray<string>,
  commandName: string
): Either.Either<Checked, UsageError> => {
  // Each entry is one flag with its value, or one argument; a flag given again empties its earlier entry.
  const entries: Array<ReadonlyArray<string>> = []
  const seen = new Map<string, number>()
  let rest: ReadonlyArray<string> = []
  let stdin = false
  let help = false
  let completions: Shell | undefined
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]
    if (arg === "--") {
      rest = argv.slice(i)
      break
    }
    if (arg === "-") {
      stdin = true
      continue
    }
    if (arg.startsWith("-") && arg.length > 1 && !/^-\d/.test(arg)) {
      const eq = arg.indexOf("=")
      const name = eq < 0 ? arg : arg.slice(0, eq)
      const info = flags.get(name)
      if (info === undefined) {
        return Either.left(new UsageError({ reason: `unknown option ${name} for ${commandName} (see ${commandName} --help)` }))
      }
      const entry = [arg]
      if (info.takesValue && eq < 0) {
        if (i + 1 >= argv.length) return Either.left(new UsageError({ reason: `${name} needs a value` }))
        entry.push(argv[++i])
      }
      if (info.key === "--help") help = true
      if (info.key === "--completions") {
        const shell = eq < 0 ? entry[1] : arg.slice(eq + 1)
        if (!isShell(shell)) return Either.left(new UsageError({ reason: `--completions takes sh, bash, zsh or fish, got ${JSON.stringify(shell)}` }))
        completions = shell
      }
      if (!info.repeatable) {
        const earlier = seen.get(info.key)
        if (earlier !== undefined) entries[earlier] = []
        seen.set(info.key, entries.length)
      }
      entries.push(entry)
      continue
    }
    entries.push([arg])
  }
  return Either.right({ args: [...entries.flat(), ...rest], stdin, help, completions })
}
