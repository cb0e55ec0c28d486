// Soak: 2,000 streams, 200 at a time, against the in-process emulator with ~10% of requests
// faulted at random. Every stream must end complete or with a typed error whose partial is exactly
// what the caller received; no handle may leak; memory after must match memory before.
// Run: npm run soak   (builds first; uses node --expose-gc)
import { NodeHttpClient } from "@effect/platform-node"
import { ChatRequest, Completion, LlmError, Policy } from "@sluice/core"
import { Fault, Scenario } from "@sluice/emulator"
import { OpenAiCompatible, Anthropic, Gemini } from "@sluice/providers"
import { Effect, Exit, Redacted, Stream } from "effect"
import { spawn } from "node:child_process"
import { isDeepStrictEqual } from "node:util"

const STREAMS = Number(process.env.SOAK_STREAMS ?? 2000)
const CONCURRENCY = Number(process.env.SOAK_CONCURRENCY ?? 200)
const FAULT_RATE = Number(process.env.SOAK_FAULT_RATE ?? 0.1)

// A deterministic generator, so a failing run can be replayed.
let seed = Number(process.env.SOAK_SEED ?? 1)
const random = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648)
const pick = (xs) => xs[Math.floor(random() * xs.length)]

const text = "Soak testing keeps many streams in flight at once and checks that every one of them ends honestly, " +
  "either whole or with a typed error that holds exactly what arrived before it."
const faults = [
  () => Fault.truncate(Math.floor(random() * 20)),
  () => Fault.truncateMidEvent(1 + Math.floor(random() * 15), { bytes: 1 + Math.floor(random() * 30) }),
  () => Fault.reset(Math.floor(random() * 20)),
  () => Fault.errorEvent(Math.floor(random() * 20), { message: "soak error" }),
  () => Fault.status({ status: pick([429, 500, 503, 529]) }),
  () => Fault.stall(Math.floor(random() * 10)),
  () => Fault.dropFinish(),
  () => ({ type: "malformedJson", atEvent: 1 + Math.floor(random() * 20) })
]

const request = ChatRequest.make({ model: "soak", messages: [ChatRequest.user("go")] })
const handles = () => {
  const counts = {}
  for (const kind of process.getActiveResourcesInfo()) counts[kind] = (counts[kind] ?? 0) + 1
  return counts
}
const gc = () => {
  if (typeof globalThis.gc === "function") {
    globalThis.gc()
    globalThis.gc()
  }
}

/** The emulator in its own process, as a user would run it: the soak measures the client alone. */
const emulatorProcess = Effect.acquireRelease(
  Effect.async((resume) => {
    const child = spawn(process.execPath, [new URL("../packages/emulator/dist/bin.js", import.meta.url).pathname, "--port", "0"], {
      stdio: ["ignore", "pipe", "inherit"]
    })
    let out = ""
    child.stdout.on("data", (data) => {
      out += data
      const match = /listening on (http:\/\/[^\s]+)/.exec(out)
      if (match) resume(Effect.succeed({ child, url: match[1] }))
    })
    child.on("exit", (code) => resume(Effect.die(new Error(`the emulator exited with ${code}`))))
  }),
  ({ child }) => Effect.sync(() => child.kill("SIGTERM"))
)

