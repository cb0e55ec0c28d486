/**
 * The adapter for the Gemini API (Google AI Studio): `POST {baseUrl}/v1beta/models/{model}:streamGenerateContent?alt=sse`
 * streamed, `:generateContent` not.
 *
 * The key goes in the `x-goog-api-key` header, never in the URL (`?key=` would land in logs and traces),
 * and the header is added to @effect/platform's redacted names for the request, so it never becomes a span
 * attribute. Text, thought summaries (as reasoning), function calls, finish reasons and cumulative
 * `usageMetadata` map to Sluice's events; a blocked prompt (`promptFeedback.blockReason`) is an `InvalidRequest`.
 * The stream has no end marker: it ends at EOF, and the guard relies on the finish reason.
 *
 * @example
 * ```ts
 * import { NodeHttpClient } from "@effect/platform-node"
 * import { Config, Effect, Layer, Stream } from "effect"
 * import { ChatRequest, LanguageModel } from "@sluice/core"
 * import { Gemini } from "@sluice/providers"
 *
 * const Flash = Gemini.layerConfig({ apiKey: Config.redacted("GEMINI_API_KEY") })
 * const program = LanguageModel.stream({ model: "gemini-2.5-flash", messages: [ChatRequest.user("Hi")] }).pipe(
 *   Stream.runForEach((e) => Effect.sync(() => e._tag === "TextDelta" && process.stdout.write(e.text))),
 *   Effect.provide(Flash.pipe(Layer.provide(NodeHttpClient.layerUndici)))
 * )
 * ```
 *
 * @since 0.1.0
 */
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import type * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Stream from "effect/Stream"
import { type Adapter, type ChatRequest, Completion, LanguageModel, LlmError, type StreamEvent } from "@sluice/core"
import * as GeminiRequest from "./internal/GeminiRequest.js"
import { GeminiStreamDecoder } from "./internal/GeminiStreamDecoder.js"
import * as Http from "./internal/httpCall.js"
import type { Site } from "./internal/httpFailure.js"

/**
 * The API's base URL, without the version (as in Google's SDK).
 * @since 0.1.0
 * @category constants
 */
export const defaultBaseUrl = "https://generativelanguage.googleapis.com"

/**
 * The header that carries the key; redacted in traces.
 * @since 0.1.0
 * @category constants
 */
export const apiKeyHeader = "x-goog-api-key"

/**
 * Options of the Gemini adapter.
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Sent as `x-goog-api-key`. */
  readonly apiKey: Redacted.Redacted<string>
  /** Default `https://generativelanguage.googleapis.com`. */
  readonly baseUrl?: string | undefined
  /** The API version in the path (default `v1beta`). */
  readonly apiVersion?: string | undefined
  /** Ask thinking models for thought summaries, streamed as reasoning (`thinkingConfig.includeThoughts`; default false: models without thinking reject it). */
  readonly includeThoughts?: boolean | undefined
  /** Extra request headers. */
  readonly headers?: Readonly<Record<string, string>> | undefined
  /** Extra top-level body fields, merged last (e.g. `safetySettings`). */
  readonly extraBody?: { readonly [key: string]: unknown } | undefined
  /** The name errors and metrics use (default "gemini"). */
  readonly provider?: string | undefined
  /** The finish-reason guard (default on): a stream that ends without a finish reason fails with `IncompleteStream`. */
  readonly guard?: boolean | undefined
  /** Bound on one SSE event, in characters (default 10 MiB). */
  readonly maxEventSize?: number | undefined
}

const redact = [apiKeyHeader]

/** `models/{model}`, keeping a `models/` or `tunedModels/` prefix the caller already wrote. */
const modelPath = (model: string): string => {
  const path = /^(models|tunedModels)\//.test(model) ? model : `models/${model}`
  return path.split("/").map(encodeURIComponent).join("/")
}

