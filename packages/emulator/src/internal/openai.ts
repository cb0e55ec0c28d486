/**
 * The OpenAI Chat Completions wire format (`POST /v1/chat/completions`), streamed and not, with the
 * usage placements of the OpenAI-compatible servers (DeepSeek, vLLM, Groq) and Azure's filter chunk.
 * A last assistant message is continued (prefill), with or without DeepSeek's `prefix: true` flag.
 *
 * @internal
 */
import * as Either from "effect/Either"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import type { Answer, Delta, Prompt, PromptMessage, Usage } from "./answer.js"
import type { ErrorSpec, Incoming, JsonObject, RenderOptions, Renderer, WireEvent } from "./wire.js"
import { bearerToken, header } from "./wire.js"

const ContentPart = Schema.Struct({
  type: Schema.String,
  text: Schema.optional(Schema.String)
})

const Message = Schema.Struct({
  role: Schema.String,
  content: Schema.optional(Schema.NullOr(Schema.Union(Schema.String, Schema.Array(ContentPart)))),
  /** DeepSeek's flag asking to continue this (last, assistant) message. */
  prefix: Schema.optional(Schema.NullOr(Schema.Boolean))
})

const OptionalInt = Schema.optional(Schema.NullOr(Schema.Int.pipe(Schema.nonNegative())))

/** @internal The request body, as far as the emulator reads it (other fields are accepted and ignored). */
export const ChatCompletionRequest = Schema.Struct({
  model: Schema.String,
  messages: Schema.Array(Message),
  stream: Schema.optional(Schema.NullOr(Schema.Boolean)),
  stream_options: Schema.optional(Schema.NullOr(Schema.Struct({
    include_usage: Schema.optional(Schema.NullOr(Schema.Boolean))
  }))),
  max_tokens: OptionalInt,
  max_completion_tokens: OptionalInt
})

const decodeBody = Schema.decodeUnknownEither(ChatCompletionRequest)

const messageText = (content: typeof Message.Type["content"]): string => {
  if (content === undefined || content === null) return ""
  if (typeof content === "string") return content
  return content.flatMap((part) => (part.text === undefined ? [] : [part.text])).join(" ")
}

const decodeRequest = (body: unknown): Either.Either<Prompt, string> =>
  decodeBody(body).pipe(
    Either.mapLeft((error) => `Invalid request body: ${ParseResult.TreeFormatter.formatErrorSync(error)}`),
    Either.map((request): Prompt => ({
      model: request.model,
      messages: request.messages.map((m): PromptMessage => ({ role: m.role, text: messageText(m.content) })),
      stream: request.stream === true,
      includeUsage: request.stream_options?.include_usage === true,
      maxTokens: request.max_completion_tokens ?? request.max_tokens ?? undefined
    }))
  )

const usageJson = (usage: Usage, style: Answer["usageStyle"]): JsonObject => {
  const base: JsonObject = {
    prompt_tokens: usage.inputTokens,
    completion_tokens: usage.outputTokens,
    total_tokens: usage.inputTokens + usage.outputTokens,
    prompt_tokens_details: { cached_tokens: usage.cachedInputTokens },
    completion_tokens_details: { reasoning_tokens: usage.reasoningTokens }
  }
  return style === "deepseek"
    ? {
      ...base,
      prompt_cache_hit_tokens: usage.cachedInputTokens,
      prompt_cache_miss_tokens: usage.inputTokens - usage.cachedInputTokens
    }
    : base
}

/** Cumulative usage after `done` of `total` content deltas (vLLM continuous usage stats). */
const cumulative = (usage: Usage, done: number, total: number): Usage =>
  total === 0 || done >= total ? usage : {
    ...usage,
    outputTokens: Math.round((usage.outputTokens * done) / total),
    reasoningTokens: Math.round((usage.reasoningTokens * done) / total)
  }

const callId = (index: number, id: string | undefined): string => id ?? `call_sluice_${index}`

