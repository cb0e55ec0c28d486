// Measures the bundle: its size, its cold start (`--help`), and the time to first token it adds over a raw
// HTTP client against the emulator, both measured the same way (a fresh process per run, alternating).
// Usage (after `npm run build`): node packages/cli/bench.mjs [runs]
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { ChatRequest } from "@sluice/core"
import { Emulator } from "@sluice/emulator"
import { OpenAiCompatible } from "@sluice/providers"
import { Effect, Redacted, Stream } from "effect"
import * as http from "node:http"
import { spawn } from "node:child_process"
import { statSync, readFileSync } from "node:fs"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { loadavg } from "node:os"
import { gzipSync } from "node:zlib"

const here = dirname(fileURLToPath(import.meta.url))
const bundle = process.env.SLUICE_BUNDLE ?? join(here, "dist", "sluice.mjs")
const runs = Number(process.argv[2] ?? 21)

// The raw client: node:http, the SSE body read as it comes, the first content delta written to stdout.
const rawClient = `
const http = require("node:http")
const t0 = performance.now()
const body = JSON.stringify({ model: "gpt-4o-mini", stream: true, messages: [{ role: "user", content: "hi" }] })
const req = http.request(process.argv[1], { method: "POST", headers: { "content-type": "application/json", authorization: "Bearer x" } }, (res) => {
  res.setEncoding("utf8")
  let buffer = "", first = true
  res.on("data", (chunk) => {
    buffer += chunk
    let i
    while ((i = buffer.indexOf("\\n\\n")) >= 0) {
      const event = buffer.slice(0, i); buffer = buffer.slice(i + 2)
      if (!event.startsWith("data: ") || event === "data: [DONE]") continue
      const text = JSON.parse(event.slice(6)).choices?.[0]?.delta?.content
      if (text) { if (first) { process.stderr.write(String(performance.now() - t0) + "\\n"); first = false } process.stdout.write(text) }
    }
  })
})
req.end(body)
`

/** Spawns a process; resolves with the ms from spawn to its first stdout byte, its exit, and its output. */
const time = (args, env = {}) =>
  new Promise((resolve, reject) => {
    const start = performance.now()
    const child = spawn(process.execPath, args, { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] })
    let first, stdout = "", stderr = ""
    child.stdout.on("data", (d) => {
      first ??= performance.now() - start
      stdout += d
    })
    child.stderr.on("data", (d) => (stderr += d))
    child.on("error", reject)
    child.on("close", (code) => resolve({ first, total: performance.now() - start, code, stdout, stderr }))
  })

/** The CPU seconds (user + system) of a process, through /usr/bin/time (less sensitive to a busy machine than wall time). */
const cpu = (args) =>
  new Promise((resolve) => {
    const child = spawn("/usr/bin/time", ["-f", "%U %S", process.execPath, ...args], { stdio: ["ignore", "ignore", "pipe"] })
    let stderr = ""
    child.stderr.on("data", (d) => (stderr += d))
    child.on("error", () => resolve(undefined))
    child.on("close", () => {
      const [user, sys] = stderr.trim().split("\n").pop().split(" ").map(Number)
      resolve(Number.isFinite(user + sys) ? (user + sys) * 1000 : undefined)
    })
  })

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2
}
const fmt = (ms) => `${ms.toFixed(0)} ms`

