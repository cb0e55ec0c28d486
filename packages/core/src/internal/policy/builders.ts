/**
 * The builder of a stream-level policy (usable on a stream or a service); the two shapes a policy takes are in `Policy`.
 * @internal
 */
import * as Effect from "effect/Effect"
import { hasProperty } from "effect/Predicate"
import * as Stream from "effect/Stream"
import type * as Adapter from "../../Adapter.js"
import type { Completion } from "../../Completion.js"
import * as LanguageModel from "../../LanguageModel.js"
import type { LlmError } from "../../LlmError.js"
import type { StreamEvent } from "../../StreamEvent.js"
import type { StreamPolicy } from "../../Policy.js"
import { unwrap } from "../unwrap.js"
import { fromContext, type PolicyContext, watched } from "./context.js"

/** The provider and model a stream-level policy wraps (for errors), when known. */
export type Site = Adapter.Site

const unknownSite: Site = { provider: "unknown", model: "unknown" }

/**
 * How a stream-level policy runs: `inner` starts the stream it wraps with the record it chooses (the one
 * it was given, extended with its own fields), so nothing is provided per read.
 */
export type OnStream = <R>(
  inner: (context: PolicyContext) => Stream.Stream<StreamEvent, LlmError, R>,
  site: Site,
  context: PolicyContext
) => Stream.Stream<StreamEvent, LlmError, R>

/** How a stream-level policy runs over `complete`: `inner` makes the call with the record it chooses. */
export type OnComplete = (
  inner: (context: PolicyContext) => Effect.Effect<Completion, LlmError>,
  site: Site,
  context: PolicyContext
) => Effect.Effect<Completion, LlmError>

/** Builds a policy usable on a stream or on a service. */
export const streamPolicy = (onStream: OnStream, onComplete?: OnComplete): StreamPolicy => {
  function policy<Self extends Stream.Stream<StreamEvent, LlmError, unknown> | LanguageModel.Service>(
    self: Self
  ): StreamPolicy.Result<Self>
  function policy<R>(
    self: Stream.Stream<StreamEvent, LlmError, R> | LanguageModel.Service
  ): Stream.Stream<StreamEvent, LlmError, R> | LanguageModel.Service {
    if (hasProperty(self, Stream.StreamTypeId)) {
      const stream = self
      // A bare stream knows nothing of the record: a stage honours it, and what it cannot (the attempt
      // log, the deadline…) is provided to the stream in the fiber, for a service's `stream` inside.
      return unwrap(Effect.map(Effect.context<never>(), (fiber) => {
        const context = fromContext(fiber)
        return onStream((inner) => watched(stream, inner), unknownSite, context)
      }))
    }
    const service = self
    return LanguageModel.make({
      provider: service.provider,
      capabilities: service.capabilities,
      streamWith: (request, context) =>
        onStream((inner) => service.streamWith(request, inner), { provider: service.provider, model: request.model }, context),
      completeWith: onComplete === undefined
        ? service.completeWith
        : (request, context) =>
          onComplete((inner) => service.completeWith(request, inner), { provider: service.provider, model: request.model }, context)
    })
  }
  return policy
}