/**
 * Builds the service from an `HttpClient`.
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options): Effect.Effect<LanguageModel.Service, never, HttpClient.HttpClient> =>
  Effect.map(HttpClient.HttpClient, (client) => {
    const provider = options.provider ?? "gemini"
    const root = `${(options.baseUrl ?? defaultBaseUrl).replace(/\/+$/, "")}/${options.apiVersion ?? "v1beta"}`
    const secrets = [Redacted.value(options.apiKey)]
    const site = (request: ChatRequest.ChatRequest): Site => ({ provider, model: request.model, secrets })
    const guard = options.guard ?? true

    const httpRequest = (
      where: Site,
      request: ChatRequest.ChatRequest,
      stream: boolean
    ): Either.Either<HttpClientRequest.HttpClientRequest, LlmError.LlmError> => {
      // Checked before any network call: a caller's mistake is a clear InvalidRequest.
      const bad = Http.invalid(where, request)
      if (bad !== undefined) return Either.left(bad)
      return Either.map(
        Either.mapLeft(
          GeminiRequest.body(request, { includeThoughts: options.includeThoughts ?? false, extraBody: options.extraBody }),
          (reason) =>
            new LlmError.InvalidRequest({ provider: where.provider, model: where.model, code: "unsendable_request", providerMessage: reason })
        ),
        (body) =>
          HttpClientRequest.post(`${root}/${modelPath(request.model)}:${stream ? "streamGenerateContent" : "generateContent"}`).pipe(
            stream ? HttpClientRequest.setUrlParam("alt", "sse") : (req) => req,
            HttpClientRequest.setHeaders({
              accept: stream ? "text/event-stream" : "application/json",
              ...options.headers,
              [apiKeyHeader]: Redacted.value(options.apiKey)
            }),
            HttpClientRequest.bodyUnsafeJson(body)
          )
      )
    }

    const streamWith = (request: ChatRequest.ChatRequest, context: Adapter.PolicyContext): Stream.Stream<StreamEvent.StreamEvent, LlmError.LlmError> =>
      Stream.suspend(() => {
        const where = site(request)
        const req = httpRequest(where, request, true)
        if (Either.isLeft(req)) return Stream.fail(req.left)
        return Http.stream(client, where, req.right, new GeminiStreamDecoder(where), {
          guard,
          maxEventSize: options.maxEventSize,
          redactHeaders: redact,
          answer: (json) => answerEvents(where, json)
        }, context)
      })

    const completeWith = (request: ChatRequest.ChatRequest, context: Adapter.PolicyContext): Effect.Effect<Completion.Completion, LlmError.LlmError> =>
      Effect.suspend(() => {
        const where = site(request)
        const req = httpRequest(where, request, false)
        if (Either.isLeft(req)) return Effect.fail(req.left)
        return Http.completion(client, where, req.right, (json) => toCompletion(where, json, guard), context, redact)
      })

    return LanguageModel.make({ provider, capabilities: { continuation: "instruction" }, streamWith, completeWith })
  })

/**
 * Reads a non-streamed answer with the stream decoder (one `GenerateContentResponse` is one chunk), so both
 * paths agree; a JSON array of them (`streamGenerateContent` without `alt=sse`, from a gateway that dropped it)
 * is read chunk by chunk.
 */
const answerEvents = (site: Site, json: unknown): Either.Either<Array<StreamEvent.StreamEvent>, LlmError.LlmError> => {
  const decoder = new GeminiStreamDecoder(site)
  const events: Array<StreamEvent.StreamEvent> = []
  const chunks: ReadonlyArray<unknown> = Array.isArray(json) ? json : [json]
  for (const chunk of chunks) {
    const failure = decoder.onJson(chunk, events)
    if (failure !== undefined) return Either.left(failure)
  }
  decoder.end(events)
  return Either.right(events)
}

/** Reads a non-streamed answer into a completion. */
const toCompletion = (site: Site, json: unknown, guard: boolean): Effect.Effect<Completion.Completion, LlmError.LlmError> =>
  Either.match(answerEvents(site, json), {
    onLeft: Effect.fail,
    onRight: (events) => Http.guarded(site, Completion.fromEvents(events), guard)
  })

/**
 * The adapter as a Layer.
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options): Layer.Layer<LanguageModel.LanguageModel, never, HttpClient.HttpClient> =>
  Layer.effect(LanguageModel.LanguageModel, make(options))

/**
 * The adapter as a Layer, its key (and optionally base URL) read from `Config`, e.g. `Config.redacted("GEMINI_API_KEY")`.
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  options: Omit<Options, "apiKey" | "baseUrl"> & {
    readonly apiKey: Config.Config<Redacted.Redacted<string>>
    readonly baseUrl?: string | Config.Config<string> | undefined
  }
): Layer.Layer<LanguageModel.LanguageModel, ConfigError.ConfigError, HttpClient.HttpClient> =>
  Layer.effect(
    LanguageModel.LanguageModel,
    Effect.gen(function*() {
      const apiKey = yield* options.apiKey
      const baseUrl = options.baseUrl === undefined || typeof options.baseUrl === "string" ? options.baseUrl : yield* options.baseUrl
      return yield* make({ ...options, apiKey, baseUrl })
    })
  )