const deltaJson = (delta: Delta, reasoningField: Answer["reasoningField"]): JsonObject => {
  switch (delta._tag) {
    case "Text":
      return { content: delta.text }
    case "Reasoning":
      return { [reasoningField]: delta.text }
    case "ToolCallStart":
      return {
        tool_calls: [{
          index: delta.index,
          id: callId(delta.index, delta.id),
          type: "function",
          function: { name: delta.name, arguments: "" }
        }]
      }
    case "ToolCallArguments":
      return { tool_calls: [{ index: delta.index, function: { arguments: delta.text } }] }
  }
}

const azureFilterChunk: JsonObject = {
  choices: [],
  created: 0,
  id: "",
  model: "",
  object: "",
  prompt_filter_results: [{
    prompt_index: 0,
    content_filter_results: {
      hate: { filtered: false, severity: "safe" },
      self_harm: { filtered: false, severity: "safe" },
      sexual: { filtered: false, severity: "safe" },
      violence: { filtered: false, severity: "safe" }
    }
  }]
}

const streamEvents = (answer: Answer, prompt: Prompt, options: RenderOptions): ReadonlyArray<WireEvent> => {
  const { usage } = options
  const style = answer.usageStyle
  const total = answer.deltas.length
  const nullUsage = style === "openai" && prompt.includeUsage
  const chunk = (choices: ReadonlyArray<JsonObject>, done: number, extra: JsonObject = {}): JsonObject => {
    const base: JsonObject = {
      id: answer.id,
      object: "chat.completion.chunk",
      created: answer.created,
      model: answer.model,
      system_fingerprint: "fp_sluice",
      choices
    }
    if (nullUsage) return { ...base, usage: null, ...extra }
    if (style === "continuous" && usage !== undefined) {
      return { ...base, usage: usageJson(cumulative(usage, done, total), style), ...extra }
    }
    return { ...base, ...extra }
  }
  const choice = (delta: JsonObject, finishReason: string | null): JsonObject => ({
    index: 0,
    delta,
    logprobs: null,
    finish_reason: finishReason
  })
  const events: Array<WireEvent> = []
  if (answer.azureFilterChunk) events.push({ kind: "preamble", payload: azureFilterChunk })
  events.push({
    kind: "preamble",
    payload: chunk([choice({ role: "assistant", content: "", refusal: null }, null)], 0)
  })
  answer.deltas.forEach((delta, i) => {
    events.push({ kind: "content", payload: chunk([choice(deltaJson(delta, answer.reasoningField), null)], i + 1) })
  })
  const usageOnFinish = usage !== undefined && (style === "deepseek" || style === "groq" || style === "continuous")
  if (options.finish || usageOnFinish) {
    const reason = options.finish ? answer.finishReason : null
    const extra: JsonObject = usage === undefined ? {} : style === "deepseek"
      ? { usage: usageJson(usage, style) }
      : style === "groq"
      ? { x_groq: { id: `req_${answer.id.replace(/^chatcmpl-/, "")}`, usage: usageJson(usage, style) } }
      : {}
    events.push({ kind: "finish", payload: chunk([choice({}, reason)], total, extra) })
  }
  if (usage !== undefined && prompt.includeUsage && (style === "openai" || style === "continuous")) {
    events.push({
      kind: "usage",
      payload: {
        id: answer.id,
        object: "chat.completion.chunk",
        created: answer.created,
        model: answer.model,
        system_fingerprint: "fp_sluice",
        choices: [],
        usage: usageJson(usage, style)
      }
    })
  }
  events.push({ kind: "done", payload: "[DONE]" })
  return events
}

const encodeEvent = (event: WireEvent, data?: string): string =>
  `data: ${data ?? (typeof event.payload === "string" ? event.payload : JSON.stringify(event.payload))}\n\n`

const completion = (answer: Answer, _prompt: Prompt, options: RenderOptions): JsonObject => {
  const message: JsonObject = {
    role: "assistant",
    content: answer.text === "" && answer.toolCalls.length > 0 ? null : answer.text,
    refusal: null,
    ...(answer.reasoning === "" ? {} : { [answer.reasoningField]: answer.reasoning }),
    ...(answer.toolCalls.length === 0 ? {} : {
      tool_calls: answer.toolCalls.map((call): JsonObject => ({
        id: callId(call.index, call.id),
        type: "function",
        function: { name: call.name, arguments: call.arguments }
      }))
    })
  }
  return {
    id: answer.id,
    object: "chat.completion",
    created: answer.created,
    model: answer.model,
    choices: [{ index: 0, message, logprobs: null, finish_reason: options.finish ? answer.finishReason : null }],
    ...(options.usage === undefined ? {} : { usage: usageJson(options.usage, answer.usageStyle) }),
    system_fingerprint: "fp_sluice"
  }
}

