/**
 * Reading a tool call's arguments (JSON text in a `ChatRequest`) for providers that want an object.
 * @internal
 */
import * as Either from "effect/Either"
import * as Predicate from "effect/Predicate"

/** Parses a tool call's arguments into an object; `""` (no arguments) counts as `{}`. */
export const parseArguments = (text: string): Either.Either<{ readonly [key: string]: unknown }, string> => {
  if (text.trim() === "") return Either.right({})
  try {
    const parsed: unknown = JSON.parse(text)
    return Predicate.isRecord(parsed) ? Either.right(parsed) : Either.left("is not a JSON object")
  } catch {
    return Either.left("is not valid JSON")
  }
}