const program = Effect.gen(function*() {
  const { url } = yield* emulatorProcess
  const emulator = { openAiBaseUrl: `${url}/v1`, anthropicBaseUrl: url, geminiBaseUrl: url }
  const formats = [
    (headers) => OpenAiCompatible.make({ baseUrl: emulator.openAiBaseUrl, headers }),
    (headers) => Anthropic.make({ baseUrl: emulator.anthropicBaseUrl, apiKey: Redacted.make("soak"), headers }),
    (headers) => Gemini.make({ baseUrl: emulator.geminiBaseUrl, apiKey: Redacted.make("soak"), headers })
  ]
  const one = (i) =>
    Effect.gen(function*() {
      const faulted = random() < FAULT_RATE
      const scenario = { text, gapMs: Math.floor(random() * 3), ...(faulted ? { faults: [pick(faults)()] } : {}), responseId: `soak-${i}` }
      const model = (yield* pick(formats)(Scenario.headers(scenario))).pipe(Policy.timeout({ firstToken: "30 seconds", idle: "10 seconds" }))
      const received = []
      const exit = yield* model.stream(request).pipe(Stream.runForEach((e) => Effect.sync(() => received.push(e))), Effect.exit)
      const completion = Completion.fromEvents(received)
      if (Exit.isSuccess(exit)) {
        const exact = completion.text === text && completion.finishReason !== null
        return { faulted, outcome: exact ? "complete" : "WRONG-COMPLETE" }
      }
      const failure = exit.cause._tag === "Fail" ? exit.cause.error : undefined
      if (failure === undefined || !LlmError.isLlmError(failure)) return { faulted, outcome: "DEFECT" }
      const exactPartial = received.length === 0 ? failure.partial === undefined : isDeepStrictEqual(failure.partial, completion)
      if (!faulted && process.env.SOAK_DEBUG) console.error(`unfaulted failure: ${failure.message}`)
      return { faulted, outcome: exactPartial ? failure._tag : `WRONG-PARTIAL ${failure._tag}` }
    })

  // Warm up (JIT, connection pool) before the baseline.
  yield* Effect.forEach(Array.from({ length: 50 }, (_, i) => i), one, { concurrency: 50 })
  // Idle keep-alive connections close after undici's keep-alive timeout (4 s): measure without them.
  yield* Effect.sleep("5 seconds")
  gc()
  const memoryBefore = process.memoryUsage()
  const handlesBefore = handles()
  const start = performance.now()
  const results = yield* Effect.forEach(Array.from({ length: STREAMS }, (_, i) => i + 1000), one, { concurrency: CONCURRENCY })
  const seconds = (performance.now() - start) / 1000
  yield* Effect.sleep("5 seconds")
  gc()
  const memoryAfter = process.memoryUsage()
  const handlesAfter = handles()

  const byOutcome = {}
  for (const r of results) byOutcome[r.outcome] = (byOutcome[r.outcome] ?? 0) + 1
  const faulted = results.filter((r) => r.faulted).length
  const bad = Object.entries(byOutcome).filter(([k]) => k.startsWith("WRONG") || k === "DEFECT")
  const mb = (n) => (n / 1048576).toFixed(1)
  console.log(`soak: ${STREAMS} streams, ${CONCURRENCY} at a time, ${faulted} faulted (${(100 * faulted / STREAMS).toFixed(1)}%), ${seconds.toFixed(1)} s`)
  console.log(`outcomes: ${JSON.stringify(byOutcome)}`)
  console.log(`handles before: ${JSON.stringify(handlesBefore)}`)
  console.log(`handles after:  ${JSON.stringify(handlesAfter)}`)
  console.log(`heap used: ${mb(memoryBefore.heapUsed)} MB before, ${mb(memoryAfter.heapUsed)} MB after; rss ${mb(memoryBefore.rss)} -> ${mb(memoryAfter.rss)} MB`)
  const leakedSockets = (handlesAfter.TCPSocketWrap ?? 0) - (handlesBefore.TCPSocketWrap ?? 0)
  const leakedTimers = (handlesAfter.Timeout ?? 0) - (handlesBefore.Timeout ?? 0)
  const heapGrowth = memoryAfter.heapUsed - memoryBefore.heapUsed
  const ok = bad.length === 0 && leakedTimers <= 0 && leakedSockets <= 0 && heapGrowth < 16 * 1048576
  console.log(ok ? "soak: ok" : `soak: FAILED ${JSON.stringify({ bad, leakedSockets, leakedTimers, heapGrowthMb: mb(heapGrowth) })}`)
  if (!ok) process.exitCode = 1
})

Effect.runPromise(program.pipe(Effect.scoped, Effect.provide(NodeHttpClient.layerUndici))).catch((e) => {
  console.error(e)
  process.exitCode = 1
})
