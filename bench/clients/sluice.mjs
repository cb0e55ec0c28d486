// Sluice: LanguageModel.stream over the OpenAI-compatible, Anthropic or Gemini adapter, on
// NodeHttpClient.layerUndici, the finish-reason guard on (the adapters' default), the consumer counting
// events chunk by chunk. Imported from the workspace's built packages (root node_modules), with its effect.
// `policies: true` wraps the adapter in timeout + retry + failover + guard (+ metrics when Policy has it);
// `policies: "timeouts" | "retry+failover" | "guard" | "metrics"` in that part alone. A `run` may name its
// own `variant` ("bare", "full" or a part), so one process can alternate them (the policy-stack section).
import { NodeHttpClient } from "@effect/platform-node"
import { ChatRequest, LanguageModel, Policy } from "@sluice/core"
import { Anthropic, Gemini, OpenAiCompatible } from "@sluice/providers"
import { Effect, Layer, ManagedRuntime, Redacted, Stream } from "effect"
import { MODEL } from "../lib/wire.mjs"

export const formats = ["openai", "anthropic", "gemini"]

class Stop {}

/**
 * The policy stack measured against the bare adapter (`which: "full"`), or one part of it alone (for the
 * breakdown); returns the wrapped service and the names of the policies applied.
 */
export const policyStack = (service, which = "full") => {
  const parts = {
    "timeout(firstToken, idle)": (s) => s.pipe(Policy.timeout({ firstToken: "60 seconds", idle: "60 seconds" })),
    retry: (s) => s.pipe(Policy.retry({ maxAttempts: 3 })),
    failover: (s) => s.pipe(Policy.failover([{ model: `${MODEL}-fallback` }])),
    "timeout(total)": (s) => s.pipe(Policy.timeout({ total: "10 minutes" })),
    guard: (s) => s.pipe(Policy.guard()),
    // Outermost, as an application would put it: it sees every attempt (and makes the adapters record them).
    metrics: typeof Policy.metrics === "function" ? (s) => s.pipe(Policy.metrics({ onSummary: () => Effect.void })) : undefined
  }
  const groups = {
    full: Object.keys(parts),
    timeouts: ["timeout(firstToken, idle)", "timeout(total)"],
    "retry+failover": ["retry", "failover"],
    guard: ["guard"],
    metrics: ["metrics"],
    none: []
  }
  const applied = groups[which].filter((name) => parts[name] !== undefined)
  return { stacked: applied.reduce((s, name) => parts[name](s), service), applied }
}

export const make = async ({ port, policies = false }) => {
  const runtimes = {}
  let applied = []
  const makeLayer = (mode, format, variant) => {
    const origin = `http://127.0.0.1:${port}/${mode}`
    const apiKey = Redacted.make("bench")
    const make = format === "openai"
      ? OpenAiCompatible.make({ baseUrl: `${origin}/v1`, apiKey })
      : format === "anthropic"
      ? Anthropic.make({ baseUrl: origin, apiKey })
      : Gemini.make({ baseUrl: origin, apiKey })
    return Layer.effect(
      LanguageModel.LanguageModel,
      Effect.map(make, (service) => {
        if (variant === false) return service
        const which = variant === true ? "full" : variant
        const stack = policyStack(service, which)
        if (which === "full") applied = stack.applied
        return stack.stacked
      })
    )
  }
  // One HTTP client (undici dispatcher) for every route, as an application would have.
  const http = NodeHttpClient.layerUndici
  const variantOf = (variant) => (variant === undefined ? policies : variant === "bare" ? false : variant)
  const runtime = (mode, format, variant) =>
    (runtimes[`${mode}/${format}/${variant}`] ??= ManagedRuntime.make(makeLayer(mode, format, variant).pipe(Layer.provide(http))))
  const request = ChatRequest.make({ model: MODEL, messages: [ChatRequest.user("go")], maxTokens: 1024 })
  const stream = (mode, format, onDelta, variant = variantOf(undefined)) =>
    runtime(mode, format, variant).runPromise(
      LanguageModel.stream(request).pipe(
        Stream.runForEachChunk((chunk) => {
          for (const event of chunk) {
            if (event._tag === "TextDelta" && onDelta(event.text) === false) return Effect.fail(new Stop())
          }
          return Effect.void
        }),
        Effect.catchIf((e) => e instanceof Stop, () => Effect.void)
      )
    )
  return {
    get applied() {
      return applied
    },
    run: async ({ mode, format, variant }) => {
      let deltas = 0
      await stream(mode, format, () => void deltas++, variantOf(variant))
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
