/**
 * The Gemini API wire format: `POST /v1beta/models/{model}:streamGenerateContent?alt=sse` and
 * `POST /v1beta/models/{model}:generateContent`. Every streamed chunk, and the non-streamed answer,
 * is one `GenerateContentResponse`.
 *
 * Bytes as the Gemini API writes them (recorded traces of `generativelanguage.googleapis.com`):
 * streamed, `data: JSON\r\n\r\n` with CRLF line ends, the JSON with a space after each colon and
 * none after commas (`{"candidates": [{"content": {"parts": [{"text": "Hi"}],"role": "model"}}],…}`);
 * non-streamed and errors, JSON indented by two spaces with a final newline. There is no end
 * marker: the stream just ends.
 *
 * One chunk per text or reasoning delta (`{"text": …, "thought": true}` for reasoning), one per tool
 * call with the whole `functionCall` (`args` as an object); then a last chunk with an empty text part,
 * the `finishReason` and the final usage. `usageMetadata` is on every chunk: intermediate chunks carry
 * the prompt count, the thoughts so far and a total without candidates (as Gemini sends them), the
 * last one everything (`candidatesTokenCount` excludes `thoughtsTokenCount`; `cachedContentTokenCount`
 * only when non-zero). Candidates carry no `index`, as in current responses.
 *
 * Requests need `x-goog-api-key`, `?key=` or `Authorization: Bearer` (an OAuth token); without any
 * the answer is Gemini's 403 `PERMISSION_DENIED`.
 *
 * @internal
 */
import * as Either from "effect/Either"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import type { Answer, Prompt, PromptMessage, Usage } from "./answer.js"
import type { ErrorSpec, Incoming, Json, JsonObject, RenderOptions, Renderer, Target, WireEvent } from "./wire.js"
import { bearerToken, header, mapFinishReason, parseJsonObject } from "./wire.js"

const Part = Schema.Struct({
  text: Schema.optional(Schema.String),
  thought: Schema.optional(Schema.Boolean),
  functionResponse: Schema.optional(Schema.Struct({
    name: Schema.optional(Schema.String),
    response: Schema.optional(Schema.Unknown)
  }))
})

const Content = Schema.Struct({
  role: Schema.optional(Schema.String),
  parts: Schema.optional(Schema.Array(Part))
})

/** @internal The request body, as far as the emulator reads it (other fields are accepted and ignored). */
export const GenerateContentRequest = Schema.Struct({
  contents: Schema.Array(Content),
  systemInstruction: Schema.optional(Content),
  generationConfig: Schema.optional(Schema.Struct({
    maxOutputTokens: Schema.optional(Schema.Int.pipe(Schema.nonNegative()))
  }))
})

const decodeBody = Schema.decodeUnknownEither(GenerateContentRequest)

/** A function response's text as the OpenAI format would have sent it: `output` when that is all there is. */
const responseText = (response: unknown): string => {
  if (typeof response === "object" && response !== null && !Array.isArray(response)) {
    const keys = Object.keys(response)
    if (keys.length === 1 && "output" in response && typeof response.output === "string") return response.output
  }
  return JSON.stringify(response ?? {})
}

/** A content to prompt messages: `model` is the assistant; function responses are `tool` messages; thoughts carry no text. */
const toPromptMessages = (content: typeof Content.Type): Array<PromptMessage> => {
  const role = content.role === "model" ? "assistant" : (content.role ?? "user")
  const out: Array<PromptMessage> = []
  let text: string | undefined
  for (const part of content.parts ?? []) {
    if (part.functionResponse !== undefined) {
      out.push({ role: "tool", text: responseText(part.functionResponse.response) })
    } else if (part.text !== undefined && part.thought !== true) {
      text = (text ?? "") + part.text
    }
  }
  if (text !== undefined || role === "assistant") out.push({ role, text: text ?? "" })
  return out
}

const decodeRequest = (body: unknown, target: Target): Either.Either<Prompt, string> =>
  decodeBody(body).pipe(
    Either.mapLeft((error) => ParseResult.TreeFormatter.formatErrorSync(error)),
    Either.map((request): Prompt => {
      const messages: Array<PromptMessage> = []
      if (request.systemInstruction !== undefined) {
        const system = (request.systemInstruction.parts ?? []).map((part) => part.text ?? "").join("")
        if (system !== "") messages.push({ role: "system", text: system })
      }
      for (const content of request.contents) messages.push(...toPromptMessages(content))
      return {
        model: target.model ?? "gemini",
        messages,
        stream: target.stream === true,
        includeUsage: true,
        maxTokens: request.generationConfig?.maxOutputTokens
      }
    })
  )

/**
 * JSON as the Gemini API writes it on a stream: a space after each colon, none after commas.
 * @internal
 */
export const googleJson = (value: Json): string => {
  if (value === null || typeof value !== "object") return JSON.stringify(value)
  if (Array.isArray(value)) return `[${value.map(googleJson).join(",")}]`
  const entries: Array<string> = []
  for (const key of Object.keys(value)) entries.push(`${JSON.stringify(key)}: ${googleJson((value as JsonObject)[key])}`)
  return `{${entries.join(",")}}`
}

