/**
 * The provider-neutral request: a model, a conversation and sampling options.
 *
 * @example
 * ```ts
 * import { ChatRequest } from "@sluice/core"
 * const request = ChatRequest.make({
 *   model: "gpt-4o-mini",
 *   messages: [ChatRequest.user("Say hello")]
 * })
 * ```
 *
 * @since 0.1.0
 */
import type * as JSONSchema from "effect/JSONSchema"
import * as ParseResult from "effect/ParseResult"
import * as Predicate from "effect/Predicate"
import * as Schema from "effect/Schema"

/**
 * Who speaks a message.
 * @since 0.1.0
 * @category schemas
 */
export const Role = Schema.Literal("system", "user", "assistant", "tool")

/**
 * @since 0.1.0
 * @category models
 */
export type Role = typeof Role.Type

/**
 * A tool call the assistant made earlier in the conversation (sent back with its result).
 * @since 0.1.0
 * @category schemas
 */
export const MessageToolCall = Schema.Struct({
  id: Schema.String,
  name: Schema.String,
  /** The arguments as the JSON text the model produced. */
  arguments: Schema.String
})

/**
 * @since 0.1.0
 * @category models
 */
export type MessageToolCall = typeof MessageToolCall.Type

/**
 * One message of the conversation. `toolCalls` goes on assistant messages, `toolCallId` on tool results.
 * @since 0.1.0
 * @category schemas
 */
export const Message = Schema.Struct({
  role: Role,
  content: Schema.String,
  toolCalls: Schema.optional(Schema.Array(MessageToolCall)),
  toolCallId: Schema.optional(Schema.String),
  name: Schema.optional(Schema.String),
  /** On a final assistant message: the model must continue this text (prefill), not answer anew. */
  prefix: Schema.optional(Schema.Boolean)
})

/**
 * @since 0.1.0
 * @category models
 */
export type Message = typeof Message.Type

/**
 * A JSON Schema object, passed through to the provider as written: any JSON object, `JSONSchema.make`'s
 * output (`JsonSchema7Root` from `effect/JSONSchema`) included.
 * @since 0.1.0
 * @category models
 */
export type JsonSchema = { readonly [key: string]: unknown } | JSONSchema.JsonSchema7Root

/**
 * The schema of `JsonSchema`: any JSON object (not an array).
 * @since 0.1.0
 * @category schemas
 */
export const JsonSchema: Schema.Schema<JsonSchema> = Schema.declare((u: unknown): u is JsonSchema => Predicate.isRecord(u), {
  identifier: "JsonSchema",
  description: "a JSON Schema object"
})

/**
 * A tool the model may call; `parameters` is the JSON Schema of its arguments.
 * @since 0.1.0
 * @category schemas
 */
export const Tool = Schema.Struct({
  name: Schema.String,
  description: Schema.optional(Schema.String),
  parameters: JsonSchema
})

/**
 * @since 0.1.0
 * @category models
 */
export type Tool = typeof Tool.Type

/**
 * Whether and which tool the model must call.
 * @since 0.1.0
 * @category schemas
 */
export const ToolChoice = Schema.Union(
  Schema.Literal("auto", "none", "required"),
  Schema.Struct({ tool: Schema.String })
)

/**
 * @since 0.1.0
 * @category models
 */
export type ToolChoice = typeof ToolChoice.Type

/**
 * Plain text, any JSON object, or JSON that matches a schema.
 * @since 0.1.0
 * @category schemas
 */
export const ResponseFormat = Schema.Union(
  Schema.Struct({ type: Schema.Literal("text") }),
  Schema.Struct({ type: Schema.Literal("json") }),
  Schema.Struct({
    type: Schema.Literal("json-schema"),
    name: Schema.String,
    schema: JsonSchema,
    strict: Schema.optional(Schema.Boolean)
  })
)

/**
 * @since 0.1.0
 * @category models
 */
export type ResponseFormat = typeof ResponseFormat.Type

/**
 * A chat completion request, the same for every provider.
 * @since 0.1.0
 * @category schemas
 */
