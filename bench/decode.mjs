// Decoding throughput: 100,000 chat.completion.chunk events (~21 MiB) in reads of 1-16 KiB.
// Measures the floor (split on blank lines + JSON.parse), Sse.decode alone, and the whole
// OpenAI-compatible adapter (Sse + chunk decode + guard) fed from an in-memory HTTP response.
// Run: npm run build && node bench/decode.mjs
import { HttpClient, HttpClientResponse } from "@effect/platform"
import { ChatRequest, LanguageModel, Sse } from "@sluice/core"
import { OpenAiCompatible } from "@sluice/providers"
import { Effect, Layer, Stream } from "effect"

const EVENTS = 100_000
const RUNS = Number(process.env.RUNS ?? 5)

const words = ["the ", "quick ", "brown ", "fox ", "jumps ", "over ", "lazy ", "dog ", "— ", "naïve ", "日本 "]
const parts = []
const chunk = (delta, finish = null, extra = {}) =>
  `data: ${JSON.stringify({ id: "chatcmpl-bench", object: "chat.completion.chunk", created: 1700000000, model: "bench", system_fingerprint: "fp_bench", choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }], ...extra })}\n\n`
parts.push(chunk({ role: "assistant", content: "", refusal: null }))
for (let i = 0; i < EVENTS - 3; i++) parts.push(chunk({ content: words[i % words.length] }))
parts.push(chunk({}, "stop"))
parts.push(`data: ${JSON.stringify({ id: "chatcmpl-bench", object: "chat.completion.chunk", created: 1700000000, model: "bench", choices: [], usage: { prompt_tokens: 10, completion_tokens: EVENTS, total_tokens: EVENTS + 10 } })}\n\n`)
parts.push("data: [DONE]\n\n")
const body = new TextEncoder().encode(parts.join(""))

// Reads of 1-16 KiB from a seeded generator, so every run and client sees the same boundaries.
let seed = 42
const random = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648)
const reads = []
for (let i = 0; i < body.length;) {
  const size = 1024 + Math.floor(random() * 15 * 1024)
  reads.push(body.subarray(i, i + size))
  i += size
}

const floor = () => {
  const decoder = new TextDecoder()
  let buffer = ""
  let count = 0
  for (const read of reads) {
    buffer += decoder.decode(read, { stream: true })
    let at
    while ((at = buffer.indexOf("\n\n")) !== -1) {
      const event = buffer.slice(0, at)
      buffer = buffer.slice(at + 2)
      const data = event.slice(6)
      if (data !== "[DONE]") {
        JSON.parse(data)
        count++
      }
    }
  }
  return count
}

const sseOnly = () =>
  Effect.runPromise(
    Stream.fromIterable(reads).pipe(Sse.decode(), Stream.runCount)
  )

const fakeClient = HttpClient.make((request) =>
  Effect.sync(() => {
    let i = 0
    const stream = new ReadableStream({
      pull(controller) {
        if (i < reads.length) controller.enqueue(reads[i++])
        else controller.close()
      }
    })
    return HttpClientResponse.fromWeb(request, new Response(stream, { headers: { "content-type": "text/event-stream" } }))
  })
)
const adapter = OpenAiCompatible.layer({ baseUrl: "http://bench.invalid/v1" }).pipe(Layer.provide(Layer.succeed(HttpClient.HttpClient, fakeClient)))
const request = ChatRequest.make({ model: "bench", messages: [ChatRequest.user("go")] })
const full = () =>
  Effect.runPromise(LanguageModel.stream(request).pipe(Stream.runCount, Effect.provide(adapter)))

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
const measure = async (name, f) => {
  await f()
  const times = []
  let count = 0
  for (let r = 0; r < RUNS; r++) {
    const start = performance.now()
    count = await f()
    times.push(performance.now() - start)
  }
  const ms = median(times)
  return { name, ms, count, eventsPerSecond: Math.round(EVENTS / (ms / 1000)), mbPerSecond: +(body.length / 1048576 / (ms / 1000)).toFixed(1) }
}

const results = []
results.push(await measure("floor: split + JSON.parse", async () => floor()))
results.push(await measure("Sse.decode (events only)", sseOnly))
results.push(await measure("OpenAiCompatible.stream (Sse + chunk decode + guard)", full))
console.log(`body: ${(body.length / 1048576).toFixed(1)} MiB, ${EVENTS} events, ${reads.length} reads of 1-16 KiB; median of ${RUNS} runs; node ${process.version}`)
for (const r of results) {
  console.log(`${r.name.padEnd(56)} ${r.ms.toFixed(0).padStart(6)} ms  ${String(r.eventsPerSecond).padStart(9)} events/s  ${String(r.mbPerSecond).padStart(6)} MB/s  x${(r.ms / results[0].ms).toFixed(2)} floor  (${r.count} out)`)
}