const finishReasons: Readonly<Record<string, string>> = {
  stop: "STOP",
  length: "MAX_TOKENS",
  // Gemini ends a turn that calls functions with STOP.
  tool_calls: "STOP",
  content_filter: "SAFETY"
}

const promptDetails = (count: number): Json => [{ modality: "TEXT", tokenCount: count }]

/** The usage of the last chunk (and of a non-streamed answer). */
const finalUsage = (usage: Usage): JsonObject => {
  const thoughts = usage.reasoningTokens
  const candidates = Math.max(0, usage.outputTokens - thoughts)
  return {
    promptTokenCount: usage.inputTokens,
    ...(candidates > 0 ? { candidatesTokenCount: candidates } : {}),
    totalTokenCount: usage.inputTokens + candidates + thoughts,
    ...(usage.cachedInputTokens > 0 ? { cachedContentTokenCount: usage.cachedInputTokens } : {}),
    promptTokensDetails: promptDetails(usage.inputTokens),
    ...(candidates > 0 ? { candidatesTokensDetails: promptDetails(candidates) } : {}),
    ...(thoughts > 0 ? { thoughtsTokenCount: thoughts } : {})
  }
}

/** The usage of an intermediate chunk: the prompt and the thoughts so far; no candidates yet. */
const intermediateUsage = (usage: Usage, thoughts: number): JsonObject => ({
  promptTokenCount: usage.inputTokens,
  totalTokenCount: usage.inputTokens + thoughts,
  ...(usage.cachedInputTokens > 0 ? { cachedContentTokenCount: usage.cachedInputTokens } : {}),
  promptTokensDetails: promptDetails(usage.inputTokens),
  ...(thoughts > 0 ? { thoughtsTokenCount: thoughts } : {})
})

const functionCall = (answer: Answer, index: number, name: string, id: string | undefined): JsonObject => {
  const call = answer.toolCalls.find((c) => c.index === index)
  return {
    functionCall: {
      ...(id === undefined ? {} : { id }),
      name,
      args: call === undefined ? {} : (parseJsonObject(call.arguments) ?? {})
    }
  }
}

const modelContent = (parts: ReadonlyArray<JsonObject>): JsonObject =>
  parts.length === 0 ? { role: "model" } : { parts, role: "model" }

const streamEvents = (answer: Answer, _prompt: Prompt, options: RenderOptions): ReadonlyArray<WireEvent> => {
  const { usage } = options
  const chunk = (head: JsonObject, usageMetadata: JsonObject | undefined): JsonObject => ({
    ...head,
    ...(usageMetadata === undefined ? {} : { usageMetadata }),
    modelVersion: answer.model,
    responseId: answer.id
  })
  if (answer.blocked !== undefined) {
    return [{
      kind: "finish",
      payload: chunk({ promptFeedback: { blockReason: answer.blocked } }, usage === undefined ? undefined : finalUsage(usage))
    }]
  }
  const events: Array<WireEvent> = []
  const reasoningTotal = answer.deltas.filter((d) => d._tag === "Reasoning").length
  let reasoningDone = 0
  const thoughtsSoFar = (u: Usage) =>
    reasoningTotal === 0 ? 0 : Math.round((u.reasoningTokens * reasoningDone) / reasoningTotal)
  const content = (part: JsonObject) =>
    events.push({
      kind: "content",
      payload: chunk(
        { candidates: [{ content: modelContent([part]) }] },
        usage === undefined ? undefined : intermediateUsage(usage, thoughtsSoFar(usage))
      )
    })
  for (const delta of answer.deltas) {
    switch (delta._tag) {
      case "Reasoning":
        reasoningDone++
        content({ text: delta.text, thought: true })
        break
      case "Text":
        content({ text: delta.text })
        break
      case "ToolCallStart":
        content(functionCall(answer, delta.index, delta.name, delta.id))
        break
      case "ToolCallArguments":
        // Gemini sends each call whole, at its start.
        break
    }
  }
  if (options.finish || usage !== undefined) {
    const candidate: JsonObject = {
      content: modelContent([{ text: "" }]),
      ...(options.finish ? { finishReason: mapFinishReason(answer.finishReason, finishReasons) } : {})
    }
    events.push({ kind: "finish", payload: chunk({ candidates: [candidate] }, usage === undefined ? undefined : finalUsage(usage)) })
  }
  return events
}

const completion = (answer: Answer, _prompt: Prompt, options: RenderOptions): JsonObject => {
  const usageMetadata = options.usage === undefined ? {} : { usageMetadata: finalUsage(options.usage) }
  const tail = { modelVersion: answer.model, responseId: answer.id }
  if (answer.blocked !== undefined) return { promptFeedback: { blockReason: answer.blocked }, ...usageMetadata, ...tail }
  const parts: Array<JsonObject> = []
  if (answer.reasoning !== "") parts.push({ text: answer.reasoning, thought: true })
  if (answer.text !== "") parts.push({ text: answer.text })
  for (const call of answer.toolCalls) parts.push(functionCall(answer, call.index, call.name, call.id))
  const candidate: JsonObject = {
    content: modelContent(parts),
    ...(options.finish ? { finishReason: mapFinishReason(answer.finishReason, finishReasons) } : {})
  }
  return { candidates: [candidate], ...usageMetadata, ...tail }
}

