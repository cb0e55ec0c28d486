/**
 * The OpenAI Chat Completions request body for a `ChatRequest`.
 * @internal
 */
import * as Either from "effect/Either"
import type { ChatRequest } from "@sluice/core"

/** Per-server differences in the request body. */
export interface BodyOptions {
  readonly stream: boolean
  readonly includeUsage: boolean
  /** `max_tokens` (OpenAI-compatible servers) or `max_completion_tokens` (OpenAI's reasoning models). */
  readonly maxTokensField: "max_tokens" | "max_completion_tokens"
  /** Send `prefix: true` on a final assistant message marked as a prefix (DeepSeek). */
  readonly prefixFlag: boolean
  /** Extra top-level fields a server needs, merged last. */
  readonly extraBody: { readonly [key: string]: unknown } | undefined
}

const message = (m: ChatRequest.Message, prefixFlag: boolean): { readonly [key: string]: unknown } => {
  switch (m.role) {
    case "tool":
      return { role: "tool", tool_call_id: m.toolCallId ?? "", content: m.content }
    case "assistant":
      if (m.toolCalls !== undefined && m.toolCalls.length > 0) {
        return {
          role: "assistant",
          content: m.content === "" ? null : m.content,
          tool_calls: m.toolCalls.map((call) => ({
            id: call.id,
            type: "function",
            function: { name: call.name, arguments: call.arguments }
          }))
        }
      }
      return m.prefix === true && prefixFlag ? { role: "assistant", content: m.content, prefix: true } : { role: "assistant", content: m.content }
    case "system":
    case "user":
      return m.name === undefined ? { role: m.role, content: m.content } : { role: m.role, content: m.content, name: m.name }
  }
}

const toolChoice = (choice: ChatRequest.ToolChoice): unknown =>
  typeof choice === "string" ? choice : { type: "function", function: { name: choice.tool } }

const responseFormat = (format: ChatRequest.ResponseFormat): unknown => {
  switch (format.type) {
    case "text":
      return { type: "text" }
    case "json":
      return { type: "json_object" }
    case "json-schema":
      return {
        type: "json_schema",
        json_schema: { name: format.name, schema: format.schema, ...(format.strict === undefined ? {} : { strict: format.strict }) }
      }
  }
}

/** Builds the JSON body (every `ChatRequest` has one: the `Either` is the shape every adapter's encoder has). */
export const body = (request: ChatRequest.ChatRequest, options: BodyOptions): Either.Either<{ readonly [key: string]: unknown }, string> => {
  const out: { [key: string]: unknown } = {
    model: request.model,
    messages: request.messages.map((m) => message(m, options.prefixFlag))
  }
  if (options.stream) {
    out.stream = true
    if (options.includeUsage) out.stream_options = { include_usage: true }
  }
  if (request.maxTokens !== undefined) out[options.maxTokensField] = request.maxTokens
  if (request.temperature !== undefined) out.temperature = request.temperature
  if (request.topP !== undefined) out.top_p = request.topP
  if (request.stop !== undefined && request.stop.length > 0) out.stop = request.stop
  if (request.tools !== undefined && request.tools.length > 0) {
    out.tools = request.tools.map((tool) => ({
      type: "function",
      function: {
        name: tool.name,
        ...(tool.description === undefined ? {} : { description: tool.description }),
        parameters: tool.parameters
      }
    }))
  }
  if (request.toolChoice !== undefined) out.tool_choice = toolChoice(request.toolChoice)
  if (request.responseFormat !== undefined) out.response_format = responseFormat(request.responseFormat)
  if (options.extraBody !== undefined) Object.assign(out, options.extraBody)
  return Either.right(out)
}
