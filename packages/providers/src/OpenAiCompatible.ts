/**
 * The adapter for OpenAI Chat Completions and every OpenAI-compatible server
 * (DeepSeek, Groq, vLLM, Ollama, OpenRouter, LM Studio, gateways).
 *
 * @example
 * ```ts
 * import { NodeHttpClient } from "@effect/platform-node"
 * import { Effect, Layer, Redacted, Stream } from "effect"
 * import { ChatRequest, LanguageModel } from "@sluice/core"
 * import { OpenAiCompatible } from "@sluice/providers"
 *
 * // A key the app already holds (`layerConfig` reads one from the environment instead).
 * declare const key: string
 * const OpenAi = OpenAiCompatible.layer({ baseUrl: "https://api.openai.com/v1", apiKey: Redacted.make(key) })
 * const program = LanguageModel.stream({ model: "gpt-4o-mini", messages: [ChatRequest.user("Hi")] }).pipe(
 *   Stream.runForEach((e) => Effect.sync(() => e._tag === "TextDelta" && process.stdout.write(e.text))),
 *   Effect.provide(OpenAi.pipe(Layer.provide(NodeHttpClient.layerUndici)))
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
import { isTransient, providerError, readErrorObject, type Site } from "./internal/httpFailure.js"
import * as OpenAiRequest from "./internal/OpenAiRequest.js"
import { finishReasonOf, OpenAiStreamDecoder, readParts, readUsage } from "./internal/OpenAiStreamDecoder.js"
import * as OpenAiWire from "./internal/OpenAiWire.js"
import { mismatch } from "./internal/wireChecks.js"

/**
 * Options of the OpenAI-compatible adapter.
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The base URL including `/v1`, as in OpenAI's SDK: `https://api.openai.com/v1`. */
  readonly baseUrl: string
  /** Sent as `Authorization: Bearer …`; omit for local servers that need none. */
  readonly apiKey?: Redacted.Redacted<string> | undefined
  /** Extra request headers (e.g. OpenRouter's `HTTP-Referer`). */
  readonly headers?: Readonly<Record<string, string>> | undefined
  /** Ask for usage in the stream (`stream_options.include_usage`, default true); turn off for servers that reject it. */
  readonly includeUsage?: boolean | undefined
  /** The name errors and metrics use (default "openai-compatible"). */
  readonly provider?: string | undefined
  /** `max_tokens` (default) or `max_completion_tokens` (OpenAI's reasoning models). */
  readonly maxTokensField?: "max_tokens" | "max_completion_tokens" | undefined
  /** Extra top-level body fields, merged last. */
  readonly extraBody?: { readonly [key: string]: unknown } | undefined
  /** The finish-reason guard (default on): a stream that ends without a finish reason fails with `IncompleteStream`. */
  readonly guard?: boolean | undefined
  /** Bound on one SSE event, in characters (default 10 MiB). */
  readonly maxEventSize?: number | undefined
  /**
   * The server continues a final assistant message sent with `prefix: true` (DeepSeek's chat prefix
   * completion, on its beta base URL); used by `Policy.continuation`. Default false.
   */
  readonly prefill?: boolean | undefined
}

const decodeCompletion = Schema.decodeUnknownEither(OpenAiWire.ChatCompletion)

/**
 * Builds the service from an `HttpClient`.
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options): Effect.Effect<LanguageModel.Service, never, HttpClient.HttpClient> => {
  const url = `${options.baseUrl.replace(/\/+$/, "")}/chat/completions`
  const key = options.apiKey === undefined ? undefined : Redacted.value(options.apiKey)
  return HttpAdapter.make({
    provider: options.provider ?? "openai-compatible",
    capabilities: { continuation: options.prefill === true ? "prefill" : "instruction" },
    url: () => url,
    headers: key === undefined ? { ...options.headers } : { ...options.headers, authorization: `Bearer ${key}` },
    encode: (request, stream) =>
      OpenAiRequest.body(request, {
        stream,
        includeUsage: options.includeUsage ?? true,
        maxTokensField: options.maxTokensField ?? "max_tokens",
        prefixFlag: options.prefill === true,
        extraBody: options.extraBody
      }),
    decoder: (site) => new OpenAiStreamDecoder(site),
    toEvents: answerEvents,
    secrets: key === undefined ? [] : [key],
    guard: options.guard,
    maxEventSize: options.maxEventSize
  })
}

/**
 * The events a non-streamed `chat.completion` stands for, in the order a stream gives them (reasoning, text,
 * tool calls, finish, usage): what `complete` folds, and what a stream hands on when a server answered it
 * with a whole completion.
 */
const answerEvents = (site: Site, json: unknown): Either.Either<Array<StreamEvent.StreamEvent>, LlmError.LlmError> => {
  if (Predicate.isRecord(json) && json.error !== undefined && json.error !== null) {
    const body = readErrorObject(json)
    return Either.left(providerError(site, body, "unknown error", isTransient(body?.type, body?.code), body?.type))
  }
  const decoded = decodeCompletion(json)
  if (Either.isLeft(decoded)) {
    const reason = mismatch("the response does not match the chat.completion schema", decoded)
    return Either.left(new LlmError.DecodeError({ provider: site.provider, model: site.model, reason }))
  }
  const response = decoded.right
  const choice = response.choices.find((c) => c.index === undefined || c.index === 0)
  const message = choice?.message
  const events: Array<StreamEvent.StreamEvent> = []
  const reasoning = message?.reasoning_content ?? message?.reasoning
  if (typeof reasoning === "string" && reasoning.length > 0) events.push(StreamEvent.reasoningDelta(reasoning))
  const content = message?.content
  if (typeof content === "string") {
    if (content.length > 0) events.push(StreamEvent.textDelta(content))
  } else if (content !== undefined && content !== null) {
    readParts(content, events)
  }
  if (typeof message?.refusal === "string" && message.refusal.length > 0) events.push(StreamEvent.textDelta(message.refusal))
  const calls = message?.tool_calls ?? []
  for (let index = 0; index < calls.length; index++) {
    const call = calls[index]
    events.push(StreamEvent.toolCallDelta({ index, id: call.id, name: call.function.name, argumentsDelta: call.function.arguments }))
  }
  const raw = choice?.finish_reason
  if (typeof raw === "string" && raw !== "") events.push(StreamEvent.finish(finishReasonOf(raw), raw))
  const usageJson = response.usage ?? response.x_groq?.usage
  const usage = usageJson === undefined || usageJson === null ? undefined : readUsage(usageJson)
  if (usage !== undefined) events.push(usage)
  return Either.right(events)
}

/**
 * The adapter as a Layer.
 * @since 0.1.0
 * @category layers
 */
export const layer = HttpAdapter.layer(make)

/**
 * The adapter as a Layer, its key and base URL read from `Config` (e.g. `Config.redacted("OPENAI_API_KEY")`) or given.
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = HttpAdapter.layerConfig<Options>(make)
