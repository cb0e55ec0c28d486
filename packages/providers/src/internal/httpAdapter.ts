/**
 * The one adapter core. Every provider adapter does the same: check the request, encode and send it, stream
 * the answer through the provider's wire decoder (or read a whole JSON answer), fold a non-streamed answer
 * under the finish-reason guard, and offer the service as a Layer, with its options or read from `Config`.
 * An adapter fills in only what is its provider's own (the emulator's `Renderer` is the same shape on the
 * server side): a new provider is a request encoder, a wire decoder and a dozen lines of `HttpAdapter.make`.
 * @internal
 */
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import type * as UrlParams from "@effect/platform/UrlParams"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import { ChatRequest, Completion, LanguageModel, LlmError, type StreamEvent, type WireDecoder } from "@sluice/core"
import * as Http from "./httpCall.js"
import type { Site } from "./httpFailure.js"
import type { JsonObject } from "./wireChecks.js"

/** What an adapter fills in: only what is its provider's own. */
export interface Spec {
  /** The name errors and metrics use. */
  readonly provider: string
  /** What policies need to know of the provider (every adapter built here honours the policy context). */
  readonly capabilities: LanguageModel.Capabilities
  /** Where a request goes, streamed or not. */
  readonly url: (request: ChatRequest.ChatRequest, stream: boolean) => string
  /** A request's query parameters (Gemini's `alt=sse`); none when absent. */
  readonly urlParams?: ((stream: boolean) => UrlParams.Input) | undefined
  /** The request headers besides `accept` (which they override), the key's included. */
  readonly headers: Readonly<Record<string, string>>
  /** The request body, or why the request cannot be expressed in the provider's format. */
  readonly encode: (request: ChatRequest.ChatRequest, stream: boolean) => Either.Either<JsonObject, string>
  /** A wire decoder for one streamed response. */
  readonly decoder: (site: Site) => WireDecoder.WireDecoder
  /**
   * The events a whole JSON answer stands for, in a stream's order: what the non-streamed call folds, and
   * what a stream hands on when a server answered it with one (a gateway that ignored `stream`).
   */
  readonly toEvents: (site: Site, json: unknown) => Either.Either<ReadonlyArray<StreamEvent.StreamEvent>, LlmError.LlmError>
  /** Request headers to redact in traces besides @effect/platform's defaults (a key header of the provider's own). */
  readonly redactHeaders?: ReadonlyArray<string> | undefined
  /** What no failure or span may show: the key. */
  readonly secrets: ReadonlyArray<string>
  /** The finish-reason guard (default on): an answer without a finish reason fails with `IncompleteStream`. */
  readonly guard?: boolean | undefined
  /** Bound on one SSE event, in characters (default 10 MiB). */
  readonly maxEventSize?: number | undefined
}

/** A request Sluice refuses to send, as `InvalidRequest`: one code for every provider. */
const invalid = (site: Site, reason: string): LlmError.LlmError =>
  new LlmError.InvalidRequest({ provider: site.provider, model: site.model, code: "invalid-request", providerMessage: reason })

/** The finish-reason guard for a non-streamed answer: one without a finish reason is `IncompleteStream`. */
const guarded = (site: Site, completion: Completion.Completion, guard: boolean): Effect.Effect<Completion.Completion, LlmError.LlmError> =>
  guard && completion.finishReason === null
    ? Effect.fail(new LlmError.IncompleteStream({ provider: site.provider, model: site.model, ending: "eof", partial: completion }))
    : Effect.succeed(completion)

