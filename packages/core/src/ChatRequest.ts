/**
 * The provider-neutral request: a model, a conversation and sampling options.
 *
 * @example
 * import { ChatRequest } from "@sluice/core"
 * const request = ChatRequest.make({
 *   model: "gpt-4o-mini",
 *   messages: [ChatRequest.user("Say hello")]
 * })
 *
 * @since 0.1.0
 */
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
 * A JSON Schema object, passed through to the provider as written.
 * @since 0.1.0
 * @category schemas
 */
export const JsonSchema = Schema.Record({ key: Schema.String, value: Schema.Unknown })

/**
 * @since 0.1.0
 * @category models
 */
export type JsonSchema = typeof JsonSchema.Type

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
