/**
 * Resilience policies as combinators. Stream-level policies (`guard`, `timeout`, `smooth`, …) apply
 * to a `Stream` of events or to every stream of a service; request-level policies (`retry`,
 * `failover`, `continuation`, `hedge`, `circuitBreaker`) wrap a `LanguageModel.Service`, because
 * they must issue the request again. Every policy has a hard cap on attempts.
 *
 * @example
 * ```ts
 * import { NodeHttpClient } from "@effect/platform-node"
 * import { ChatRequest, Completion, Policy } from "@sluice/core"
 * import { Anthropic, OpenAiCompatible } from "@sluice/providers"
 * import { Config, Effect } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const openai = yield* OpenAiCompatible.make({
 *     baseUrl: "https://api.openai.com/v1",
 *     apiKey: yield* Config.redacted("OPENAI_API_KEY")
 *   })
 *   const anthropic = yield* Anthropic.make({ apiKey: yield* Config.redacted("ANTHROPIC_API_KEY") })
 *   const resilient = openai.pipe(
 *     Policy.timeout({ firstToken: "10 seconds", idle: "20 seconds" }), // per attempt
 *     Policy.retry({ maxAttempts: 3 }),
 *     Policy.failover([{ service: anthropic, model: "claude-sonnet-4-5" }]),
 *     Policy.timeout({ total: "2 minutes" }),                          // one deadline over everything
 *     Policy.guard({ failOn: ["length"] })
 *   )
 *   const request = ChatRequest.make({ model: "gpt-4o-mini", messages: [ChatRequest.user("Hi")] })
 *   return yield* Completion.fromStream(resilient.stream(request))
 * }).pipe(Effect.provide(NodeHttpClient.layerUndici))
 * ```
 *
 * @since 0.1.0
 */
export type { Attempt, Middleware, StreamPolicy } from "./internal/policy/core.js"
export {
  Abort,
  abortableSleep,
  AttemptInfo,
  Attempts,
  BodyProgress,
  ConnectTimeout,
  Deadline,
  deadlinePassed,
  listen,
  onAbort,
  Progress,
  recordAttempt,
  recordCall
} from "./internal/policy/core.js"
export * from "./internal/policy/continuation.js"
export * from "./internal/policy/failover.js"
export * from "./internal/policy/guard.js"
export * from "./internal/policy/hedge.js"
export * from "./internal/policy/retry.js"
export * from "./internal/policy/timeout.js"
export * from "./internal/policy/smooth.js"
export * from "./internal/policy/metrics.js"
export * from "./internal/policy/buffered.js"
export * from "./internal/policy/circuitBreaker.js"