const statusCodes: Readonly<Record<string, number>> = {
  INVALID_ARGUMENT: 400,
  FAILED_PRECONDITION: 400,
  OUT_OF_RANGE: 400,
  UNAUTHENTICATED: 401,
  PERMISSION_DENIED: 403,
  NOT_FOUND: 404,
  ABORTED: 409,
  ALREADY_EXISTS: 409,
  RESOURCE_EXHAUSTED: 429,
  CANCELLED: 499,
  INTERNAL: 500,
  UNKNOWN: 500,
  DATA_LOSS: 500,
  NOT_IMPLEMENTED: 501,
  UNAVAILABLE: 503,
  DEADLINE_EXCEEDED: 504
}

const errorBody = (error: ErrorSpec): JsonObject => ({
  error: { code: error.status, message: error.message, status: error.type }
})

const defaultError = (status: number, model: string | undefined, code?: string | null): ErrorSpec => {
  const spec = (type: string, message: string): ErrorSpec => ({ status, message, type, code: null })
  if (code === "context_length_exceeded") {
    return spec(
      "INVALID_ARGUMENT",
      "The input token count (1200000) exceeds the maximum number of tokens allowed (1048576)."
    )
  }
  switch (status) {
    case 400:
      return spec("INVALID_ARGUMENT", "Request contains an invalid argument.")
    case 401:
      return spec(
        "UNAUTHENTICATED",
        "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid " +
          "authentication credential."
      )
    case 403:
      return spec("PERMISSION_DENIED", "The caller does not have permission")
    case 404:
      return spec(
        "NOT_FOUND",
        `models/${model ?? "unknown"} is not found for API version v1beta, or is not supported for generateContent. ` +
          "Call ListModels to see the list of available models and their supported methods."
      )
    case 429:
      return spec("RESOURCE_EXHAUSTED", "Resource has been exhausted (e.g. check quota).")
    case 500:
      return spec(
        "INTERNAL",
        "An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting"
      )
    case 503:
      return spec("UNAVAILABLE", "The model is overloaded. Please try again later.")
    case 504:
      return spec("DEADLINE_EXCEEDED", "Deadline expired before operation could complete.")
    default:
      return status >= 500
        ? spec("INTERNAL", "An internal error has occurred.")
        : spec("INVALID_ARGUMENT", "Request contains an invalid argument.")
  }
}

/** The credential: `x-goog-api-key`, else `?key=`, else a bearer (OAuth) token. */
const apiKey = (incoming: Incoming): string | undefined =>
  header(incoming, "x-goog-api-key") ?? (incoming.query.get("key") || undefined) ?? bearerToken(incoming)

/** @internal The Gemini renderer. */
export const renderer: Renderer = {
  name: "gemini",
  defaultId: (n) => `sluice-response-${n}`,
  token: (incoming) => apiKey(incoming) ?? "",
  authenticate: (incoming) =>
    apiKey(incoming) === undefined
      ? {
        status: 403,
        type: "PERMISSION_DENIED",
        message: "Method doesn't allow unregistered callers (callers without established identity). " +
          "Please use API Key or other form of API consumer identity to call this API.",
        code: null
      }
      : undefined,
  decodeRequest,
  streamEvents,
  serialize: googleJson,
  encodeEvent: (event, data) =>
    `data: ${data ?? (typeof event.payload === "string" ? event.payload : googleJson(event.payload))}\r\n\r\n`,
  encodeBody: (body) => `${JSON.stringify(body, null, 2)}\n`,
  keepAlive: (comment) => `: ${comment}\r\n\r\n`,
  wrongSchema: (payload) => ({ ...payload, candidates: "unexpected" }),
  errorEvent: (error) => ({
    kind: "error",
    payload: { error: { code: statusCodes[error.type] ?? error.status, message: error.message, status: error.type } }
  }),
  streamError: (model) => defaultError(500, model),
  completion,
  errorBody,
  defaultError,
  invalidJsonMessage: "Invalid JSON payload received.",
  invalidRequest: (message) => ({ status: 400, type: "INVALID_ARGUMENT", message, code: null }),
  notFound: () => ({ status: 404, type: "NOT_FOUND", message: "Method not found.", code: null }),
  keyError: (token) => ({
    status: 403,
    type: "PERMISSION_DENIED",
    message: `Permission denied: Consumer 'api_key:${token}' has been suspended.`,
    code: null
  }),
  // Gemini answers a blocked prompt with 200 and `promptFeedback`, streamed or not.
  blockedError: undefined,
  streamHeaders: { "content-type": "text/event-stream", "content-disposition": "attachment" },
  jsonHeaders: { "content-type": "application/json; charset=UTF-8" },
  requestIdHeader: undefined
}
