/**
 * What the stream decoders share: parsing an event's data, optional-field tests, the finish and the usage
 * that goes out with it, and the `DecodeError` for a chunk that does not fit.
 * @internal
 */
import * as Either from "effect/Either"
import * as ParseResult from "effect/ParseResult"
import * as Predicate from "effect/Predicate"
import { LlmError, StreamEvent } from "@sluice/core"
import type { Site } from "./httpFailure.js"

/** A parsed JSON object. */
export type JsonObject = { readonly [key: string]: unknown }

/**
 * Parses one event's data as a JSON object (`what` names it in the reason: "a chunk", "an event"); when it is
 * not one, the reason as a string (JSON.parse never yields a string for an object), for the decoder to turn
 * into its `DecodeError`.
 */
export const parseObject = (data: string, what: string): JsonObject | string => {
  let json: unknown
  try {
    json = JSON.parse(data)
  } catch (e) {
    return `malformed JSON (${e instanceof Error ? e.message : String(e)})`
  }
  return Predicate.isRecord(json) ? json : `${what} is not a JSON object`
}

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

/**
 * The finish, once, and the usage that goes out with it: cumulative figures (vLLM, Gemini, Anthropic's
 * `message_delta`) are final only at the finish, so usage goes out with or after it, and again only when it
 * changes. One per response.
 */
export class Finishing {
  private done = false
  private emitted: StreamEvent.Usage | undefined = undefined

  /** Whether the finish went out. */
  get finished(): boolean {
    return this.done
  }

  /** Pushes the finish unless one went out already: the first finish reason counts. */
  finish(reason: StreamEvent.FinishReason, raw: string, out: Array<StreamEvent.StreamEvent>): void {
    if (this.done) return
    this.done = true
    out.push(StreamEvent.finish(reason, raw))
  }

  /** Pushes the usage known so far when the finish went out and it differs from the usage sent. */
  usage(usage: StreamEvent.Usage | undefined, out: Array<StreamEvent.StreamEvent>): void {
    if (!this.done || usage === undefined || (this.emitted !== undefined && sameUsage(usage, this.emitted))) return
    this.emitted = usage
    out.push(usage)
  }
}

/** Why data does not fit its schema: `what` ("a chunk does not match the … schema"), then the Schema's account when it gave one. */
export const mismatch = (what: string, decoded: Either.Either<unknown, ParseResult.ParseError>): string =>
  Either.isLeft(decoded) ? `${what}: ${ParseResult.TreeFormatter.formatErrorSync(decoded.left)}` : what

/** A `DecodeError` with the offending data, cut to 200 characters (the adapter scrubs it of the secrets). */
export const decodeError = (site: Site, reason: string, data: string): LlmError.LlmError =>
  new LlmError.DecodeError({ provider: site.provider, model: site.model, reason, data: data.slice(0, 200) })
