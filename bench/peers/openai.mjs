// The official `openai` SDK: chat.completions.create({ stream: true }) and for-await over the chunks.
import OpenAI from "openai"
import { MODEL } from "../lib/wire.mjs"

export const formats = ["openai"]

export const make = async ({ port }) => {
  const clients = {}
  const client = (mode) =>
    (clients[mode] ??= new OpenAI({ baseURL: `http://127.0.0.1:${port}/${mode}/v1`, apiKey: "bench", maxRetries: 0, timeout: 600_000 }))
  const stream = async (mode, onDelta) => {
    const s = await client(mode).chat.completions.create({
      model: MODEL,
      messages: [{ role: "user", content: "go" }],
      stream: true,
      stream_options: { include_usage: true }
    })
    for await (const chunk of s) {
      const text = chunk.choices[0]?.delta?.content
      if (text !== undefined && text !== null && text !== "" && onDelta(text) === false) break
    }
  }
  return {
    run: async ({ mode }) => {
      let deltas = 0
      await stream(mode, () => void deltas++)
      return { deltas }
    },
    first: async () => {
      let latency
      await stream("first", (text) => {
        latency = process.hrtime.bigint() - BigInt(text)
        return false
      })
      return Number(latency)
    },
    concurrent: async ({ streams }) => {
      const ttfts = []
      let deltas = 0
      await Promise.all(Array.from({ length: streams }, () => {
        const start = performance.now()
        let first = true
        return stream("small", () => {
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
