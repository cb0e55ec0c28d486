#!/usr/bin/env node
/**
 * `sluice-emulator [--port N] [--host H] [--scenario NAME|JSON]`: runs the emulator until SIGINT or
 * SIGTERM, printing `sluice-emulator listening on http://HOST:PORT` once it listens, then a line
 * with the base URL of each format (`openai …/v1 · anthropic … · gemini …`).
 *
 * @since 0.1.0
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import * as Emulator from "./Emulator.js"

class UsageError extends Schema.TaggedError<UsageError>()("UsageError", { reason: Schema.String }) {
  override get message(): string {
    return this.reason
  }
}

const usage = "usage: sluice-emulator [--port N] [--host HOST] [--scenario NAME|JSON|BASE64URL]"

interface Args {
  readonly port?: number
  readonly host?: string
  readonly scenario?: string
  readonly help: boolean
}

const parseArgs = (argv: ReadonlyArray<string>): Either.Either<Args, UsageError> => {
  const values = new Map<string, string>()
  let help = false
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]
    if (arg === "--help" || arg === "-h") {
      help = true
      continue
    }
    const match = /^--(port|host|scenario)(?:=(.*))?$/s.exec(arg)
    if (match === null) return Either.left(new UsageError({ reason: `unknown argument ${JSON.stringify(arg)}\n${usage}` }))
    const value = match[2] ?? argv[++i]
    if (value === undefined) return Either.left(new UsageError({ reason: `--${match[1]} needs a value\n${usage}` }))
    values.set(match[1], value)
  }
  const portText = values.get("port")
  const port = portText === undefined ? undefined : Number(portText)
  if (port !== undefined && !(Number.isInteger(port) && port >= 0 && port <= 65535)) {
    return Either.left(new UsageError({ reason: `--port must be an integer from 0 to 65535, got ${portText}` }))
  }
  const host = values.get("host")
  const scenario = values.get("scenario")
  return Either.right({
    help,
    ...(port === undefined ? {} : { port }),
    ...(host === undefined ? {} : { host }),
    ...(scenario === undefined ? {} : { scenario })
  })
}

const program = Effect.gen(function*() {
  const args = yield* parseArgs(process.argv.slice(2))
  if (args.help) return yield* Console.log(usage)
  const emulator = yield* Emulator.make(args)
  yield* Console.log(`sluice-emulator listening on ${emulator.url}`)
  yield* Console.log(
    `base URLs: openai ${emulator.openAiBaseUrl} · anthropic ${emulator.anthropicBaseUrl} · gemini ${emulator.geminiBaseUrl}`
  )
  return yield* Effect.never
}).pipe(
  Effect.scoped,
  Effect.catchAll((error) =>
    Console.error(`sluice-emulator: ${error.message}`).pipe(
      Effect.zipRight(Effect.sync(() => {
        process.exitCode = error._tag === "UsageError" || error._tag === "ScenarioError" ? 2 : 1
      }))
    )
  )
)

NodeRuntime.runMain(program)
