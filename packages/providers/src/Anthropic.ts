/**
 * The adapter for Anthropic's Messages API (`POST {baseUrl}/v1/messages`), streamed over SSE and not.
 *
 * Text, extended thinking (as reasoning), tool calls and usage (`message_start` input plus cumulative
 * `message_delta` output) map to Sluice's events; an `error` event inside the stream is a
 * `ProviderStreamError`, retryable when its type is `overloaded_error`, `api_error`, `rate_limit_error` or
 * `timeout_error`; HTTP 529 is a `ServerError`.
 *
 * @example
 * ```ts
 * import { NodeHttpClient } from "@effect/platform-node"
 * import { Config, Effect, Layer, Stream } from "effect"
 * import { ChatRequest, LanguageModel } from "@sluice/core"
 * import { Anthropic } from "@sluice/providers"
 *
 * const Claude = Anthropic.layerConfig({ apiKey: Config.redacted("ANTHROPIC_API_KEY") })
 * const program = LanguageModel.stream({ model: "claude-sonnet-4-5", messages: [ChatRequest.user("Hi")] }).pipe(
 *   Stream.runForEach((e) => Effect.sync(() => e._tag === "TextDelta" && process.stdout.write(e.text))),
 *   Effect.provide(Claude.pipe(Layer.provide(NodeHttpClient.layerUndici)))
 * )
 * ```
 *
 * @since 0.1.0
 */
import type * as HttpClient from "@effect/platform/HttpClient"
import type * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Predicate from "effect/Predicate"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import { type LanguageModel, LlmError, StreamEvent } from "@sluice/core"
import * as HttpAdapter from "./internal/httpAdapter.js"
import * as AnthropicRequest from "./internal/AnthropicRequest.js"
import { AnthropicStreamDecoder, finishReasonOf, isRetryableErrorType, toUsage } from "./internal/AnthropicStreamDecoder.js"
import * as AnthropicWire from "./internal/AnthropicWire.js"
import { providerError, readErrorObject, type Site } from "./internal/httpFailure.js"
import { mismatch } from "./internal/wireChecks.js"

/**
 * The API's base URL, without `/v1` (as in Anthropic's SDK).
 * @since 0.1.0
 * @category constants
 */
export const defaultBaseUrl = "https://api.anthropic.com"

/**
 * The `anthropic-version` header sent unless another is given.
 * @since 0.1.0
 * @category constants
 */
export const defaultVersion = "2023-06-01"

/**
 * The `max_tokens` sent when a request has none (the API requires one).
 * @since 0.1.0
 * @category constants
 */
export const defaultMaxTokens = 4096

/**
 * Options of the Anthropic adapter.
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Sent as `x-api-key`. */
  readonly apiKey: Redacted.Redacted<string>
  /** Default `https://api.anthropic.com`; the adapter appends `/v1/messages`. */
  readonly baseUrl?: string | undefined
  /** The `anthropic-version` header (default `2023-06-01`). */
  readonly version?: string | undefined
  /** `max_tokens` for requests without `maxTokens` (default 4096). */
  readonly defaultMaxTokens?: number | undefined
  /** A JSON-schema response format as native structured outputs (default) or as a system instruction (models before Claude 4.5). */
  readonly jsonMode?: "native" | "instruction" | undefined
  /** Extra request headers (e.g. `anthropic-beta`). */
  readonly headers?: Readonly<Record<string, string>> | undefined
  /** Extra top-level body fields, merged last (e.g. `thinking: { type: "enabled", budget_tokens: 2048 }`). */
  readonly extraBody?: { readonly [key: string]: unknown } | undefined
  /** The name errors and metrics use (default "anthropic"). */
  readonly provider?: string | undefined
  /** The finish-reason guard (default on): a stream that ends without a stop reason fails with `IncompleteStream`. */
  readonly guard?: boolean | undefined
  /** Whether the model continues a final assistant message (prefill; default true). Some newer models refuse prefill: set false. */
  readonly prefill?: boolean | undefined
  /** Bound on one SSE event, in characters (default 10 MiB). */
  readonly maxEventSize?: number | undefined
}