const program = Effect.gen(function*() {
  const size = statSync(bundle).size
  const gz = gzipSync(readFileSync(bundle)).length
  console.log(`bundle: ${(size / 1024).toFixed(0)} KiB (${(gz / 1024).toFixed(0)} KiB gzipped); load average ${loadavg().map((x) => x.toFixed(1)).join(" ")}`)

  const node = [], help = [], nodeCpu = [], helpCpu = []
  for (let i = 0; i < runs; i++) {
    node.push((yield* Effect.promise(() => time(["-e", "0"]))).total)
    help.push((yield* Effect.promise(() => time([bundle, "--help"]))).total)
    nodeCpu.push(yield* Effect.promise(() => cpu(["-e", "0"])))
    helpCpu.push(yield* Effect.promise(() => cpu([bundle, "--help"])))
  }
  console.log(`cold start, node ${bundle.replace(`${process.cwd()}/`, "")} --help: median ${fmt(median(help))} wall (node -e 0: ${fmt(median(node))}; ${runs} runs each)`)
  if (helpCpu.every((x) => x !== undefined)) {
    console.log(`  CPU (user+sys): median ${fmt(median(helpCpu))} (node -e 0: ${fmt(median(nodeCpu))})`)
  }

  const emulator = yield* Emulator.make({ scenario: { text: "Hello from the Sluice emulator." } })
  const url = `${emulator.openAiBaseUrl}/chat/completions`
  const raw = [], cli = [], rawInner = [], cliInner = []
  for (let i = 0; i < runs; i++) {
    const r = yield* Effect.promise(() => time(["-e", rawClient, url]))
    const c = yield* Effect.promise(() => time([bundle, "--base-url", emulator.openAiBaseUrl, "--json", "hi"], { OPENAI_API_KEY: "x" }))
    if (r.code !== 0 || c.code !== 0) throw new Error(`a run failed: ${r.stderr}${c.stderr}`)
    raw.push(r.first)
    cli.push(c.first)
    rawInner.push(Number(r.stderr.trim()))
    cliInner.push(JSON.parse(c.stdout.trim().split("\n").pop()).ttftMs)
  }
  console.log(`time to first token from spawn: raw node:http client ${fmt(median(raw))}, sluice ${fmt(median(cli))}: +${fmt(median(cli) - median(raw))}`)
  console.log(`time to first token from the request's start, first request of a fresh process: raw ${median(rawInner).toFixed(1)} ms, sluice ${median(cliInner).toFixed(1)} ms`)

  // Warm, in this process: the adapter (undici, SSE decoder, wire schema, guard) against node:http, alternating.
  const model = yield* OpenAiCompatible.make({ baseUrl: emulator.openAiBaseUrl, apiKey: Redacted.make("x") })
  const request = ChatRequest.make({ model: "gpt-4o-mini", messages: [ChatRequest.user("hi")] })
  const adapterWarm = [], rawWarm = []
  for (let i = 0; i < runs + 5; i++) {
    const t0 = performance.now()
    let first
    yield* Stream.runForEach(model.stream(request), (e) =>
      Effect.sync(() => {
        if (first === undefined && e._tag === "TextDelta") first = performance.now() - t0
      }))
    const rawFirst = yield* Effect.promise(() => rawTtft(url))
    if (i >= 5) { // the first five warm up the JIT and the connection pools
      adapterWarm.push(first)
      rawWarm.push(rawFirst)
    }
  }
  console.log(`time to first token, warm, in process: raw node:http ${median(rawWarm).toFixed(2)} ms, sluice adapter ${median(adapterWarm).toFixed(2)} ms`)
})

/** node:http, in this process: ms from the request to its first content delta. */
const rawTtft = (url) =>
  new Promise((resolve, reject) => {
    const t0 = performance.now()
    let done = false
    const req = http.request(url, { method: "POST", headers: { "content-type": "application/json" } }, (res) => {
      res.setEncoding("utf8")
      res.on("data", (chunk) => {
        if (!done && chunk.includes("\"content\"")) {
          done = true
          resolve(performance.now() - t0)
        }
      })
      res.on("end", () => done || reject(new Error("no content")))
    })
    req.on("error", reject)
    req.end(JSON.stringify({ model: "gpt-4o-mini", stream: true, messages: [{ role: "user", content: "hi" }] }))
  })

Effect.runPromise(program.pipe(Effect.scoped, Effect.provide(NodeHttpClient.layerUndici))).catch((error) => {
  console.error(error)
  process.exitCode = 1
})
