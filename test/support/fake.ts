/** Hand-made services and streams for policy unit tests. */
import { type ChatRequest, LanguageModel, LlmError, StreamEvent } from "@sluice/core"
import { Effect, Stream } from "effect"

export const site = { provider: "fake", model: "m" }

export const request: ChatRequest.ChatRequest = { model: "m", messages: [{ role: "user", content: "hi" }] }

/** The events of a complete answer: one delta per word, a finish and usage. */
export const answer = (text: string, reason: StreamEvent.FinishReason = "stop"): Array<StreamEvent.StreamEvent> => [
  ...(text.match(/\S+\s*/g) ?? []).map(StreamEvent.textDelta),
  StreamEvent.finish(reason, reason),
  StreamEvent.usage({ inputTokens: 3, outputTokens: 4, totalTokens: 7 })
]

/** A service whose n-th call (from 1) streams what `script` says; `calls` counts them. */
export const fake = (
  script: (call: number, request: ChatRequest.ChatRequest) => Stream.Stream<StreamEvent.StreamEvent, LlmError.LlmError>,
  options: { readonly provider?: string; readonly continuation?: "prefill" | "instruction" } = {}
) => {
  const state = { calls: 0, requests: [] as Array<ChatRequest.ChatRequest> }
  const service = LanguageModel.fromStream({
    provider: options.provider ?? "fake",
    capabilities: { continuation: options.continuation ?? "instruction" },
    stream: (req) =>
      Stream.suspend(() => {
        state.calls++
        state.requests.push(req)
        return script(state.calls, req)
      }),
    complete: (req) =>
      Effect.suspend(() => {
        state.calls++
        state.requests.push(req)
        return script(state.calls, req).pipe(
          Stream.runCollect,
          Effect.map((events) => {
            const text = [...events].map((e) => (e._tag === "TextDelta" ? e.text : "")).join("")
            return { text, reasoning: "", toolCalls: [], usage: null, finishReason: "stop" as const }
          })
        )
      })
  })
  return { service, state }
}

export const serverError = (provider = "fake") => new LlmError.ServerError({ provider, model: "m", status: 503 })
