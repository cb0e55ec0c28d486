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
import type * as HttpClient from "@effect/platform/HttpClient"
import type * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Redacted from "effect/Redacted"
import type { LanguageModel, LlmError, StreamEvent } from "@sluice/core"
import * as HttpAdapter from "./internal/httpAdapter.js"
import * as GeminiRequest from "./internal/GeminiRequest.js"
import { GeminiStreamDecoder } from "./internal/GeminiStreamDecoder.js"
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
export const make = (options: Options): Effect.Effect<LanguageModel.Service, never, HttpClient.HttpClient> => {
  const root = `${(options.baseUrl ?? defaultBaseUrl).replace(/\/+$/, "")}/${options.apiVersion ?? "v1beta"}`
  const key = Redacted.value(options.apiKey)
  return HttpAdapter.make({
    provider: options.provider ?? "gemini",
    capabilities: { continuation: "instruction" },
    url: (request, stream) => `${root}/${modelPath(request.model)}:${stream ? "streamGenerateContent" : "generateContent"}`,
    urlParams: (stream) => (stream ? { alt: "sse" } : {}),
    headers: { ...options.headers, [apiKeyHeader]: key },
    encode: (request) => GeminiRequest.body(request, { includeThoughts: options.includeThoughts ?? false, extraBody: options.extraBody }),
    decoder: (site) => new GeminiStreamDecoder(site),
    toEvents: answerEvents,
    redactHeaders: [apiKeyHeader],
    secrets: [key],
    guard: options.guard,
    maxEventSize: options.maxEventSize
  })
}

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

/**
 * The adapter as a Layer.
 * @since 0.1.0
 * @category layers
 */
export const layer = HttpAdapter.layer(make)

/**
 * The adapter as a Layer, its key (and optionally base URL) read from `Config`, e.g. `Config.redacted("GEMINI_API_KEY")`, or given.
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = HttpAdapter.layerConfig<Options>(make)
