// The Vercel AI SDK: streamText with @ai-sdk/openai-compatible, for-await over fullStream.
import { createOpenAICompatible } from "@ai-sdk/openai-compatible"
import { streamText } from "ai"
import { MODEL } from "../lib/wire.mjs"

export const formats = ["openai"]

export const make = async ({ port }) => {
  const models = {}
  const model = (mode) =>
    (models[mode] ??= createOpenAICompatible({ name: "bench", baseURL: `http://127.0.0.1:${port}/${mode}/v1`, apiKey: "bench", includeUsage: true })
      .chatModel(MODEL))
  const stream = async (mode, onDelta) => {
    const controller = new AbortController()
    const result = streamText({ model: model(mode), prompt: "go", maxRetries: 0, abortSignal: controller.signal })
    for await (const part of result.fullStream) {
      if (part.type === "error") throw part.error
      if (part.type === "text-delta" && part.text !== "" && onDelta(part.text) === false) {
        controller.abort()
        break
      }
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
