/**
 * The provider-neutral events of a streamed completion.
 *
 * @example
 * ```ts
 * import { StreamEvent } from "@sluice/core"
 * const event = StreamEvent.textDelta("Hel")
 * // { _tag: "TextDelta", text: "Hel" }
 * ```
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"

/**
 * Why the model stopped, normalised across providers.
 * @since 0.1.0
 * @category schemas
 */
export const FinishReason = Schema.Literal("stop", "length", "tool-calls", "content-filter", "other")

/**
 * @since 0.1.0
 * @category models
 */
export type FinishReason = typeof FinishReason.Type

/**
 * A piece of the answer's text.
 * @since 0.1.0
 * @category schemas
 */
export const TextDelta = Schema.TaggedStruct("TextDelta", { text: Schema.String })

/**
 * @since 0.1.0
 * @category models
 */
export interface TextDelta extends Schema.Schema.Type<typeof TextDelta> {}

/**
 * A piece of the model's reasoning ("thinking") text.
 * @since 0.1.0
 * @category schemas
 */
export const ReasoningDelta = Schema.TaggedStruct("ReasoningDelta", { text: Schema.String })

/**
 * @since 0.1.0
 * @category models
 */
export interface ReasoningDelta extends Schema.Schema.Type<typeof ReasoningDelta> {}

/**
 * A fragment of a tool call; `id` and `name` usually come with the first fragment of each `index`.
 * @since 0.1.0
 * @category schemas
 */
export const ToolCallDelta = Schema.TaggedStruct("ToolCallDelta", {
  index: Schema.Int,
  id: Schema.optional(Schema.String),
  name: Schema.optional(Schema.String),
  argumentsDelta: Schema.String
})

/**
 * @since 0.1.0
 * @category models
 */
export interface ToolCallDelta extends Schema.Schema.Type<typeof ToolCallDelta> {}

/**
 * Token usage; a later `Usage` event replaces an earlier one (figures are cumulative, never summed).
 * @since 0.1.0
 * @category schemas
 */
export const Usage = Schema.TaggedStruct("Usage", {
  inputTokens: Schema.Int,
  outputTokens: Schema.Int,
  totalTokens: Schema.Int,
  cachedInputTokens: Schema.optional(Schema.Int),
  reasoningTokens: Schema.optional(Schema.Int)
})

/**
 * @since 0.1.0
 * @category models
 */
export interface Usage extends Schema.Schema.Type<typeof Usage> {}

/**
 * The model finished; `rawReason` is the provider's own word for why.
 * @since 0.1.0
 * @category schemas
 */
export const Finish = Schema.TaggedStruct("Finish", { reason: FinishReason, rawReason: Schema.String })

/**
 * @since 0.1.0
 * @category models
 */
export interface Finish extends Schema.Schema.Type<typeof Finish> {}

/**
 * Any event of a streamed completion.
 * @since 0.1.0
 * @category schemas
 */
export const StreamEvent = Schema.Union(TextDelta, ReasoningDelta, ToolCallDelta, Usage, Finish)

/**
 * @since 0.1.0
 * @category models
 */
export type StreamEvent = TextDelta | ReasoningDelta | ToolCallDelta | Usage | Finish

/**
 * @since 0.1.0
 * @category constructors
 */
export const textDelta = (text: string): TextDelta => ({ _tag: "TextDelta", text })

/**
 * @since 0.1.0
 * @category constructors
 */
export const reasoningDelta = (text: string): ReasoningDelta => ({ _tag: "ReasoningDelta", text })

/**
 * @since 0.1.0
 * @category constructors
 */
export const toolCallDelta = (fields: Omit<ToolCallDelta, "_tag">): ToolCallDelta => ({ _tag: "ToolCallDelta", ...fields })

/**
 * @since 0.1.0
 * @category constructors
 */
export const usage = (fields: Omit<Usage, "_tag">): Usage => ({ _tag: "Usage", ...fields })

/**
 * @since 0.1.0
 * @category constructors
 */
export const finish = (reason: FinishReason, rawReason: string): Finish => ({ _tag: "Finish", reason, rawReason })

/**
 * True for the events that count as the first token: text, reasoning or a tool-call delta.
 * @since 0.1.0
 * @category predicates
 */
export const isToken = (event: StreamEvent): event is TextDelta | ReasoningDelta | ToolCallDelta =>
  event._tag === "TextDelta" || event._tag === "ReasoningDelta" || event._tag === "ToolCallDelta"