const errorBody = (error: ErrorSpec): JsonObject => ({
  error: { message: error.message, type: error.type, param: null, code: error.code }
})

const defaultError = (status: number, model: string | undefined, code?: string | null): ErrorSpec => {
  const spec = (message: string, type: string, code: string | null): ErrorSpec => ({ status, message, type, code })
  if (code === "context_length_exceeded") {
    return spec(
      "This model's maximum context length is 128000 tokens. However, your messages resulted in 130000 tokens. " +
        "Please reduce the length of the messages.",
      "invalid_request_error",
      code
    )
  }
  switch (status) {
    case 400:
      return spec("Invalid request.", "invalid_request_error", null)
    case 401:
      return spec("Incorrect API key provided.", "invalid_request_error", "invalid_api_key")
    case 403:
      return spec("You are not allowed to access this resource.", "invalid_request_error", null)
    case 404:
      return spec(
        `The model \`${model ?? "unknown"}\` does not exist or you do not have access to it.`,
        "invalid_request_error",
        "model_not_found"
      )
    case 429:
      return spec("Rate limit reached for requests. Please try again later.", "requests", "rate_limit_exceeded")
    case 500:
      return spec("The server had an error while processing your request. Sorry about that!", "server_error", null)
    case 503:
      return spec("The engine is currently overloaded, please try again later.", "server_error", null)
    case 529:
      return spec("Overloaded", "overloaded_error", null)
    default:
      return status >= 500
        ? spec(`The server failed with status ${status}.`, "server_error", null)
        : spec(`The request failed with status ${status}.`, "invalid_request_error", null)
  }
}

/** The bearer token, else the raw `Authorization` value (so `echoKey` echoes whatever came). */
const bearer = (incoming: Incoming): string => bearerToken(incoming) ?? header(incoming, "authorization") ?? ""

/** @internal The OpenAI Chat Completions renderer. */
export const renderer: Renderer = {
  name: "openai",
  defaultId: (n) => `chatcmpl-sluice-${n}`,
  token: bearer,
  // OpenAI-compatible local servers take requests without a key; the emulator does too.
  authenticate: () => undefined,
  decodeRequest,
  streamEvents,
  serialize: (payload) => JSON.stringify(payload),
  encodeEvent,
  encodeBody: (body) => JSON.stringify(body),
  keepAlive: (comment) => `: ${comment}\n\n`,
  wrongSchema: (payload) => ({ ...payload, choices: "unexpected" }),
  errorEvent: (error) => ({ kind: "error", payload: errorBody(error) }),
  streamError: (model) => defaultError(500, model),
  completion,
  errorBody,
  defaultError,
  invalidJsonMessage: "We could not parse the JSON body of your request.",
  invalidRequest: (message) => ({ status: 400, message, type: "invalid_request_error", code: null }),
  notFound: (method, path) => ({
    status: 404,
    message: `Invalid URL (${method} ${path})`,
    type: "invalid_request_error",
    code: null
  }),
  blockedError: () => ({
    status: 400,
    message: "The response was filtered due to the prompt triggering Azure OpenAI's content management policy. " +
      "Please modify your prompt and retry.",
    type: "invalid_request_error",
    code: "content_filter"
  }),
  keyError: (token) => ({
    status: 401,
    message: `Incorrect API key provided: ${token}. You can find your API key at https://platform.openai.com/account/api-keys.`,
    type: "invalid_request_error",
    code: "invalid_api_key"
  }),
  streamHeaders: {
    "content-type": "text/event-stream; charset=utf-8",
    "cache-control": "no-cache",
    connection: "keep-alive"
  },
  jsonHeaders: { "content-type": "application/json" },
  requestIdHeader: undefined
}
