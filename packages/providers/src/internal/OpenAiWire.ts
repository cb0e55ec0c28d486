/**
 * The OpenAI Chat Completions wire format, as real OpenAI-compatible servers send it.
 *
 * The Schemas are the reference: tolerant of extra fields, strict on every field Sluice reads.
 * The streaming hot path checks the same rules by hand (a Schema decode costs about 3 µs per chunk,
 * twice JSON.parse); a property test holds the two to agreement, and a chunk the fast check rejects
 * is run through the Schema to say why.
 * @internal
 */
import * as Schema from "effect/Schema"

const OptionalString = Schema.optional(Schema.NullOr(Schema.String))
const OptionalNumber = Schema.optional(Schema.NullOr(Schema.Number))

/** A fragment of a tool call in a delta; `index` is absent on some servers. */
export const ToolCallFragment = Schema.Struct({
  index: Schema.optional(Schema.Number),
  id: OptionalString,
  type: OptionalString,
  function: Schema.optional(Schema.NullOr(Schema.Struct({ name: OptionalString, arguments: OptionalString })))
})

/** A part type of another kind (an image, Mistral's `reference`): accepted and not read. */
const otherPart = (known: ReadonlyArray<string>) =>
  Schema.Struct({ type: Schema.String.pipe(Schema.filter((type) => !known.includes(type))) })

/** A text part. */
export const TextPart = Schema.Struct({ type: Schema.Literal("text"), text: Schema.String })

/** A thinking part (Mistral's reasoning models): its thinking is a string or text parts. */
export const ThinkingPart = Schema.Struct({
  type: Schema.Literal("thinking"),
  thinking: Schema.Union(Schema.String, Schema.Array(Schema.Union(TextPart, otherPart(["text"]))))
})

/** A refusal part. */
export const RefusalPart = Schema.Struct({ type: Schema.Literal("refusal"), refusal: Schema.String })

/** One part of an array `content`: text and refusal parts are text, thinking parts reasoning, others skipped. */
export const ContentPart = Schema.Union(TextPart, ThinkingPart, RefusalPart, otherPart(["text", "thinking", "refusal"]))

/** `content`: a string, or an array of parts (Mistral's Magistral, in a delta and in a message). */
export const Content = Schema.optional(Schema.NullOr(Schema.Union(Schema.String, Schema.Array(ContentPart))))

/** A streamed delta: role, content, reasoning (`reasoning_content` for DeepSeek/vLLM, `reasoning` for Groq/OpenRouter), refusal, tool calls. */
export const Delta = Schema.Struct({
  role: OptionalString,
  content: Content,
  reasoning_content: OptionalString,
  reasoning: OptionalString,
  refusal: OptionalString,
  tool_calls: Schema.optional(Schema.NullOr(Schema.Array(ToolCallFragment)))
})

/** Token usage, with OpenAI's details and DeepSeek's cache field. */
export const Usage = Schema.Struct({
  prompt_tokens: Schema.Number,
  completion_tokens: Schema.Number,
  total_tokens: OptionalNumber,
  prompt_tokens_details: Schema.optional(Schema.NullOr(Schema.Struct({ cached_tokens: OptionalNumber }))),
  completion_tokens_details: Schema.optional(Schema.NullOr(Schema.Struct({ reasoning_tokens: OptionalNumber }))),
  prompt_cache_hit_tokens: OptionalNumber
})

/** One choice of a chunk. */
export const ChunkChoice = Schema.Struct({
  index: Schema.optional(Schema.Number),
  delta: Schema.optional(Schema.NullOr(Delta)),
  finish_reason: OptionalString
})

/** A `chat.completion.chunk`: `choices` may be empty (Azure filter results, the usage chunk); usage may sit on any chunk or under `x_groq`. */
export const ChatCompletionChunk = Schema.Struct({
  id: OptionalString,
  choices: Schema.optional(Schema.NullOr(Schema.Array(ChunkChoice))),
  usage: Schema.optional(Schema.NullOr(Usage)),
  x_groq: Schema.optional(Schema.NullOr(Schema.Struct({ usage: Schema.optional(Schema.NullOr(Usage)) })))
})

/** A whole tool call in a non-streamed message. */
export const ToolCall = Schema.Struct({
  id: Schema.String,
  type: OptionalString,
  function: Schema.Struct({ name: Schema.String, arguments: Schema.String })
})

/** A non-streamed `chat.completion`. */
export const ChatCompletion = Schema.Struct({
  id: OptionalString,
  choices: Schema.Array(
    Schema.Struct({
      index: Schema.optional(Schema.Number),
      message: Schema.Struct({
        role: OptionalString,
        content: Content,
        reasoning_content: OptionalString,
        reasoning: OptionalString,
        refusal: OptionalString,
        tool_calls: Schema.optional(Schema.NullOr(Schema.Array(ToolCall)))
      }),
      finish_reason: OptionalString
    })
  ),
  usage: Schema.optional(Schema.NullOr(Usage)),
  x_groq: Schema.optional(Schema.NullOr(Schema.Struct({ usage: Schema.optional(Schema.NullOr(Usage)) })))
})

/** The type of a usage object. */
export type Usage = typeof Usage.Type
