// The floor: Node's `http`, a streaming TextDecoder, split on blank lines, JSON.parse of each event's data.
// The least any client that hands out typed objects must do.
import http from "node:http"
import { MODEL } from "../lib/wire.mjs"

const paths = {
  openai: "/v1/chat/completions",
  anthropic: "/v1/messages",
  gemini: `/v1beta/models/${MODEL}:streamGenerateContent?alt=sse`
}

export const formats = ["openai", "anthropic", "gemini"]

export const make = async ({ port }) => {
  const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity })
  const payload = JSON.stringify({ model: MODEL, messages: [{ role: "user", content: "go" }], stream: true })

  /** Streams one answer; `onDelta(text)` for each event with text, returns false to stop early. */
  const stream = (mode, format, onDelta) =>
    new Promise((resolve, reject) => {
      const separator = format === "gemini" ? "\r\n\r\n" : "\n\n"
      const req = http.request(
        { host: "127.0.0.1", port, method: "POST", path: `/${mode}${paths[format]}`, agent, headers: { "content-type": "application/json" } },
        (res) => {
          const decoder = new TextDecoder()
          let buffer = ""
          let events = 0
          let stopped = false
          res.on("data", (bytes) => {
            if (stopped) return
            buffer += decoder.decode(bytes, { stream: true })
            let at
            while ((at = buffer.indexOf(separator)) !== -1) {
              const event = buffer.slice(0, at)
              buffer = buffer.slice(at + separator.length)
              const data = event.slice(event.indexOf("data: ") + 6)
              if (data === "[DONE]") continue
              const json = JSON.parse(data)
              events++
              const text = format === "openai"
                ? json.choices[0]?.delta?.content
                : format === "anthropic"
                ? json.delta?.text
                : json.candidates?.[0]?.content?.parts?.[0]?.text
              if (text !== undefined && text !== "" && onDelta(text) === false) {
                stopped = true
                req.destroy()
                return resolve(events)
              }
            }
          })
          res.on("end", () => resolve(events))
          res.on("error", (e) => (stopped ? resolve(events) : reject(e)))
        }
      )
      req.on("error", reject)
      req.end(payload)
    })

  return {
    run: async ({ mode, format }) => {
      let deltas = 0
      await stream(mode, format, () => void deltas++)
      return { deltas }
    },
    first: async ({ format }) => {
      let latency
      await stream("first", format, (text) => {
        latency = process.hrtime.bigint() - BigInt(text)
        return false
      })
      return Number(latency)
    },
    concurrent: async ({ streams, format }) => {
      const ttfts = []
      let deltas = 0
      await Promise.all(Array.from({ length: streams }, () => {
        const start = performance.now()
        let first = true
        return stream("small", format, () => {
          deltas++
          if (first) {
            first = false
            ttfts.push(performance.now() - start)
          }
        })
      }))
      return { deltas, ttfts }
    }
  }
}
