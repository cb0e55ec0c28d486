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
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as ParseResult from "effect/ParseResult"
import * as Predicate from "effect/Predicate"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { type Adapter, type ChatRequest, Completion, LanguageModel, LlmError, StreamEvent } from "@sluice/core"
import * as Http from "./internal/httpCall.js"
import { isTransient, readErrorObject, type Site } from "./internal/httpFailure.js"
import * as OpenAiRequest from "./internal/OpenAiRequest.js"
import { finishReasonOf, OpenAiStreamDecoder, readParts, readUsage } from "./internal/OpenAiStreamDecoder.js"
import * as OpenAiWire from "./internal/OpenAiWire.js"

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
export const make = (options: Options): Effect.Effect<LanguageModel.Service, never, HttpClient.HttpClient> =>
  Effect.map(HttpClient.HttpClient, (client) => {
    const provider = options.provider ?? "openai-compatible"
    const baseUrl = options.baseUrl.replace(/\/+$/, "")
    const secrets = options.apiKey === undefined ? [] : [Redacted.value(options.apiKey)]
    const bodyOptions = (stream: boolean): OpenAiRequest.BodyOptions => ({
      stream,
      includeUsage: options.includeUsage ?? true,
      maxTokensField: options.maxTokensField ?? "max_tokens",
      prefixFlag: options.prefill === true,
      extraBody: options.extraBody
    })
    const httpRequest = (request: ChatRequest.ChatRequest, stream: boolean) => {
      let req = HttpClientRequest.post(`${baseUrl}/chat/completions`).pipe(
        HttpClientRequest.setHeaders({ accept: stream ? "text/event-stream" : "application/json", ...options.headers }),
        HttpClientRequest.bodyUnsafeJson(OpenAiRequest.body(request, bodyOptions(stream)))
      )
      if (options.apiKey !== undefined) req = HttpClientRequest.bearerToken(req, Redacted.value(options.apiKey))
      return req
    }
    const site = (request: ChatRequest.ChatRequest): Site => ({ provider, model: request.model, secrets })

    const streamWith = (request: ChatRequest.ChatRequest, context: Adapter.PolicyContext): Stream.Stream<StreamEvent.StreamEvent, LlmError.LlmError> =>
      Stream.suspend(() => {
        const where = site(request)
        const bad = Http.invalid(where, request)
        if (bad !== undefined) return Stream.fail(bad)
        return Http.stream(client, where, httpRequest(request, true), new OpenAiStreamDecoder(where), {
          guard: options.guard ?? true,
          maxEventSize: options.maxEventSize,
          answer: (json) => answerEvents(where, json)
        }, context)
      })

    const completeWith = (request: ChatRequest.ChatRequest, context: Adapter.PolicyContext): Effect.Effect<Completion.Completion, LlmError.LlmError> =>
      Effect.suspend(() => {
        const where = site(request)
        const bad = Http.invalid(where, request)
        if (bad !== undefined) return Effect.fail(bad)
        return Http.completion(client, where, httpRequest(request, false), (json) => toCompletion(where, json, options.guard ?? true), context)
      })

    return LanguageModel.make({
      provider,
      capabilities: { continuation: options.prefill === true ? "prefill" : "instruction" },
      streamWith,
      completeWith
    })
  })

/**
 * The events a non-streamed `chat.completion` stands for, in the order a stream gives them (reasoning, text,
 * tool calls, finish, usage): what `complete` folds, and what a stream hands on when a server answered it
 * with a whole completion.
 */
const answerEvents = (site: Site, json: unknown): Either.Either<Array<StreamEvent.StreamEvent>, LlmError.LlmError> => {
  if (Predicate.isRecord(json) && json.error !== undefined && json.error !== null) {
    const body = readErrorObject(json)
    return Either.left(
      new LlmError.ProviderStreamError({
        provider: site.provider,
        model: site.model,
        providerMessage: body?.message ?? "unknown error",
        retryable: isTransient(body?.type, body?.code),
        ...(body?.type === undefined ? {} : { errorType: body.type })
      })
    )
  }
  const decoded = decodeCompletion(json)
  if (decoded._tag === "Left") {
    return Either.left(
      new LlmError.DecodeError({
        provider: site.provider,
        model: site.model,
        reason: `the response does not match the chat.completion schema: ${ParseResult.TreeFormatter.formatErrorSync(decoded.left)}`
      })
    )
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
 * The adapter as a Layer, its key and base URL read from `Config` (e.g. `Config.redacted("OPENAI_API_KEY")`).
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  options: Omit<Options, "apiKey" | "baseUrl"> & {
    readonly baseUrl: string | Config.Config<string>
    readonly apiKey?: Config.Config<Redacted.Redacted<string>> | undefined
  }
): Layer.Layer<LanguageModel.LanguageModel, ConfigError.ConfigError, HttpClient.HttpClient> =>
  Layer.effect(
    LanguageModel.LanguageModel,
    Effect.gen(function*() {
      const baseUrl = typeof options.baseUrl === "string" ? options.baseUrl : yield* options.baseUrl
      const apiKey = options.apiKey === undefined ? undefined : yield* options.apiKey
      return yield* make({ ...options, baseUrl, apiKey })
    })
  )
