/**
 * The Anthropic Messages wire format (`POST /v1/messages`), streamed and not.
 *
 * Streamed, each event is written as Anthropic writes it, `event: NAME\ndata: JSON\n\n`, with
 * compact JSON except `ping`, whose data Anthropic writes as `{"type": "ping"}`. The order:
 * `message_start` (input usage, `output_tokens: 1`); per content block `content_block_start`,
 * deltas, `content_block_stop` (a thinking block first, with a `signature_delta` before its stop;
 * then the text block; then one `tool_use` block per call, whose arguments follow an empty first
 * `input_json_delta`, or come not at all when they are `{}`); one `ping` right after the first
 * `content_block_start`; `message_delta` (stop reason, cumulative `output_tokens`); `message_stop`.
 * Blocks are never interleaved: interleaved tool calls of a scenario are sent one block after the other.
 *
 * Usage: `input_tokens` excludes the cached tokens, which go in `cache_read_input_tokens`, so the
 * client's sum equals the scenario's input count; output counts one token per delta, as in every format.
 *
 * Requests need a key, in `x-api-key` or as `Authorization: Bearer` (401 `authentication_error`
 * otherwise), and `anthropic-version` (400; any version is accepted),
 * and `max_tokens`; a prefilled last assistant message must not end with whitespace (400), as the
 * real API demands.
 *
 * @internal
 */
import * as Either from "effect/Either"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import type { Answer, Prompt, PromptMessage, Usage } from "./answer.js"
import type { ErrorSpec, Incoming, JsonObject, RenderOptions, Renderer, WireEvent } from "./wire.js"
import { bearerToken, header, mapFinishReason, parseJsonObject } from "./wire.js"

const TextPart = Schema.Struct({ type: Schema.String, text: Schema.optional(Schema.String) })

const Block = Schema.Struct({
  type: Schema.String,
  text: Schema.optional(Schema.String),
  /** A `tool_result`'s content. */
  content: Schema.optional(Schema.NullOr(Schema.Union(Schema.String, Schema.Array(TextPart))))
})

const Content = Schema.Union(Schema.String, Schema.Array(Block))

/** @internal The request body, as far as the emulator reads it (other fields are accepted and ignored). */
export const MessagesRequest = Schema.Struct({
  model: Schema.String,
  messages: Schema.Array(Schema.Struct({ role: Schema.Literal("user", "assistant"), content: Content })),
  max_tokens: Schema.Int.pipe(Schema.greaterThanOrEqualTo(1)),
  system: Schema.optional(Content),
  stream: Schema.optional(Schema.NullOr(Schema.Boolean))
})

const decodeBody = Schema.decodeUnknownEither(MessagesRequest)

type ContentValue = typeof Content.Type

const textOfParts = (parts: ReadonlyArray<{ readonly text?: string | undefined }>): string =>
  parts.map((part) => part.text ?? "").join("")

/**
 * A message to the emulator's prompt messages: text blocks joined; each `tool_result` a `tool`
 * message (as the OpenAI format sends tool results); `tool_use` and thinking blocks carry no text.
 * An assistant message always gives one message (possibly empty), as in the OpenAI format.
 */
const toPromptMessages = (role: string, content: ContentValue): Array<PromptMessage> => {
  if (typeof content === "string") return [{ role, text: content }]
  const out: Array<PromptMessage> = []
  let text: string | undefined
  for (const block of content) {
    if (block.type === "text") {
      text = (text ?? "") + (block.text ?? "")
    } else if (block.type === "tool_result") {
      const result = block.content
      out.push({
        role: "tool",
        text: result === undefined || result === null ? "" : typeof result === "string" ? result : textOfParts(result)
      })
    }
  }
  if (text !== undefined || role === "assistant") out.push({ role, text: text ?? "" })
  return out
}

const decodeRequest = (body: unknown): Either.Either<Prompt, string> => {
  if (typeof body === "object" && body !== null && !("max_tokens" in body)) {
    return Either.left("max_tokens: Field required")
  }
  return decodeBody(body).pipe(
    Either.mapLeft((error) => ParseResult.TreeFormatter.formatErrorSync(error)),
    Either.flatMap((request) => {
      const messages: Array<PromptMessage> = []
      if (request.system !== undefined) {
        const system = typeof request.system === "string" ? request.system : textOfParts(request.system)
        if (system !== "") messages.push({ role: "system", text: system })
      }
      for (const m of request.messages) messages.push(...toPromptMessages(m.role, m.content))
      const last = request.messages[request.messages.length - 1]
      if (last !== undefined && last.role === "assistant") {
        const prefill = toPromptMessages("assistant", last.content).map((m) => m.text).join("")
        if (/\s$/u.test(prefill)) return Either.left("messages: final assistant content cannot end with trailing whitespace")
      }
      return Either.right<Prompt>({
        model: request.model,
        messages,
        stream: request.stream === true,
        includeUsage: true,
        maxTokens: request.max_tokens
      })
    })
  )
}

const stopReasons: Readonly<Record<string, string>> = {
  stop: "end_turn",
  length: "max_tokens",
  tool_calls: "tool_use",
  content_filter: "refusal"
}

