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
import type { Middleware } from "./builders.js"
import { deadlinePassed, listen, type PolicyContext } from "./context.js"
import { retry, type RetryOptions } from "./retry.js"

/**
 * A fallback: another service (default: the one being wrapped) and/or another model (default: the request's).
 * @since 0.1.0
 * @category models
 */
export interface Route {
  readonly service?: LanguageModel.Service | undefined
  readonly model?: string | undefined
}

/**
 * Options of `failover`.
 * @since 0.1.0
 * @category models
 */
export interface FailoverOptions {
  /** Retries on each route before moving on; errors that say "this route will not answer" leave at once. */
  readonly retry?: RetryOptions | undefined
  /** Which failures move on to the next route (default `shouldFailover`). */
  readonly when?: ((error: LlmError.LlmError) => boolean) | undefined
}

/**
 * The default routing rule: move on for anything the next route may answer — retryable failures,
 * a prompt too long for this model, credentials this provider refused, a content-policy rejection,
 * an open circuit — but not for a broken request or data the client could not decode.
 * @since 0.1.0
 * @category routing
 */
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

/**
 * Errors after which retrying the same route is pointless: it timed out or never answered, the prompt
 * does not fit, or its policy rejects the content — the next route is tried at once.
 * @since 0.1.0
 * @category routing
 */
export const leaveAtOnce = (error: LlmError.LlmError): boolean =>
  error._tag === "Timeout" || error._tag === "CircuitOpen" || error._tag === "ContextLengthExceeded" ||
  error._tag === "AuthenticationFailed" || error._tag === "InvalidRequest" ||
  (error._tag === "TransportError" && error.partial === undefined && /could not be sent/.test(error.reason))

const failoverInfo = { kind: "failover" } as const

/**
 * Tries each route in order while a failure comes before the first event and the routing rule allows;
 * the first route is the service being wrapped. At most one run per route (times its own retries).
 * @since 0.1.0
 * @category policies
 */
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
