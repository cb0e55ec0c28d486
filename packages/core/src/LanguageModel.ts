/**
 * The language-model service: one streaming and one non-streaming call, the same for every provider.
 *
 * @example
 * import { Effect, Stream } from "effect"
 * import { ChatRequest, LanguageModel } from "@sluice/core"
 * const program = LanguageModel.stream({ model: "gpt-4o-mini", messages: [ChatRequest.user("Hi")] }).pipe(
 *   Stream.runForEach((event) => event._tag === "TextDelta" ? Effect.sync(() => process.stdout.write(event.text)) : Effect.void)
 * )
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import { type Pipeable, pipeArguments } from "effect/Pipeable"
import * as Stream from "effect/Stream"
import type { ChatRequest } from "./ChatRequest.js"
import type { Completion } from "./Completion.js"
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
 * What a provider adapter implements (and what every request-level policy returns).
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
  Stream.unwrap(Effect.map(LanguageModel, (model) => model.stream(request)))

/**
 * Makes a non-streaming call to the model in context.
 * @since 0.1.0
 * @category accessors
 */
export const complete = (request: ChatRequest): Effect.Effect<Completion, LlmError, LanguageModel> =>
  Effect.flatMap(LanguageModel, (model) => model.complete(request))

/**
 * Builds a service from its parts; the result is pipeable into request-level policies.
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  service: Omit<Service, "pipe" | "capabilities"> & { readonly capabilities?: Capabilities | undefined }
): Service => ({
  provider: service.provider,
  capabilities: service.capabilities ?? { continuation: "instruction" },
  stream: service.stream,
  complete: service.complete,
  pipe() {
    return pipeArguments(this, arguments)
  }
})
