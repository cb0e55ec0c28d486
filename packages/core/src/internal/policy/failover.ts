/**
 * Failover across models and providers, routing by error class.
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import type { ChatRequest } from "../../ChatRequest.js"
import * as LanguageModel from "../../LanguageModel.js"
import * as LlmError from "../../LlmError.js"
import type { StreamEvent } from "../../StreamEvent.js"
import type { FailoverOptions, Middleware, Route } from "../../Policy.js"
import { deadlinePassed, listen, type PolicyContext } from "./context.js"
import { retry } from "./retry.js"

/** The implementation of `Policy.shouldFailover`. */
export const shouldFailover = (error: LlmError.LlmError): boolean => {
  switch (error._tag) {
    case "ContextLengthExceeded":
    case "AuthenticationFailed":
    case "CircuitOpen":
      return true
    case "InvalidRequest":
      return error.code === "content-filter" || /content|policy|safety|moderation/i.test(`${error.code ?? ""} ${error.providerMessage ?? ""}`)
    default:
      return LlmError.isRetryable(error)
  }
}

/** The implementation of `Policy.leaveAtOnce`. */
export const leaveAtOnce = (error: LlmError.LlmError): boolean =>
  error._tag === "Timeout" || error._tag === "CircuitOpen" || error._tag === "ContextLengthExceeded" ||
  error._tag === "AuthenticationFailed" || error._tag === "InvalidRequest" ||
  (error._tag === "TransportError" && error.partial === undefined && /could not be sent/.test(error.reason))

const failoverInfo = { kind: "failover" } as const

/** The implementation of `Policy.failover`. */
export const failover = (routes: ReadonlyArray<Route>, options: FailoverOptions = {}): Middleware => (self) => {
  const when = options.when ?? shouldFailover
  const candidates: ReadonlyArray<{ readonly service: LanguageModel.Service; readonly model: string | undefined }> = [
    { service: self, model: undefined },
    ...routes.map((route) => ({ service: route.service ?? self, model: route.model }))
  ].map(({ model, service }) => ({
    model,
    service: options.retry === undefined
      ? service
      : retry({
        ...options.retry,
        while: (error) => !leaveAtOnce(error) && (options.retry?.while ?? LlmError.isRetryable)(error)
      })(service)
  }))
  const requestFor = (request: ChatRequest, index: number): ChatRequest => {
    const model = candidates[index].model
    return model === undefined ? request : { ...request, model }
  }
  const lastFailure = (errors: ReadonlyArray<LlmError.LlmError>, error: LlmError.LlmError): LlmError.LlmError => {
    // When every route was skipped by its breaker, say when the first one reopens.
    const all = [...errors, error]
    const open = all.filter((e): e is LlmError.CircuitOpen => e._tag === "CircuitOpen")
    if (open.length === 0 || open.length < all.length) return error
    return open.reduce((earliest, e) => (e.reopensAt < earliest.reopensAt ? e : earliest))
  }

  const streamWith = (request: ChatRequest, context: PolicyContext) =>
    Stream.suspend(() => {
      const errors: Array<LlmError.LlmError> = []
      const failedOver: PolicyContext = { ...context, attempt: failoverInfo }
      const attempt = (index: number): Stream.Stream<StreamEvent, LlmError.LlmError> => {
        let emitted = false
        const service = candidates[index].service
        return service.streamWith(requestFor(request, index), listen(index === 0 ? context : failedOver, () => (emitted = true))).pipe(
          Stream.catchAll((error) => {
            if (emitted || index + 1 >= candidates.length || !when(error) || deadlinePassed(context) !== undefined) {
              return Stream.fail(lastFailure(errors, error))
            }
            errors.push(error)
            return attempt(index + 1)
          })
        )
      }
      return attempt(0)
    })

  const completeWith = (request: ChatRequest, context: PolicyContext) =>
    Effect.suspend(() => {
      const errors: Array<LlmError.LlmError> = []
      const failedOver: PolicyContext = { ...context, attempt: failoverInfo }
      const attempt = (index: number): ReturnType<LanguageModel.Service["complete"]> =>
        candidates[index].service.completeWith(requestFor(request, index), index === 0 ? context : failedOver).pipe(
          Effect.catchAll((error) => {
            if (index + 1 >= candidates.length || !when(error)) return Effect.fail(lastFailure(errors, error))
            errors.push(error)
            return attempt(index + 1)
          })
        )
      return attempt(0)
    })

  return LanguageModel.make({ provider: self.provider, capabilities: self.capabilities, streamWith, completeWith })
}
