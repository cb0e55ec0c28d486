/**
 * The Anthropic Messages API wire format (`POST /v1/messages`), streamed and not.
 *
 * The Schemas are the reference: tolerant of extra fields, strict on every field Sluice reads.
 * Unknown event, content-block and delta types are accepted and ignored, as Anthropic's versioning
 * policy asks of clients ("handle unknown event types gracefully"); a known type with a field of the
 * wrong shape is a decode error. The hot event, `content_block_delta`, is checked by hand in the
 * stream decoder (a property test holds the two to agreement); the rare events are decoded with these
 * Schemas directly.
 * @internal
 */
import * as Schema from "effect/Schema"

const OptionalNumber = Schema.optional(Schema.NullOr(Schema.Number))
const OptionalString = Schema.optional(Schema.NullOr(Schema.String))

/** A `type` string that is none of the known ones: the catch-all member of a union. */
const otherThan = (known: ReadonlyArray<string>) =>
  Schema.String.pipe(Schema.filter((type) => !known.includes(type), { message: () => `a known type with the wrong fields` }))

/** The content-block types Sluice reads. */
export const knownBlockTypes: ReadonlyArray<string> = ["text", "tool_use", "thinking", "redacted_thinking"]

/** The delta types Sluice reads. */
export const knownDeltaTypes: ReadonlyArray<string> = ["text_delta", "input_json_delta", "thinking_delta", "signature_delta"]

/** A text block (`text` is `""` at `content_block_start`). */
export const TextBlock = Schema.Struct({ type: Schema.Literal("text"), text: Schema.String })

/** A tool call; streamed, `input` is `{}` at the start and the arguments follow as `input_json_delta`s. */
export const ToolUseBlock = Schema.Struct({
  type: Schema.Literal("tool_use"),
  id: Schema.String,
  name: Schema.String,
  input: Schema.optional(Schema.Record({ key: Schema.String, value: Schema.Unknown }))
})

/** Extended thinking; the text streams as `thinking_delta`s, then a `signature_delta`. */
export const ThinkingBlock = Schema.Struct({
  type: Schema.Literal("thinking"),
  thinking: Schema.String,
  signature: OptionalString
})

/** Thinking the safety systems encrypted: opaque `data`, no text for the caller. */
export const RedactedThinkingBlock = Schema.Struct({ type: Schema.Literal("redacted_thinking"), data: Schema.String })

/** Any other block (`server_tool_use`, `web_search_tool_result`, …): accepted, not read. */
export const OtherBlock = Schema.Struct({ type: otherThan(knownBlockTypes) })

/** A content block. */
export const ContentBlock = Schema.Union(TextBlock, ToolUseBlock, ThinkingBlock, RedactedThinkingBlock, OtherBlock)

/** Narrowing guards for decoded blocks (the catch-all member's `type: string` defeats narrowing by `type`). */
export const isTextBlock = Schema.is(TextBlock)
/** @see isTextBlock */
export const isToolUseBlock = Schema.is(ToolUseBlock)
/** @see isTextBlock */
export const isThinkingBlock = Schema.is(ThinkingBlock)

/** Usage as `message_start` (and the non-streamed message) reports it; `input_tokens` excludes cached tokens. */
export const Usage = Schema.Struct({
  input_tokens: Schema.Number,
  output_tokens: OptionalNumber,
  cache_creation_input_tokens: OptionalNumber,
  cache_read_input_tokens: OptionalNumber
})

/**
 * `message_start`: the message's id, model and input usage. `usage` is optional: gateways and
 * compatible servers may leave it out (then the usage comes from `message_delta`, or not at all).
 */
export const MessageStart = Schema.Struct({
  type: Schema.Literal("message_start"),
  message: Schema.Struct({ id: Schema.String, model: Schema.String, usage: Schema.optional(Schema.NullOr(Usage)) })
})

/** `content_block_start`. */
export const ContentBlockStart = Schema.Struct({
  type: Schema.Literal("content_block_start"),
  index: Schema.Number,
  content_block: ContentBlock
})

/** `text_delta`. */
export const TextDelta = Schema.Struct({ type: Schema.Literal("text_delta"), text: Schema.String })

/** `input_json_delta`: a fragment of a tool call's arguments (may be `""`). */
export const InputJsonDelta = Schema.Struct({ type: Schema.Literal("input_json_delta"), partial_json: Schema.String })

/** `thinking_delta`. */
export const ThinkingDelta = Schema.Struct({ type: Schema.Literal("thinking_delta"), thinking: Schema.String })

/** `signature_delta`: the thinking block's signature, just before its `content_block_stop`. */
export const SignatureDelta = Schema.Struct({ type: Schema.Literal("signature_delta"), signature: Schema.String })

/** Any other delta (`citations_delta`, …): accepted, not read. */
export const OtherDelta = Schema.Struct({ type: otherThan(knownDeltaTypes) })

/** `content_block_delta`. */
export const ContentBlockDelta = Schema.Struct({
  type: Schema.Literal("content_block_delta"),
  index: Schema.Number,
  delta: Schema.Union(TextDelta, InputJsonDelta, ThinkingDelta, SignatureDelta, OtherDelta)
})

/** `content_block_stop`. */
export const ContentBlockStop = Schema.Struct({ type: Schema.Literal("content_block_stop"), index: Schema.Number })

/** Usage as `message_delta` reports it: cumulative `output_tokens`, and (newer API) the input figures again. */
export const DeltaUsage = Schema.Struct({
  output_tokens: Schema.Number,
  input_tokens: OptionalNumber,
  cache_creation_input_tokens: OptionalNumber,
  cache_read_input_tokens: OptionalNumber
})

/** `message_delta`: the stop reason and the output usage so far. */
export const MessageDelta = Schema.Struct({
  type: Schema.Literal("message_delta"),
  delta: Schema.Struct({ stop_reason: OptionalString, stop_sequence: OptionalString }),
  usage: Schema.optional(Schema.NullOr(DeltaUsage))
})

/** `message_stop`: the end of the stream. */
export const MessageStop = Schema.Struct({ type: Schema.Literal("message_stop") })

/** `ping`: a keep-alive. */
export const Ping = Schema.Struct({ type: Schema.Literal("ping") })

/** The error body, in a response and as an `error` event: `{"type":"error","error":{"type","message"}}`. */
export const ErrorEvent = Schema.Struct({
  type: Schema.Literal("error"),
  error: Schema.Struct({ type: Schema.String, message: Schema.String })
})

/** A non-streamed message; `usage` may be missing (a gateway or compatible server that does not report it). */
export const Message = Schema.Struct({
  id: Schema.String,
  model: Schema.String,
  content: Schema.Array(ContentBlock),
  stop_reason: OptionalString,
  stop_sequence: OptionalString,
  usage: Schema.optional(Schema.NullOr(Usage))
})

/** The type of a usage object from `message_start` or a message. */
export type Usage = typeof Usage.Type
