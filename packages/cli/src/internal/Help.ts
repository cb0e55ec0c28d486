/**
 * The help of each command and the shell completion scripts, from one description per flag (its
 * names, value, text and default). `@effect/cli` parses; its own help is not shown, since it prefixes
 * every option with a type placeholder, shows no defaults and lists its wizard.
 * @internal
 */
import type { Style } from "./Terminal.js"

/** One flag as the help describes it. */
export interface Flag {
  /** Short alias first, then the long name: `["-m", "--model"]`. */
  readonly names: ReadonlyArray<string>
  /** The value's placeholder (`N`, `URL`); none for a boolean flag. */
  readonly value?: string | undefined
  /** The values it takes, for the help and for completion. */
  readonly choices?: ReadonlyArray<string> | undefined
  readonly text: string
  /** What applies when the flag is not given; none for a boolean flag (off) or when nothing applies. */
  readonly default?: string | undefined
  /** May be given more than once (each adds one); any other flag given twice keeps its last value. */
  readonly repeatable?: boolean | undefined
}

/** The help of one command. */
export interface Doc {
  /** `sluice`, `sluice audit`, … */
  readonly command: string
  /** The usage lines (without the leading `$`). */
  readonly usage: ReadonlyArray<string>
  /** The argument and what it is. */
  readonly args?: readonly [string, string] | undefined
  readonly summary: string
  readonly flags: ReadonlyArray<Flag>
  /** Further lines (other commands, notes). */
  readonly sections?: ReadonlyArray<Section> | undefined
}

/** A titled list of names, each with a line of text. */
export interface Section {
  readonly title: string
  readonly lines: ReadonlyArray<readonly [string, string]>
}

/** The descriptions of a command's options, one per key but the prompt (the compiler checks none is left out), in their order. */
export const flags = <O extends object>(_options: O, docs: { readonly [P in Exclude<keyof O, "prompt">]: Flag }): ReadonlyArray<Flag> =>
  Object.values<Flag>(docs)

/** `@effect/cli`'s flags that every command takes (the wizard is left out: the command line rejects it). */
export const builtIns: ReadonlyArray<Flag> = [
  { names: ["-h", "--help"], text: "Show this help (also: sluice help [COMMAND])." },
  { names: ["--version"], text: "Show the version." },
  { names: ["--completions"], value: "SHELL", choices: ["sh", "bash", "zsh", "fish"], text: "Print a completion script for the shell, e.g. source <(sluice --completions bash)." },
  {
    names: ["--log-level"],
    value: "LEVEL",
    choices: ["all", "trace", "debug", "info", "warning", "error", "fatal", "none"],
    text: "The lowest level of the log lines the policies write on stderr (a buffered-replay warning is a warning).",
    default: "info"
  }
]

const width = 100

/** Words of `text` in lines of at most `width - indent` characters, each indented. */
const wrap = (text: string, indent: number): Array<string> => {
  const lines: Array<string> = []
  let line = ""
  for (const word of text.split(/\s+/).filter((w) => w !== "")) {
    if (line !== "" && indent + line.length + 1 + word.length > width) {
      lines.push(line)
      line = word
    } else {
      line = line === "" ? word : `${line} ${word}`
    }
  }
  if (line !== "") lines.push(line)
  return lines.map((l) => `${" ".repeat(indent)}${l}`)
}

const head = (flag: Flag): string => `${flag.names.join(", ")}${flag.value === undefined ? "" : ` ${flag.value}`}`

const describe = (flag: Flag): string => {
  const choices = flag.choices === undefined || flag.value === undefined ? "" : ` One of: ${flag.choices.join(", ")}.`
  const repeat = flag.repeatable === true ? " Repeatable." : ""
  const fallback = flag.default === undefined ? "" : ` Default: ${flag.default}.`
  return `${flag.text}${choices}${repeat}${fallback}`
}

