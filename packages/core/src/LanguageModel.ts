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
import * as Channel from "effect/Channel"
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
  /**
   * True when the service's streams honour what policies pass in the context of `streamIn`, as Sluice's
   * adapters and its policies over them do: every wait (a request in flight, a pause before a retry) ends
   * as soon as the `Policy.Abort` fires, and every batch of events is reported to the `Policy.Progress`
   * as it is decoded. Policies then need no stage of their own on the stream (`timeout` aborts the wait
   * instead of racing every read); otherwise they watch the stream itself.
   */
  readonly policyAware?: boolean | undefined
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
  /**
   * `stream` with the context handed down explicitly: Sluice's policies call it on the services they wrap,
   * passing their attempt log, deadlines and aborts in `context` instead of providing them on every read.
   * Optional: policies over a service without it use `stream` with the context provided (same results,
   * more work per chunk).
   */
  readonly streamIn?: ((request: ChatRequest, context: Context.Context<never>) => Stream.Stream<StreamEvent, LlmError>) | undefined
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
 * `Stream.unwrap` that sequences the stream after the effect instead of flattening a stream of streams,
 * so it adds nothing per chunk (`Stream.unwrap` pays a concatenation step on every chunk).
 * @since 0.1.0
 * @category constructors
 */
export const unwrap = <A, E, R, E2, R2>(effect: Effect.Effect<Stream.Stream<A, E, R>, E2, R2>): Stream.Stream<A, E | E2, R | R2> =>
  Stream.fromChannel(Channel.unwrap(Effect.map(effect, Stream.toChannel)))

/**
 * Each `streamIn` that `make` was given, with the `stream` it was paired with: a copy of a service whose
 * `stream` was replaced (`{ ...service, stream }`) keeps the old `streamIn`, which must not bypass the new one.
 */
const pairs = new WeakMap<NonNullable<Service["streamIn"]>, Service["stream"]>()

/** The service's `streamIn`, if it still belongs with its `stream`. */
const ownStreamIn = (service: Service): Service["streamIn"] =>
  service.streamIn !== undefined && pairs.get(service.streamIn) === service.stream ? service.streamIn : undefined

/**
 * Streams from a service with an explicit context: through `streamIn` when the service has its own, else
 * `stream` with the context provided.
 * @since 0.1.0
 * @category accessors
 */
export const streamIn = (service: Service, request: ChatRequest, context: Context.Context<never>): Stream.Stream<StreamEvent, LlmError> => {
  const own = ownStreamIn(service)
  return own !== undefined ? own(request, context) : Stream.provideSomeContext(service.stream(request), context)
}

/**
 * True when policies may rely on the service honouring their context (`Capabilities.policyAware`, and
 * a `streamIn` of its own).
 * @since 0.1.0
 * @category accessors
 */
export const isPolicyAware = (service: Service): boolean =>
  service.capabilities.policyAware === true && ownStreamIn(service) !== undefined

/** The parts `make` takes: `stream`, `streamIn` or both. */
type Parts =
  & Pick<Service, "provider" | "complete">
  & { readonly capabilities?: Capabilities | undefined }
  & (
    | { readonly stream: Service["stream"]; readonly streamIn?: Service["streamIn"] }
    | { readonly stream?: Service["stream"] | undefined; readonly streamIn: NonNullable<Service["streamIn"]> }
  )

/**
 * Builds a service from its parts; the result is pipeable into request-level policies. Given only
 * `streamIn`, `stream` runs it with the context of the fiber that runs the stream.
 * @since 0.1.0
 * @category constructors
 */
export const make = (service: Parts): Service => {
  const within = service.streamIn
  const stream = service.stream ??
    (within === undefined
      ? () => Stream.die(new Error("LanguageModel.make: neither stream nor streamIn was given"))
      : (request: ChatRequest) => unwrap(Effect.map(Effect.context<never>(), (context) => within(request, context))))
  if (within !== undefined) pairs.set(within, stream)
  return {
    provider: service.provider,
    capabilities: service.capabilities ?? { continuation: "instruction" },
    stream,
    complete: service.complete,
    streamIn: within,
    pipe() {
      return pipeArguments(this, arguments)
    }
  }
}
