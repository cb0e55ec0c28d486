// The load server: a separate process on loopback answering every POST with a prebuilt SSE body, written as
// fast as the socket takes it (the next write waits only for 'drain').
//
//   POST /{mode}/v1/chat/completions                          OpenAI Chat Completions format
//   POST /{mode}/v1/messages                                  Anthropic Messages format
//   POST /{mode}/v1beta/models/{model}:streamGenerateContent  Gemini format (CRLF line ends)
//
// mode: bulk  — the 100,000-event answer in writes of 1-16 KiB
//       event — the same answer, one SSE event per write (one HTTP chunk each)
//       warm  — a 10,000-delta answer in bulk writes (warm-up runs)
//       small — a 1,000-event answer in bulk writes (the concurrency test)
//       big   — 1,000,000 events in bulk writes, generated as it goes (the memory test)
//       first — one content event whose text is the server's CLOCK_MONOTONIC time in ns when it was written,
//               then 500 ms of silence, then the end of the answer (the first-token latency test)
//
// Prints {"port":N} on stdout once listening. Run by bench/run.mjs; stops when its parent goes.
import http from "node:http"
import { body, DELTAS, formats } from "./lib/wire.mjs"

const FORMATS = ["openai", "anthropic", "gemini"]
const bodies = {}
for (const format of FORMATS) {
  bodies[format] = { full: body(format, DELTAS), warm: body(format, 10_000), small: body(format, 1_000 - formats[format].events(0)) }
}

const formatOf = (url) =>
  url.includes("/chat/completions") ? "openai" : url.includes("/v1/messages") ? "anthropic" : url.includes(":streamGenerateContent") ? "gemini" : undefined

/** Writes `bytes` cut at `cuts`, waiting for 'drain' when the socket's buffer is full. */
const pump = (res, bytes, cuts, then) => {
  let i = 0
  const go = () => {
    while (i < cuts.length - 1) {
      const ok = res.write(bytes.subarray(cuts[i], cuts[i + 1]))
      i++
      if (!ok) return void res.once("drain", go)
    }
    then()
  }
  go()
}

/** 1,000,000 text deltas (1,000,003 events): the head, a 100,000-delta block written 10 times in bulk cuts, the tail. */
const bigParts = {}
const bigOf = (format) => {
  if (bigParts[format] !== undefined) return bigParts[format]
  const f = formats[format]
  const enc = (xs) => Buffer.from(xs.join(""))
  const deltas = []
  for (let i = 0; i < 100_000; i++) deltas.push(f.delta(i))
  const middle = enc(deltas)
  const cuts = [0]
  let state = 7
  const random = () => ((state = (state * 1103515245 + 12345) % 2147483648) / 2147483648)
  for (let at = 0; at < middle.length;) {
    at = Math.min(middle.length, at + 1024 + Math.floor(random() * 15 * 1024))
    cuts.push(at)
  }
  bigParts[format] = { head: enc(f.head(format === "openai" ? "" : undefined)), middle, cuts, tail: enc(f.tail(1_000_000)), repeats: 10 }
  return bigParts[format]
}

const server = http.createServer((req, res) => {
  const format = formatOf(req.url)
  const mode = req.url.split("/")[1]
  req.resume()
  req.on("end", () => {
    if (req.method !== "POST" || format === undefined) {
      res.writeHead(404, { "content-type": "application/json" })
      return void res.end(JSON.stringify({ error: { message: `no route for ${req.method} ${req.url}` } }))
    }
    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" })
    let closed = false
    res.on("close", () => (closed = true))
    const end = () => res.end()
    switch (mode) {
      case "bulk":
      case "event": {
        const b = bodies[format].full
        return pump(res, b.bytes, b.cuts[mode], end)
      }
      case "warm":
      case "small": {
        const b = bodies[format][mode]
        return pump(res, b.bytes, b.cuts.bulk, end)
      }
      case "big": {
        const big = bigOf(format)
        res.write(big.head)
        let n = 0
        const next = () => {
          if (closed) return
          if (n++ < big.repeats) pump(res, big.middle, big.cuts, next)
          else res.end(big.tail)
        }
        return next()
      }
      case "first": {
        const f = formats[format]
        // Headers and the first event leave in one write (Node sends the head with the first chunk).
        const stamp = String(process.hrtime.bigint())
        const head = f.head(stamp)
        res.write(head.join(""))
        const timer = setTimeout(() => {
          if (!closed) res.end(f.tail(1).join(""))
        }, 500)
        res.on("close", () => clearTimeout(timer))
        return
      }
      default:
        res.end()
    }
  })
})
server.keepAliveTimeout = 60_000
server.headersTimeout = 0
server.requestTimeout = 0
server.listen({ port: Number(process.env.PORT ?? 0), host: "127.0.0.1", backlog: 4096 }, () => {
  process.stdout.write(JSON.stringify({ port: server.address().port }) + "\n")
})
process.on("disconnect", () => process.exit(0))
process.stdin.on("end", () => process.exit(0))
process.stdin.resume()