export const ChatRequest = Schema.Struct({
  model: Schema.String,
  messages: Schema.Array(Message),
  maxTokens: Schema.optional(Schema.Int),
  temperature: Schema.optional(Schema.Number),
  topP: Schema.optional(Schema.Number),
  stop: Schema.optional(Schema.Array(Schema.String)),
  tools: Schema.optional(Schema.Array(Tool)),
  toolChoice: Schema.optional(ToolChoice),
  responseFormat: Schema.optional(ResponseFormat)
})

/**
 * @since 0.1.0
 * @category models
 */
export type ChatRequest = typeof ChatRequest.Type

/**
 * Builds a request (a typed identity, for inference at the call site).
 * @since 0.1.0
 * @category constructors
 */
export const make = (request: ChatRequest): ChatRequest => request

/**
 * A system message.
 * @since 0.1.0
 * @category constructors
 */
export const system = (content: string): Message => ({ role: "system", content })

/**
 * A user message.
 * @since 0.1.0
 * @category constructors
 */
export const user = (content: string): Message => ({ role: "user", content })

/**
 * An assistant message, optionally with the tool calls it made.
 * @since 0.1.0
 * @category constructors
 */
export const assistant = (content: string, toolCalls?: ReadonlyArray<MessageToolCall>): Message =>
  toolCalls === undefined || toolCalls.length === 0 ? { role: "assistant", content } : { role: "assistant", content, toolCalls }

/**
 * A tool's result, answering the call with id `toolCallId`.
 * @since 0.1.0
 * @category constructors
 */
export const toolResult = (toolCallId: string, content: string): Message => ({ role: "tool", content, toolCallId })

const toolName = /^[a-zA-Z0-9_-]{1,64}$/

const decodeRequest = Schema.decodeUnknownEither(ChatRequest)

/**
 * Why a request cannot be sent, or undefined when it can: checked before any network call so a
 * caller's mistake is a clear `InvalidRequest`, not a provider's 400 (or worse, a silent default).
 * @since 0.1.0
 * @category validation
 */
export const problem = (request: unknown): string | undefined => {
  const decoded = decodeRequest(request)
  if (decoded._tag === "Left") return `the request does not match ChatRequest: ${ParseResult.TreeFormatter.formatErrorSync(decoded.left)}`
  const r = decoded.right
  if (r.model.trim() === "") return "the model is empty"
  if (r.messages.length === 0) return "the message list is empty"
  if (r.messages.every((m) => m.role === "system")) return "there is no user message, only system messages"
  for (let i = 0; i < r.messages.length; i++) {
    const m = r.messages[i]
    if (m.role === "tool" && (m.toolCallId === undefined || m.toolCallId === "")) return `message ${i} is a tool result without a toolCallId`
    if (m.prefix === true && (m.role !== "assistant" || i !== r.messages.length - 1)) return `message ${i} is marked prefix but is not the final assistant message`
  }
  if (r.temperature !== undefined && !(Number.isFinite(r.temperature) && r.temperature >= 0 && r.temperature <= 2)) {
    return `temperature ${r.temperature} is not a finite number between 0 and 2`
  }
  if (r.topP !== undefined && !(Number.isFinite(r.topP) && r.topP > 0 && r.topP <= 1)) return `topP ${r.topP} is not a number in (0, 1]`
  if (r.maxTokens !== undefined && !(r.maxTokens > 0)) return `maxTokens ${r.maxTokens} is not a positive integer`
  const names = new Set<string>()
  for (const tool of r.tools ?? []) {
    if (!toolName.test(tool.name)) return `tool name ${JSON.stringify(tool.name)} must be 1-64 letters, digits, _ or -`
    if (names.has(tool.name)) return `tool ${tool.name} is declared twice`
    names.add(tool.name)
    const type = Predicate.hasProperty(tool.parameters, "type") ? tool.parameters.type : undefined
    if (type !== undefined && type !== "object") return `the parameters of tool ${tool.name} must be a JSON Schema of type "object", not ${JSON.stringify(type)}`
  }
  if (r.toolChoice !== undefined && typeof r.toolChoice === "object" && !names.has(r.toolChoice.tool)) {
    return `toolChoice names ${r.toolChoice.tool}, which is not among the tools`
  }
  if (r.toolChoice === "required" && names.size === 0) return "toolChoice is required but no tools are given"
  return undefined
}