const stopReason = (answer: Answer): string => mapFinishReason(answer.finishReason, stopReasons)

const toolId = (index: number, id: string | undefined): string => id ?? `toolu_sluice_${index}`

const signature = (answer: Answer): string =>
  Buffer.from(`sluice-emulator thinking signature for ${answer.id}`, "utf8").toString("base64")

const usageJson = (usage: Usage, outputTokens: number): JsonObject => ({
  input_tokens: Math.max(0, usage.inputTokens - usage.cachedInputTokens),
  cache_creation_input_tokens: 0,
  cache_read_input_tokens: usage.cachedInputTokens,
  output_tokens: outputTokens
})

type Block =
  | { readonly kind: "thinking"; readonly deltas: Array<string> }
  | { readonly kind: "text"; readonly deltas: Array<string> }
  | {
    readonly kind: "tool"
    readonly index: number
    readonly id: string | undefined
    readonly name: string
    readonly deltas: Array<string>
  }

/** The answer's content blocks, in Anthropic's order; each tool call is one block, never interleaved. */
const blocksOf = (answer: Answer): Array<Block> => {
  const blocks: Array<Block> = []
  const tools = new Map<number, Extract<Block, { kind: "tool" }>>()
  let thinking: Extract<Block, { kind: "thinking" }> | undefined
  let text: Extract<Block, { kind: "text" }> | undefined
  for (const delta of answer.deltas) {
    switch (delta._tag) {
      case "Reasoning":
        if (thinking === undefined) blocks.push(thinking = { kind: "thinking", deltas: [] })
        thinking.deltas.push(delta.text)
        break
      case "Text":
        if (text === undefined) blocks.push(text = { kind: "text", deltas: [] })
        text.deltas.push(delta.text)
        break
      case "ToolCallStart": {
        const block: Extract<Block, { kind: "tool" }> = {
          kind: "tool",
          index: delta.index,
          id: delta.id,
          name: delta.name,
          deltas: []
        }
        tools.set(delta.index, block)
        blocks.push(block)
        break
      }
      case "ToolCallArguments":
        tools.get(delta.index)?.deltas.push(delta.text)
        break
    }
  }
  return blocks
}

/** Anthropic sends a tool call without input as `input: {}` and no `input_json_delta` at all. */
const isEmptyObject = (args: string): boolean => /^\s*\{\s*\}\s*$/.test(args)

const streamEvents = (answer: Answer, _prompt: Prompt, options: RenderOptions): ReadonlyArray<WireEvent> => {
  const { usage } = options
  const events: Array<WireEvent> = []
  const event = (kind: WireEvent["kind"], payload: JsonObject) => events.push({ kind, payload })
  event("preamble", {
    type: "message_start",
    message: {
      id: answer.id,
      type: "message",
      role: "assistant",
      model: answer.model,
      content: [],
      stop_reason: null,
      stop_sequence: null,
      ...(usage === undefined ? {} : { usage: usageJson(usage, Math.min(1, usage.outputTokens)) })
    }
  })
  let pinged = false
  const ping = () => {
    if (!pinged) event("frame", { type: "ping" })
    pinged = true
  }
  const delta = (kind: WireEvent["kind"], index: number, body: JsonObject) =>
    event(kind, { type: "content_block_delta", index, delta: body })
  blocksOf(answer).forEach((block, index) => {
    switch (block.kind) {
      case "thinking":
        event("frame", {
          type: "content_block_start",
          index,
          content_block: { type: "thinking", thinking: "", signature: "" }
        })
        ping()
        for (const text of block.deltas) delta("content", index, { type: "thinking_delta", thinking: text })
        delta("frame", index, { type: "signature_delta", signature: signature(answer) })
        break
      case "text":
        event("frame", { type: "content_block_start", index, content_block: { type: "text", text: "" } })
        ping()
        for (const text of block.deltas) delta("content", index, { type: "text_delta", text })
        break
      case "tool":
        event("content", {
          type: "content_block_start",
          index,
          content_block: { type: "tool_use", id: toolId(block.index, block.id), name: block.name, input: {} }
        })
        ping()
        if (!isEmptyObject(block.deltas.join(""))) {
          delta("frame", index, { type: "input_json_delta", partial_json: "" })
          for (const text of block.deltas) delta("content", index, { type: "input_json_delta", partial_json: text })
        }
        break
    }
    event("frame", { type: "content_block_stop", index })
  })
  ping()
  event("finish", {
    type: "message_delta",
    delta: { stop_reason: options.finish ? stopReason(answer) : null, stop_sequence: null },
    ...(usage === undefined ? {} : { usage: { output_tokens: usage.outputTokens } })
  })
  event("done", { type: "message_stop" })
  return events
}

const isPing = (payload: JsonObject): boolean => payload.type === "ping" && Object.keys(payload).length === 1

/** Compact JSON, except `ping`, which Anthropic writes with a space. */
const serialize = (payload: JsonObject): string => (isPing(payload) ? `{"type": "ping"}` : JSON.stringify(payload))

