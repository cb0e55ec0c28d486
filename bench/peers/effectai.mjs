// @effect/ai over Chat Completions: @effect/ai-openrouter pointed at the load server, LanguageModel.streamText,
// over @effect/platform-node's NodeHttpClient.layerUndici, as Sluice is measured (the versions
// @effect/ai-openrouter 0.10 supports, from bench/peers/node_modules). EFFECTAI_HTTP=fetch uses
// FetchHttpClient instead (one run each: bulk ~43 s, one event per write ~15 s, against ~37 s and ~47 s).
import { LanguageModel } from "@effect/ai"
import { OpenRouterClient, OpenRouterLanguageModel } from "@effect/ai-openrouter"
import { FetchHttpClient } from "@effect/platform"
import { NodeHttpClient } from "@effect/platform-node"
import { Effect, Layer, ManagedRuntime, Redacted, Stream } from "effect"
import { MODEL } from "../lib/wire.mjs"

export const formats = ["openai"]

class Stop {}

export const make = async ({ port }) => {
  const runtimes = {}
  const runtime = (mode) =>
    (runtimes[mode] ??= ManagedRuntime.make(
      OpenRouterLanguageModel.layer({ model: MODEL }).pipe(
        Layer.provide(OpenRouterClient.layer({ apiUrl: `http://127.0.0.1:${port}/${mode}/v1`, apiKey: Redacted.make("bench") })),
        Layer.provide(process.env.EFFECTAI_HTTP === "fetch" ? FetchHttpClient.layer : NodeHttpClient.layerUndici)
      )
    ))
  const stream = (mode, onDelta) =>
    runtime(mode).runPromise(
      LanguageModel.streamText({ prompt: "go" }).pipe(
        Stream.runForEachChunk((chunk) => {
          for (const part of chunk) {
            if (part.type === "text-delta" && part.delta !== "" && onDelta(part.delta) === false) return Effect.fail(new Stop())
          }
          return Effect.void
        }),
        Effect.catchIf((e) => e instanceof Stop, () => Effect.void)
      )
    )
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
