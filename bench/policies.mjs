// In-memory policy-stack microbenchmark: the cost each policy adds per chunk and per event, without HTTP.
// A fake service hands out prebuilt chunks of events, one chunk per macrotask (as socket reads arrive);
// each variant drains the stream. Median of RUNS (after one warm-up) per variant, variants alternating.
// Run: npm run build && node bench/policies.mjs [variant ...]   (RUNS=7 CHUNKS=2688 PER=37; JSON=1 prints JSON)
import { ChatRequest, LanguageModel, Policy, StreamEvent } from "@sluice/core"
import { Chunk, Effect, Option, Stream } from "effect"

const RUNS = Number(process.env.RUNS ?? 7)
const CHUNKS = Number(process.env.CHUNKS ?? 2688)
const PER = Number(process.env.PER ?? 37)
const words = ["Hello", " wor", "ld,", " this", " is", " a", " te", "st."]
const chunks = Array.from({ length: CHUNKS }, (_, c) =>
  Chunk.unsafeFromArray(Array.from({ length: PER }, (_, i) => StreamEvent.textDelta(words[(c * PER + i) % words.length]))))
chunks.push(Chunk.make(StreamEvent.finish("stop", "stop"), StreamEvent.usage({ inputTokens: 5, outputTokens: CHUNKS * PER, totalTokens: 5 + CHUNKS * PER })))

// Reports each chunk to the policy context's `progress`, as an adapter does.
const source = (progress) =>
  Stream.suspend(() => {
    let i = 0
    return Stream.repeatEffectChunkOption(Effect.async((resume) => {
      setImmediate(() => {
        if (i === chunks.length) return resume(Effect.fail(Option.none()))
        const chunk = chunks[i++]
        if (progress !== undefined) progress(Chunk.toReadonlyArray(chunk))
        resume(Effect.succeed(chunk))
      })
    }))
  })
// Honours the policy context, as an adapter does (`LanguageModel.make`, no stage): nothing here waits but the
// macrotask per chunk, and it reports progress.
const service = LanguageModel.make({
  provider: "bench",
  streamWith: (_request, context) => source(context.progress),
  completeWith: () => Effect.die("not used")
})
const request = ChatRequest.make({ model: "m", messages: [ChatRequest.user("go")] })

const variants = {
  bare: service,
  "timeout(firstToken, idle)": service.pipe(Policy.timeout({ firstToken: "60 seconds", idle: "60 seconds" })),
  "timeout(total)": service.pipe(Policy.timeout({ total: "10 minutes" })),
  retry: service.pipe(Policy.retry({ maxAttempts: 3 })),
  failover: service.pipe(Policy.failover([{ model: "m2" }])),
  guard: service.pipe(Policy.guard()),
  metrics: service.pipe(Policy.metrics({ onSummary: () => Effect.void })),
  full: service.pipe(
    Policy.timeout({ firstToken: "60 seconds", idle: "60 seconds" }),
    Policy.retry({ maxAttempts: 3 }),
    Policy.failover([{ model: "m2" }]),
    Policy.timeout({ total: "10 minutes" }),
    Policy.guard(),
    Policy.metrics({ onSummary: () => Effect.void })
  )
}
const names = process.argv.slice(2).length > 0 ? process.argv.slice(2) : Object.keys(variants)
const drain = (svc) =>
  Effect.suspend(() => {
    let n = 0
    return Stream.runForEachChunk(svc.stream(request), (c) => {
      n += c.length
      return Effect.void
    }).pipe(Effect.map(() => n))
  })
const times = Object.fromEntries(names.map((n) => [n, []]))
for (let r = 0; r <= RUNS; r++) {
  for (const name of names) {
    const start = performance.now()
    const events = await Effect.runPromise(drain(variants[name]))
    const ms = performance.now() - start
    if (events !== CHUNKS * PER + 2) throw new Error(`${name}: ${events} events`)
    if (r > 0) times[name].push(ms)
  }
}
const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1]
const bare = times.bare === undefined ? undefined : median(times.bare)
const rows = Object.fromEntries(names.map((name) => {
  const ms = median(times[name])
  const extra = bare === undefined || name === "bare" ? {} : {
    addedMs: +(ms - bare).toFixed(2),
    addedUsPerChunk: +(((ms - bare) * 1000) / chunks.length).toFixed(2),
    addedNsPerEvent: +(((ms - bare) * 1e6) / (CHUNKS * PER + 2)).toFixed(1)
  }
  return [name, { ms: +ms.toFixed(2), ...extra }]
}))
if (process.env.JSON === "1") {
  console.log(JSON.stringify({ chunks: CHUNKS, eventsPerChunk: PER, runs: RUNS, rows }))
} else {
  console.log(`${CHUNKS} chunks x ${PER} events, median of ${RUNS}`)
  for (const [name, row] of Object.entries(rows)) {
    const extra = row.addedMs === undefined ? "" : `  +${row.addedMs} ms = ${row.addedUsPerChunk} µs/chunk, ${row.addedNsPerEvent} ns/event`
    console.log(`${name.padEnd(28)} ${row.ms.toFixed(1).padStart(8)} ms${extra}`)
  }
}
