/**
 * The Gemini API wire format (`models/{model}:streamGenerateContent?alt=sse` and `:generateContent`): every
 * streamed chunk, and the non-streamed answer, is one `GenerateContentResponse`.
 *
 * The Schemas are the reference: tolerant of extra fields (safety ratings, citation metadata, model version,
 * thought signatures, other part kinds), strict on every field Sluice reads. The stream decoder checks the
 * same rules by hand; a property test holds the two to agreement, and a chunk the fast check rejects is run
 * through the Schema to say why.
 * @internal
 */
import * as Schema from "effect/Schema"

const optional = <S extends Schema.Schema.Any>(schema: S) => Schema.optional(Schema.NullOr(schema))
const OptionalNumber = optional(Schema.Number)
const OptionalString = optional(Schema.String)
const OptionalBoolean = optional(Schema.Boolean)

/**
 * A streamed fragment of a function call's arguments (Vertex AI's `streamFunctionCallArguments`; the Gemini
 * API does not send it): the value at `jsonPath`; a string with `willContinue` goes on in the next fragment.
 */
export const PartialArg = Schema.Struct({
  jsonPath: Schema.String,
  stringValue: OptionalString,
  numberValue: OptionalNumber,
  boolValue: OptionalBoolean,
  nullValue: optional(Schema.Literal("NULL_VALUE")),
  willContinue: OptionalBoolean
})

/** A function call: whole (`name`, `args`), or streamed (`name` + `willContinue`, then `partialArgs`, then `{}`). */
export const FunctionCall = Schema.Struct({
  id: OptionalString,
  name: OptionalString,
  args: optional(Schema.Record({ key: Schema.String, value: Schema.Unknown })),
  partialArgs: optional(Schema.Array(PartialArg)),
  willContinue: OptionalBoolean
})

/** A part: text (a thought summary when `thought` is true) or a function call; other kinds are not read. */
export const Part = Schema.Struct({
  text: OptionalString,
  thought: OptionalBoolean,
  functionCall: optional(FunctionCall)
})

/** A candidate's content. */
export const Content = Schema.Struct({ parts: optional(Schema.Array(Part)) })

/** One candidate; only the first (`index` 0 or absent) is the answer. */
export const Candidate = Schema.Struct({
  index: OptionalNumber,
  content: optional(Content),
  finishReason: OptionalString
})

/** Token counts, cumulative on every chunk: `candidatesTokenCount` excludes `thoughtsTokenCount`. */
export const UsageMetadata = Schema.Struct({
  promptTokenCount: OptionalNumber,
  candidatesTokenCount: OptionalNumber,
  totalTokenCount: OptionalNumber,
  thoughtsTokenCount: OptionalNumber,
  cachedContentTokenCount: OptionalNumber,
  toolUsePromptTokenCount: OptionalNumber
})

/** Why the prompt was refused, when it was (then there are no candidates). */
export const PromptFeedback = Schema.Struct({ blockReason: OptionalString, blockReasonMessage: OptionalString })

/** A streamed chunk or a whole answer. */
export const GenerateContentResponse = Schema.Struct({
  candidates: optional(Schema.Array(Candidate)),
  promptFeedback: optional(PromptFeedback),
  usageMetadata: optional(UsageMetadata),
  responseId: OptionalString
})
