/**
 * Runs the built `sluice` bundle as a child process, the way a user (or a test outside the project)
 * does: `node packages/cli/dist/sluice.mjs …`, with an environment holding no API key unless given.
 */
import { Emulator, type Scenario } from "@sluice/emulator"
import { Effect } from "effect"
import { type ChildProcess, spawn } from "node:child_process"
import { closeSync, existsSync, openSync } from "node:fs"
import * as Http from "node:http"
import { fileURLToPath } from "node:url"
import { serve } from "./loopback.js"

/** The bundle `npm run build` makes (`SLUICE_BUNDLE` names another, e.g. an older build, to see a test fail on it). */
export const bundle = process.env.SLUICE_BUNDLE ?? fileURLToPath(new URL("../../packages/cli/dist/sluice.mjs", import.meta.url))

/** A recognisable key: no output may ever carry it. */
export const KEY = "sk-sluice-cli-test-4e8a2f19c7"

/** The environment of every child: the parent's, without any provider key, default model or colour setting. */
const baseEnv = (): NodeJS.ProcessEnv => {
  const env: NodeJS.ProcessEnv = {}
  for (const [name, value] of Object.entries(process.env)) {
    if (/_API_KEY$|^SLUICE_MODEL_|^NO_COLOR$|^FORCE_COLOR$|^NODE_OPTIONS$/.test(name)) continue
    env[name] = value
  }
  return env
}

export interface RunOptions {
  readonly env?: Readonly<Record<string, string>>
  /** Written to stdin, then closed; without it stdin is closed at once (empty). */
  readonly stdin?: string
  /** Kill the child after this long (default 20 s). */
  readonly timeoutMs?: number
  /** Called with the child once it runs (to send it a signal). */
  readonly onSpawn?: (child: ChildProcess, output: Output) => void
  /** Send the child's stdout to this file (e.g. `/dev/full`) instead of a pipe; `stdout` is then empty. */
  readonly stdoutTo?: string
}

/** What a run printed, with the time (ms since spawn) of each stdout chunk. */
export interface Output {
  stdout: string
  stderr: string
  readonly chunks: Array<{ readonly at: number; readonly text: string }>
}

export interface Result extends Output {
  /** The exit code (null when killed by a signal). */
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  readonly ms: number
}

/** Runs the bundle with `args`; interrupting the effect kills the child. */
export const sluice = (args: ReadonlyArray<string>, options: RunOptions = {}): Effect.Effect<Result> =>
  Effect.async<Result>((resume) => {
    if (!existsSync(bundle)) throw new Error(`${bundle} is missing: run \`npm run build\` first`)
    const started = performance.now()
    const fd = options.stdoutTo === undefined ? undefined : openSync(options.stdoutTo, "w")
    const child = spawn(process.execPath, [bundle, ...args], {
      env: { ...baseEnv(), ...options.env },
      stdio: ["pipe", fd ?? "pipe", "pipe"]
    })
    if (fd !== undefined) closeSync(fd)
    const { stderr, stdin } = child
    if (stderr === null || stdin === null) throw new Error("spawn gave no stdin or stderr pipe")
    const output: Output = { stdout: "", stderr: "", chunks: [] }
    child.stdout?.setEncoding("utf8")
    stderr.setEncoding("utf8")
    child.stdout?.on("data", (text: string) => {
      output.stdout += text
      output.chunks.push({ at: performance.now() - started, text })
    })
    stderr.on("data", (text: string) => {
      output.stderr += text
    })
    stdin.on("error", () => {}) // a child that exits before reading stdin
    stdin.end(options.stdin ?? "")
    const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 20_000)
    child.on("close", (code, signal) => {
      clearTimeout(timer)
      resume(Effect.succeed({ ...output, code, signal, ms: performance.now() - started }))
    })
    options.onSpawn?.(child, output)
    return Effect.sync(() => {
      clearTimeout(timer)
      child.kill("SIGKILL")
    })
  })

/** An emulator answering every request with `scenario`, for the life of the test's scope. */
export const emulator = (scenario: Scenario.Scenario | string = "hello") => Emulator.make({ scenario })

/** A hostile server on loopback for the life of the scope: `handler` answers every request (its body read). */
export const httpServer = (handler: (req: Http.IncomingMessage, res: Http.ServerResponse) => void) =>
  Effect.suspend(() => {
    const server = Http.createServer((req, res) => {
      req.resume()
      req.on("end", () => handler(req, res))
    })
    return Effect.map(serve(server), (url) => ({ url }))
  })

const shellQuote = (arg: string): string => `'${arg.replaceAll("'", "'\\''")}'`

/** Runs the bundle on a pseudo-terminal (stdout and stderr both): what the terminal received, merged. */
export const underTerminal = (args: ReadonlyArray<string>, env: Readonly<Record<string, string>> = {}): Effect.Effect<Result> =>
  Effect.async<Result>((resume) => {
    const started = performance.now()
    const command = [process.execPath, bundle, ...args].map(shellQuote).join(" ")
    const child = spawn("script", ["-qfec", command, "/dev/null"], { env: { ...baseEnv(), ...env, NO_COLOR: "1" }, stdio: ["pipe", "pipe", "pipe"] })
    const output: Output = { stdout: "", stderr: "", chunks: [] }
    child.stdout.setEncoding("utf8")
    child.stderr.setEncoding("utf8")
    child.stdout.on("data", (text: string) => {
      output.stdout += text
    })
    child.stderr.on("data", (text: string) => {
      output.stderr += text
    })
    const timer = setTimeout(() => child.kill("SIGKILL"), 20_000)
    child.on("close", (code, signal) => {
      clearTimeout(timer)
      resume(Effect.succeed({ ...output, code, signal, ms: performance.now() - started }))
    })
    return Effect.sync(() => {
      clearTimeout(timer)
      child.kill("SIGKILL")
    })
  })

/** The `--json` lines of a run, parsed. */
export const jsonLines = (stdout: string): Array<Record<string, unknown>> =>
  stdout.split("\n").filter((line) => line !== "").map((line) => JSON.parse(line) as Record<string, unknown>)

/** The environment holding the OpenAI key. */
export const openAiKey = { OPENAI_API_KEY: KEY } as const