/** Builds an adapter's service from an `HttpClient`. */
export const make = (adapter: Spec): Effect.Effect<LanguageModel.Service, never, HttpClient.HttpClient> =>
  Effect.map(HttpClient.HttpClient, (client) => {
    const guard = adapter.guard ?? true
    const site = (request: ChatRequest.ChatRequest): Site => ({ provider: adapter.provider, model: request.model, secrets: adapter.secrets })

    const httpRequest = (where: Site, request: ChatRequest.ChatRequest, stream: boolean): Either.Either<HttpClientRequest.HttpClientRequest, LlmError.LlmError> => {
      // Checked before any network call: a caller's mistake, or a request the format cannot carry, is a clear InvalidRequest.
      const problem = ChatRequest.problem(request)
      const body = problem === undefined ? adapter.encode(request, stream) : Either.left(problem)
      if (Either.isLeft(body)) return Either.left(invalid(where, body.left))
      const post = HttpClientRequest.post(adapter.url(request, stream))
      return Either.right(
        (adapter.urlParams === undefined ? post : HttpClientRequest.setUrlParams(post, adapter.urlParams(stream))).pipe(
          HttpClientRequest.setHeaders({ accept: stream ? "text/event-stream" : "application/json", ...adapter.headers }),
          HttpClientRequest.bodyUnsafeJson(body.right)
        )
      )
    }

    const toCompletion = (where: Site, json: unknown): Effect.Effect<Completion.Completion, LlmError.LlmError> =>
      Either.match(adapter.toEvents(where, json), {
        onLeft: Effect.fail,
        onRight: (events) => guarded(where, Completion.fromEvents(events), guard)
      })

    return LanguageModel.make({
      provider: adapter.provider,
      capabilities: adapter.capabilities,
      streamWith: (request, context) =>
        Stream.suspend(() => {
          const where = site(request)
          const req = httpRequest(where, request, true)
          if (Either.isLeft(req)) return Stream.fail(req.left)
          return Http.stream(client, where, req.right, adapter.decoder(where), {
            guard,
            maxEventSize: adapter.maxEventSize,
            redactHeaders: adapter.redactHeaders,
            answer: (json) => adapter.toEvents(where, json)
          }, context)
        }),
      completeWith: (request, context) =>
        Effect.suspend(() => {
          const where = site(request)
          const req = httpRequest(where, request, false)
          if (Either.isLeft(req)) return Effect.fail(req.left)
          return Http.completion(client, where, req.right, (json) => toCompletion(where, json), context, adapter.redactHeaders)
        })
    })
  })

/** An adapter's `layer`: its `make` as a Layer. */
export const layer = <O>(make: (options: O) => Effect.Effect<LanguageModel.Service, never, HttpClient.HttpClient>) =>
(options: O): Layer.Layer<LanguageModel.LanguageModel, never, HttpClient.HttpClient> => Layer.effect(LanguageModel.LanguageModel, make(options))

/** The options `layerConfig` also takes as `Config`s: the key and the base URL. */
type FromConfig = "apiKey" | "baseUrl"

/** `layerConfig`'s options: an adapter's own, its key and base URL each a value or a `Config` that reads it. */
export type ConfigOptions<O extends Connection> =
  & Omit<O, FromConfig>
  & { readonly [K in keyof Pick<O, FromConfig>]: O[K] | Config.Config<O[K]> }

/** What `layerConfig` needs of an adapter's options: a key and a base URL, either of them optional. */
interface Connection {
  readonly apiKey?: unknown
  readonly baseUrl?: unknown
}

/** Narrows by `Config.isConfig`, checked at run time (an adapter's option values are never `Config`s themselves). */
const isConfig = <A>(value: A | Config.Config<A>): value is Config.Config<A> => Config.isConfig(value)

/** A value, or the `Config` that reads it, as a `Config`. */
const config = <A>(value: A | Config.Config<A>): Config.Config<A> => (isConfig(value) ? value : Config.succeed(value))

/**
 * An adapter's `layerConfig`: its `make` as a Layer, the key and the base URL read first where they are
 * `Config`s (the key first: a missing key is the failure a user meets).
 */
export const layerConfig = <O extends Connection>(
  make: (options: Omit<O, FromConfig> & Pick<O, FromConfig>) => Effect.Effect<LanguageModel.Service, never, HttpClient.HttpClient>
) =>
(options: ConfigOptions<O>): Layer.Layer<LanguageModel.LanguageModel, ConfigError.ConfigError, HttpClient.HttpClient> =>
  Layer.effect(
    LanguageModel.LanguageModel,
    Effect.gen(function*() {
      const read: Pick<O, FromConfig> = { apiKey: yield* config(options.apiKey), baseUrl: yield* config(options.baseUrl) }
      return yield* make({ ...options, ...read })
    })
  )
