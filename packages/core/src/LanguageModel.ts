/**
 * The language-model service: one streaming and one non-streaming call, the same for every provider.
 *
 * @example
 * ```ts
 * import { Effect, Stream } from "effect"
 * import { ChatRequest, LanguageModel } from "@sluice/core"
 * const program = LanguageModel.stream({ model: "gpt-4o-mini", messages: [ChatRequest.user("Hi")] }).pipe(
 *   Stream.runForEach((event) => event._tag === "TextDelta" ? Effect.sync(() => process.stdout.write(event.text)) : Effect.void)
 * )
 * ```
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import type { Pipeable } from "effect/Pipeable"
import type * as Stream from "effect/Stream"
import type { PolicyContext } from "./Adapter.js"
import type { ChatRequest } from "./ChatRequest.js"
import type { Completion } from "./Completion.js"
import * as internal from "./internal/languageModel.js"
import * as internalUnwrap from "./internal/unwrap.js"
import type { LlmError } from "./LlmError.js"
import type { StreamEvent } from "./StreamEvent.js"

/**
 * What a provider can do beyond plain chat, as policies need to know it.
 * @since 0.1.0
 * @category models
 */
export interface Capabilities {
  /**
   * How a partial answer can be continued: `"prefill"` when a final assistant message marked
   * `prefix: true` is continued by the model itself (Anthropic, DeepSeek's prefix flag),
   * `"instruction"` when only a follow-up user message can ask for the rest.
   */
  readonly continuation: "prefill" | "instruction"
}

/**
 * What a provider adapter implements (and what every request-level policy returns). Policies call
 * `streamWith` / `completeWith` with the policy context (`Adapter.PolicyContext`); `stream` and `complete`
 * are those with the context in the fiber (`Adapter.current`: the `Policy.Attempts` and span you provided).
 * Build one with `make` or `fromStream`, not by copying another (`{ ...service, stream }` would leave
 * `streamWith`, which policies call, as it was).
 * @since 0.1.0
 * @category models
 */
export interface Service extends Pipeable {
  /** The provider's name, as errors and metrics report it (e.g. "openai", "anthropic"). */
  readonly provider: string
  readonly capabilities: Capabilities
  /** Streams the answer; fails with a typed error, never ends silently short. */
  readonly stream: (request: ChatRequest) => Stream.Stream<StreamEvent, LlmError>
  /** Makes the non-streaming call. */
  readonly complete: (request: ChatRequest) => Effect.Effect<Completion, LlmError>
  /** `stream` with the policy context handed down explicitly: what policies call on the services they wrap. */
  readonly streamWith: (request: ChatRequest, context: PolicyContext) => Stream.Stream<StreamEvent, LlmError>
  /** `complete` with the policy context handed down explicitly. */
  readonly completeWith: (request: ChatRequest, context: PolicyContext) => Effect.Effect<Completion, LlmError>
}

/**
 * The service tag.
 * @since 0.1.0
 * @category tags
 */
export class LanguageModel extends Context.Tag("@sluice/core/LanguageModel")<LanguageModel, Service>() {}

/**
 * Streams a completion from the model in context.
 * @since 0.1.0
 * @category accessors
 */
export const stream = (request: ChatRequest): Stream.Stream<StreamEvent, LlmError, LanguageModel> =>
  internalUnwrap.unwrap(Effect.map(LanguageModel, (model) => model.stream(request)))

/**
 * Makes a non-streaming call to the model in context.
 * @since 0.1.0
 * @category accessors
 */
export const complete = (request: ChatRequest): Effect.Effect<Completion, LlmError, LanguageModel> =>
  Effect.flatMap(LanguageModel, (model) => model.complete(request))

/**
 * `Stream.unwrap` that sequences the stream after the effect instead of flattening a stream of streams,
 * so it adds nothing per chunk (`Stream.unwrap` pays a concatenation step on every chunk).
 * @since 0.1.0
 * @category constructors
 */
export const unwrap: <A, E, R, E2, R2>(effect: Effect.Effect<Stream.Stream<A, E, R>, E2, R2>) => Stream.Stream<A, E | E2, R | R2> =
  internalUnwrap.unwrap

/**
 * Builds a service that honours the policy context itself, as Sluice's adapters do (see `Adapter`): its
 * streams register every wait with the context's `abort` and report the events they hand on to its
 * `progress`; no stage is added. The result is pipeable into policies.
 * @since 0.1.0
 * @category constructors
 */
export const make: (parts: MakeParts) => Service = internal.make

/**
 * What `make` takes: the provider's name, its capabilities and the two calls that take the policy context.
 * @since 0.1.0
 * @category models
 */
export interface MakeParts extends Pick<Service, "provider" | "streamWith" | "completeWith"> {
  readonly capabilities?: Capabilities | undefined
}

/**
 * Builds a service from a stream and a call of your own, which know nothing of policies: a stage around
 * each stream reports its events to the policies over it and ends it when a deadline passes (racing its
 * reads), and the rest of the policy context is in the fiber the stream and the call run in (so a
 * service's `stream` or `complete` called inside still records its attempts, keeps the connect bound…).
 * @since 0.1.0
 * @category constructors
 */
export const fromStream: (parts: FromStreamParts) => Service = internal.fromStream

/**
 * What `fromStream` takes: the provider's name, its capabilities and a stream and a call of your own.
 * @since 0.1.0
 * @category models
 */
export interface FromStreamParts extends Pick<Service, "provider" | "stream" | "complete"> {
  readonly capabilities?: Capabilities | undefined
}
