/**
 * The `sluice` bundle reads its providers from the registry (`Providers`): the names `-p` takes, each
 * provider's key variable, default model and wire format, and the help lists exactly those — checked
 * for every entry, through a loopback server that records what each run sent.
 */
import { assert, describe, it } from "@effect/vitest"
import { Providers } from "@sluice/providers"
import { Effect, Option } from "effect"
import * as Http from "node:http"
import { KEY, sluice } from "./support/cli.js"
import { keyHeader } from "./support/keyHeader.js"

/** A request the recorder received. */
interface Seen {
  readonly path: string
  readonly headers: Http.IncomingHttpHeaders
  readonly body: string
}

/** A server on loopback that records every request and answers 401 (the run's outcome is not the subject). */
const recorder = Effect.acquireRelease(
  Effect.async<{ readonly server: Http.Server; readonly seen: Array<Seen> }>((resume) => {
    const seen: Array<Seen> = []
    const server = Http.createServer((req, res) => {
      const chunks: Array<Buffer> = []
      req.on("data", (chunk: Buffer) => chunks.push(chunk))
      req.on("end", () => {
        seen.push({ path: req.url ?? "", headers: req.headers, body: Buffer.concat(chunks).toString("utf8") })
        res.writeHead(401, { "content-type": "application/json" })
        res.end(JSON.stringify({ error: { message: "recorded", type: "authentication_error" } }))
      })
    })
    server.listen(0, "127.0.0.1", () => resume(Effect.succeed({ server, seen })))
  }),
  ({ server }) =>
    Effect.async<void>((resume) => {
      server.closeAllConnections()
      server.close(() => resume(Effect.void))
    })
).pipe(Effect.map(({ seen, server }) => {
  const address = server.address()
  return { url: `http://127.0.0.1:${typeof address === "object" && address !== null ? address.port : 0}`, seen }
}))

/** A run's base URL: the provider's name and the run's own segment first, so each run's requests are told apart. */
const baseUrl = (url: string, provider: Providers.Provider, run: string): string =>
  provider.format === "openai-compatible" ? `${url}/${provider.name}/${run}/v1` : `${url}/${provider.name}/${run}`

/** The model a recorded request asked for: the body's `model`, or Gemini's path segment. */
const modelOf = (seen: Seen): string | undefined => {
  const fromPath = /\/models\/([^:]+):/.exec(seen.path)?.[1]
  if (fromPath !== undefined) return decodeURIComponent(fromPath)
  const body: unknown = JSON.parse(seen.body)
  return typeof body === "object" && body !== null && "model" in body && typeof body.model === "string" ? body.model : undefined
}

/** `SLUICE_MODEL_` and the name, as the README says the CLI reads it. */
const modelVariable = (name: string): string => `SLUICE_MODEL_${name.toUpperCase().replace(/[^A-Z0-9]/g, "_")}`

/** Every key variable of the registry, each set to a value no run may send. */
const OTHER = "sk-another-providers-key-31f0"
const variables = [...new Set(Providers.all.flatMap((p) => (p.apiKey === undefined ? [] : [p.apiKey.variable])))]

/** The lines of a help section: each entry's first word and its text (continuation lines joined). */
const section = (help: string, title: string): Array<readonly [string, string]> => {
  const start = help.indexOf(`\n${title}\n`)
  if (start < 0) return []
  const body = help.slice(start + title.length + 2).split("\n\n")[0] ?? ""
  const entries: Array<[string, string]> = []
  for (const line of body.split("\n")) {
    const entry = /^ {2}(\S+) +(.*)$/.exec(line)
    const last = entries.at(-1)
    if (entry !== null) entries.push([entry[1] ?? "", entry[2] ?? ""])
    else if (last !== undefined) last[1] = `${last[1]} ${line.trim()}`
  }
  return entries
}

describe.concurrent("sluice: the provider registry", () => {
  for (const command of [[], ["audit"]]) {
    it.live(`sluice ${[...command, "--help"].join(" ")} lists exactly the registry's names, each with its default model and key`, () =>
      Effect.gen(function*() {
        const help = yield* sluice([...command, "--help"])
        assert.strictEqual(help.code, 0, help.stderr)
        const provider = help.stdout.split(/\n(?= {2}-)/).find((block) => block.startsWith("  -p, --provider NAME\n")) ?? ""
        const choices = /One of: ([^.]+)\./.exec(provider.replace(/\s+/g, " "))?.[1]
        assert.deepStrictEqual<ReadonlyArray<string> | undefined>(choices?.split(", "), Providers.names)
        const listed = section(help.stdout, "Providers")
        assert.deepStrictEqual<ReadonlyArray<string>>(listed.map(([name]) => name), Providers.names)
        for (const [name, text] of listed) {
          const entry = Option.getOrThrow(Providers.byName(name))
          assert.include(text, entry.defaultModel ?? "no default model", name)
          if (entry.apiKey === undefined) assert.include(text, "no key", name)
          else assert.include(text, entry.apiKey.required ? entry.apiKey.variable : `${entry.apiKey.variable} (optional)`, name)
        }
      }))
  }

  it.scopedLive("every provider: its default model, its wire format, and its key from its variable only", () =>
    Effect.gen(function*() {
      const server = yield* recorder
      const runs = Providers.all.flatMap((provider) => {
        const others = Object.fromEntries(variables.filter((v) => v !== provider.apiKey?.variable).map((v) => [v, OTHER]))
        // A provider without a default model is given one through its variable.
        const model = provider.defaultModel === undefined ? { [modelVariable(provider.name)]: "served-model" } : {}
        const own = provider.apiKey === undefined ? {} : { [provider.apiKey.variable]: KEY }
        const envs = [["keyed", { ...others, ...own, ...model }], ["bare", { ...others, ...model }]] as const
        return envs.map(([run, env]) => ({ provider, run, env, args: ["-p", provider.name, "--base-url", baseUrl(server.url, provider, run), "--retries", "0", "hi"] }))
      })
      const results = yield* Effect.forEach(runs, (run) => Effect.map(sluice(run.args, { env: run.env }), (result) => ({ ...run, result })), {
        concurrency: 4
      })
      for (const { provider, result, run } of results) {
        const what = `${provider.name}, ${run}: ${result.stderr}`
        const prefix = `/${provider.name}/${run}`
        const seen = server.seen.filter((s) => s.path.startsWith(`${prefix}/`))
        if (run === "bare" && provider.apiKey?.required === true) {
          // Refused before any request, naming the variable.
          assert.strictEqual(result.code, 2, what)
          assert.include(result.stderr, provider.apiKey.variable, what)
          assert.lengthOf(seen, 0, what)
          continue
        }
        assert.lengthOf(seen, 1, what)
        const [request] = seen
        const [header, value] = keyHeader[provider.format]
        assert.strictEqual(request.headers[header], run === "keyed" && provider.apiKey !== undefined ? value(KEY) : undefined, what)
        assert.strictEqual(modelOf(request), provider.defaultModel ?? "served-model", what)
        const path = request.path.slice(prefix.length)
        if (provider.format === "openai-compatible") assert.strictEqual(path, "/v1/chat/completions", what)
        else if (provider.format === "anthropic") assert.strictEqual(path, "/v1/messages", what)
        else assert.match(path, /^\/v1beta\/models\/[^/]+:streamGenerateContent/, what)
      }
      // No run sent another provider's key.
      for (const request of server.seen) assert.notInclude(JSON.stringify(request.headers), OTHER)
    }), 120_000)
})