const decodeMessage = Schema.decodeUnknownEither(AnthropicWire.Message)

/**
 * Builds the service from an `HttpClient`.
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options): Effect.Effect<LanguageModel.Service, never, HttpClient.HttpClient> => {
  const url = `${(options.baseUrl ?? defaultBaseUrl).replace(/\/+$/, "")}/v1/messages`
  const key = Redacted.value(options.apiKey)
  return HttpAdapter.make({
    provider: options.provider ?? "anthropic",
    capabilities: { continuation: options.prefill === false ? "instruction" : "prefill" },
    url: () => url,
    headers: { "anthropic-version": options.version ?? defaultVersion, ...options.headers, "x-api-key": key },
    encode: (request, stream) =>
      AnthropicRequest.body(request, {
        stream,
        defaultMaxTokens: options.defaultMaxTokens ?? defaultMaxTokens,
        jsonMode: options.jsonMode ?? "native",
        extraBody: options.extraBody
      }),
    decoder: (site) => new AnthropicStreamDecoder(site),
    toEvents: answerEvents,
    secrets: [key],
    guard: options.guard,
    maxEventSize: options.maxEventSize
  })
}

/**
 * The events a non-streamed message (or the error object a proxy answered with status 200) stands for, in
 * the order a stream gives them (its blocks in order, then the finish and usage): what `complete` folds, and
 * what a stream hands on when a server answered it with a whole message.
 */
const answerEvents = (site: Site, json: unknown): Either.Either<Array<StreamEvent.StreamEvent>, LlmError.LlmError> => {
  if (Predicate.isRecord(json) && json.type === "error") {
    const body = readErrorObject(json)
    return Either.left(providerError(site, body, "unknown error", isRetryableErrorType(body?.type), body?.type))
  }
  const decoded = decodeMessage(json)
  if (Either.isLeft(decoded)) {
    const reason = mismatch("the response does not match the message schema", decoded)
    return Either.left(new LlmError.DecodeError({ provider: site.provider, model: site.model, reason }))
  }
  const message = decoded.right
  const events: Array<StreamEvent.StreamEvent> = []
  let calls = 0
  for (const block of message.content) {
    if (AnthropicWire.isTextBlock(block)) {
      if (block.text.length > 0) events.push(StreamEvent.textDelta(block.text))
    } else if (AnthropicWire.isThinkingBlock(block)) {
      if (block.thinking.length > 0) events.push(StreamEvent.reasoningDelta(block.thinking))
    } else if (AnthropicWire.isToolUseBlock(block)) {
      events.push(StreamEvent.toolCallDelta({ index: calls++, id: block.id, name: block.name, argumentsDelta: JSON.stringify(block.input ?? {}) }))
    }
  }
  const raw = message.stop_reason
  if (typeof raw === "string" && raw !== "") events.push(StreamEvent.finish(finishReasonOf(raw), raw))
  // No usage (or no output count) on the wire is no usage in the completion, as in the stream decoder.
  const wireUsage = message.usage
  if (wireUsage !== undefined && wireUsage !== null && typeof wireUsage.output_tokens === "number") {
    events.push(toUsage({
      input: wireUsage.input_tokens,
      output: wireUsage.output_tokens,
      cacheCreation: wireUsage.cache_creation_input_tokens ?? undefined,
      cacheRead: wireUsage.cache_read_input_tokens ?? undefined
    }))
  }
  return Either.right(events)
}

/**
 * The adapter as a Layer.
 * @since 0.1.0
 * @category layers
 */
export const layer = HttpAdapter.layer(make)

/**
 * The adapter as a Layer, its key (and optionally base URL) read from `Config`, e.g. `Config.redacted("ANTHROPIC_API_KEY")`, or given.
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = HttpAdapter.layerConfig<Options>(make)
