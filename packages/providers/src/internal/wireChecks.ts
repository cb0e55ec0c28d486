/**
 * What the hand-written chunk checks of the stream decoders share: optional-field tests, usage equality and
 * the `DecodeError` for a chunk that does not fit.
 * @internal
 */
import { LlmError, type StreamEvent } from "@sluice/core"
import type { Site } from "./httpFailure.js"

/** A string, or absent (undefined or null). */
export const isOptString = (u: unknown): u is string | null | undefined => u === undefined || u === null || typeof u === "string"

/** A number, or absent (undefined or null). */
export const isOptNumber = (u: unknown): u is number | null | undefined => u === undefined || u === null || typeof u === "number"

/** A boolean, or absent (undefined or null). */
export const isOptBoolean = (u: unknown): u is boolean | null | undefined => u === undefined || u === null || typeof u === "boolean"

/** A string with at least one character. */
export const nonEmpty = (u: string | null | undefined): u is string => typeof u === "string" && u.length > 0

/** The same figures: a cumulative usage repeated unchanged is not emitted again. */
export const sameUsage = (a: StreamEvent.Usage, b: StreamEvent.Usage): boolean =>
  a.inputTokens === b.inputTokens && a.outputTokens === b.outputTokens && a.totalTokens === b.totalTokens &&
  a.cachedInputTokens === b.cachedInputTokens && a.reasoningTokens === b.reasoningTokens

/** A `DecodeError` with the offending data, cut to 200 characters (the adapter scrubs it of the secrets). */
export const decodeError = (site: Site, reason: string, data: string): LlmError.LlmError =>
  new LlmError.DecodeError({ provider: site.provider, model: site.model, reason, data: data.slice(0, 200) })