/** The help text of a command. */
export const render = (doc: Doc, version: string, style: Style): string => {
  const out: Array<string> = []
  out.push(`${style.bold(doc.command)} ${version}`, "", ...wrap(doc.summary, 0), "")
  out.push(style.bold("Usage"), ...doc.usage.map((line) => `  ${line}`), "")
  if (doc.args !== undefined) out.push(style.bold("Arguments"), `  ${style.cyan(doc.args[0])}`, ...wrap(doc.args[1], 6), "")
  const section = (title: string, list: ReadonlyArray<Flag>) => {
    if (list.length === 0) return
    out.push(style.bold(title))
    for (const flag of list) out.push(`  ${style.cyan(head(flag))}`, ...wrap(describe(flag), 6))
    out.push("")
  }
  section("Options", doc.flags)
  section("Also", builtIns)
  for (const extra of doc.sections ?? []) {
    const pad = Math.max(...extra.lines.map(([name]) => name.length)) + 2
    out.push(style.bold(extra.title))
    for (const [name, text] of extra.lines) {
      const [first = "", ...rest] = wrap(text, pad + 2)
      out.push(`  ${name}${first.slice(name.length + 2)}`, ...rest)
    }
    out.push("")
  }
  return out.join("\n")
}

/** The flags of a command, each with whether it takes a value, as the help names them. */
export const namesOf = (doc: Doc): ReadonlyMap<string, Flag> => {
  const names = new Map<string, Flag>()
  for (const flag of [...doc.flags, ...builtIns]) for (const name of flag.names) names.set(name, flag)
  return names
}

const sq = (s: string): string => `'${s.replaceAll("'", "'\\''")}'`

/** A completion script for `shell` covering every command in `docs` (the first is the root command). */
export const completions = (shell: "sh" | "bash" | "zsh" | "fish", docs: ReadonlyArray<Doc>): string => {
  const [root, ...subs] = docs
  const word = (doc: Doc) => doc.command.split(" ").slice(1).join(" ")
  const subcommands = [...subs.map(word), "help"]
  const all = (doc: Doc) => [...doc.flags, ...builtIns]
  if (shell === "fish") {
    const lines: Array<string> = [`complete -c sluice -f`]
    lines.push(`complete -c sluice -n __fish_use_subcommand -a ${sq(subcommands.join(" "))}`)
    for (const doc of docs) {
      const when = doc === root ? `not __fish_seen_subcommand_from ${subcommands.join(" ")}` : `__fish_seen_subcommand_from ${word(doc)}`
      for (const flag of all(doc)) {
        const names = flag.names.map((n) => (n.startsWith("--") ? `-l ${n.slice(2)}` : `-s ${n.slice(1)}`)).join(" ")
        const value = flag.value === undefined ? "" : flag.choices === undefined ? " -r" : ` -r -a ${sq(flag.choices.join(" "))}`
        lines.push(`complete -c sluice -n ${sq(when)} ${names}${value} -d ${sq(flag.text.split(/[.;:(]/)[0] ?? "")}`)
      }
    }
    return `${lines.join("\n")}\n`
  }
  const cases: Array<string> = []
  for (const doc of docs) {
    const valued = all(doc).filter((f) => f.value !== undefined)
    const free = valued.filter((f) => f.choices === undefined).flatMap((f) => f.names)
    const words = [...all(doc).flatMap((f) => f.names), ...(doc === root ? subcommands : [])].join(" ")
    cases.push(
      `  ${doc === root ? "sluice" : word(doc)})`,
      `    case "$prev" in`,
      ...valued.filter((f) => f.choices !== undefined).map((f) =>
        `      ${f.names.join("|")}) COMPREPLY=( $(compgen -W ${sq((f.choices ?? []).join(" "))} -- "$cur") ); return 0 ;;`
      ),
      ...(free.length === 0 ? [] : [`      ${free.join("|")}) COMPREPLY=(); return 0 ;;`]),
      `    esac`,
      `    COMPREPLY=( $(compgen -W ${sq(words)} -- "$cur") ) ;;`
    )
  }
  const script = [
    "_sluice() {",
    "  local cur=\"${COMP_WORDS[COMP_CWORD]}\" prev=\"${COMP_WORDS[COMP_CWORD-1]}\" cmd=sluice",
    `  case "\${COMP_WORDS[1]}" in ${subcommands.join("|")}) cmd="\${COMP_WORDS[1]}" ;; esac`,
    "  case \"$cmd\" in",
    ...cases,
    `  help) [ "$COMP_CWORD" -eq 2 ] && COMPREPLY=( $(compgen -W ${sq(subs.map(word).join(" "))} -- "$cur") ) ;;`,
    "  esac",
    "}",
    "complete -F _sluice sluice",
    ""
  ].join("\n")
  return shell === "zsh" ? `autoload -U +X bashcompinit && bashcompinit\n${script}` : script
}
