/**
 * Resilience policies as combinators. Stream-level policies (`guard`, `timeout`, `smooth`, …) apply
 * to a `Stream` of events or to every stream of a service; request-level policies (`retry`,
 * `failover`, `continuation`, `hedge`, `circuitBreaker`) wrap a `LanguageModel.Service`, because
 * they must issue the request again. Every policy has a hard cap on attempts.
 *
 * @example
 * import { Policy } from "@sluice/core"
 * const resilient = openai.pipe(
 *   Policy.timeout({ firstToken: "10 seconds", idle: "20 seconds" }), // per attempt
 *   Policy.retry({ maxAttempts: 3 }),
 *   Policy.failover([{ service: anthropic, model: "claude-sonnet-4-5" }]),
 *   Policy.timeout({ total: "2 minutes" }),                          // one deadline over everything
 *   Policy.guard({ failOn: ["length"] })
 * )
 *
 * @since 0.1.0
 */
export type { Attempt } from "./internal/policy/attempts.js"
export type { Middleware, StreamPolicy } from "./internal/policy/builders.js"
export { Attempts } from "./internal/policy/context.js"
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