const encodeEvent = (event: WireEvent, data?: string): string => {
  const payload = event.payload
  const name = typeof payload === "string" ? "message" : typeof payload.type === "string" ? payload.type : "message"
  return `event: ${name}\ndata: ${data ?? (typeof payload === "string" ? payload : serialize(payload))}\n\n`
}

const completion = (answer: Answer, _prompt: Prompt, options: RenderOptions): JsonObject => {
  const content: Array<JsonObject> = []
  if (answer.reasoning !== "") content.push({ type: "thinking", thinking: answer.reasoning, signature: signature(answer) })
  if (answer.text !== "") content.push({ type: "text", text: answer.text })
  for (const call of answer.toolCalls) {
    content.push({
      type: "tool_use",
      id: toolId(call.index, call.id),
      name: call.name,
      input: parseJsonObject(call.arguments) ?? {}
    })
  }
  return {
    id: answer.id,
    type: "message",
    role: "assistant",
    model: answer.model,
    content,
    stop_reason: options.finish ? stopReason(answer) : null,
    stop_sequence: null,
    ...(options.usage === undefined ? {} : { usage: usageJson(options.usage, options.usage.outputTokens) })
  }
}

/** Makes the event's body (or a message's content) a string. */
const wrongSchema = (payload: JsonObject): JsonObject => {
  switch (payload.type) {
    case "message_start":
      return { ...payload, message: "unexpected" }
    case "content_block_start":
      return { ...payload, content_block: "unexpected" }
    case "content_block_delta":
    case "message_delta":
      return { ...payload, delta: "unexpected" }
    case "message":
      return { ...payload, content: "unexpected" }
    case "error":
      return { ...payload, error: "unexpected" }
    default:
      return { ...payload, index: "unexpected" }
  }
}

const errorBody = (error: ErrorSpec): JsonObject => ({
  type: "error",
  error: { type: error.type, message: error.message }
})

const defaultError = (status: number, model: string | undefined, code?: string | null): ErrorSpec => {
  const spec = (type: string, message: string): ErrorSpec => ({ status, message, type, code: null })
  if (code === "context_length_exceeded") return spec("invalid_request_error", "prompt is too long: 210000 tokens > 200000 maximum")
  switch (status) {
    case 400:
      return spec("invalid_request_error", "Invalid request.")
    case 401:
      return spec("authentication_error", "invalid x-api-key")
    case 403:
      return spec("permission_error", "Your API key does not have permission to use the specified resource.")
    case 404:
      return spec("not_found_error", `model: ${model ?? "unknown"}`)
    case 413:
      return spec("request_too_large", "Request exceeds the maximum allowed number of bytes.")
    case 429:
      return spec("rate_limit_error", "This request would exceed your organization's rate limit. Please try again later.")
    case 529:
      return spec("overloaded_error", "Overloaded")
    default:
      return status >= 500 ? spec("api_error", "Internal server error") : spec("invalid_request_error", "Invalid request.")
  }
}

/** The key: `x-api-key`, else a bearer token (as the official SDK sends it since 1.x). */
const apiKey = (incoming: Incoming): string | undefined => header(incoming, "x-api-key") ?? bearerToken(incoming)

/** @internal The Anthropic Messages renderer. */
export const renderer: Renderer = {
  name: "anthropic",
  defaultId: (n) => `msg_sluice_${n}`,
  token: (incoming) => apiKey(incoming) ?? "",
  authenticate: (incoming) => {
    if (apiKey(incoming) === undefined) {
      return { status: 401, type: "authentication_error", message: "x-api-key header is required", code: null }
    }
    if (header(incoming, "anthropic-version") === undefined) {
      return { status: 400, type: "invalid_request_error", message: "anthropic-version: header is required", code: null }
    }
    return undefined
  },
  decodeRequest,
  streamEvents,
  serialize,
  encodeEvent,
  encodeBody: (body) => JSON.stringify(body),
  keepAlive: () => `event: ping\ndata: {"type": "ping"}\n\n`,
  wrongSchema,
  errorEvent: (error) => ({ kind: "error", payload: errorBody(error) }),
  streamError: () => ({ status: 529, type: "overloaded_error", message: "Overloaded", code: null }),
  completion,
  errorBody,
  defaultError,
  invalidJsonMessage: "There was an error parsing the body of your request: it is not valid JSON.",
  invalidRequest: (message) => ({ status: 400, type: "invalid_request_error", message, code: null }),
  notFound: () => ({ status: 404, type: "not_found_error", message: "Not Found", code: null }),
  keyError: (token) => ({ status: 401, type: "authentication_error", message: `invalid x-api-key: ${token}`, code: null }),
  // Anthropic does not refuse a prompt with an HTTP error: it answers, with stop_reason "refusal".
  blockedError: undefined,
  streamHeaders: {
    "content-type": "text/event-stream; charset=utf-8",
    "cache-control": "no-cache",
    connection: "keep-alive"
  },
  jsonHeaders: { "content-type": "application/json" },
  requestIdHeader: "request-id"
}
