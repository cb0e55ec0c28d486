/**
 * Buffered-stream detection: a "stream" whose first token came only when the whole answer did.
 * @internal
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import { Accumulator } from "../../Completion.js"
import * as LanguageModel from "../../LanguageModel.js"
import * as LlmError from "../../LlmError.js"
import { isToken } from "../../StreamEvent.js"
import { streamPolicy, type StreamPolicy } from "./builders.js"
import { Burst, charsOf, checkBuffered, type Criterion, defaultCriterion, nowMs } from "./measure.js"

export type { BufferedWarning } from "./measure.js"

/**
 * Options of `detectBuffered`.
 * @since 0.1.0
 * @category models
 */
export interface DetectBufferedOptions {
  /** Answers shorter than this (characters of text, reasoning and tool-call arguments) are never flagged; default 200. */
  readonly minChars?: number | undefined
  /** The largest spread (first to last token), as a fraction of the total time (start to last token); default 0.1. */
  readonly margin?: number | undefined
  /** A spread up to this long counts as "at once" however short the answer; default 50 ms. */
  readonly minMargin?: Duration.DurationInput | undefined
  /** Fail the stream at its end with `BufferedStream` (carrying the whole answer as `partial`) instead of warning. */
  readonly fail?: boolean | undefined
}

/**
 * Flags a stream whose text came at once instead of as it was generated, on an answer long enough to
 * tell (a gateway that buffered the answer and replayed it). The criterion: at least `minChars`
 * characters, and either a spread from the first to the last token of at most `margin` (10 %) of the
 * time from the start to the last token and at most `max(minMargin, chars ÷ 20,000/s)` — faster than
 * any model generates, so an answer that merely started late (hidden reasoning) is not flagged — or,
 * for a gateway that lets the first word through and holds the rest, a last burst of two deltas or more
 * arriving that fast with at least 80 % of the characters, within the last `margin` of the time. By default a flagged
 * stream logs a warning and reports to an enclosing `metrics` (its summary's `buffered`; put
 * `detectBuffered` before `metrics` in the pipe); with `fail: true` it fails at its end with
 * `BufferedStream`. Times come from the `Clock` service.
 * @since 0.1.0
 * @category policies
 */
export const detectBuffered = (options: DetectBufferedOptions = {}): StreamPolicy => {
  const criterion: Criterion = {
    minChars: options.minChars ?? defaultCriterion.minChars,
    margin: options.margin ?? defaultCriterion.margin,
    minMarginMs: options.minMargin === undefined
      ? defaultCriterion.minMarginMs
      : Duration.toMillis(Duration.decode(options.minMargin))
  }
  const fail = options.fail === true
  return streamPolicy((inner, site, context) =>
    LanguageModel.unwrap(
      Effect.gen(function*() {
        const clock = yield* Effect.clock
        const report = context.buffered
        const startMs = nowMs(clock)
        let firstTokenMs: number | undefined
        let lastTokenMs = startMs
        let chars = 0
        let deltas = 0
        const burst = new Burst()
        // The partial answer is needed only to fail with it.
        const acc = fail ? new Accumulator() : undefined
        const observed = Stream.mapChunks(inner(context), (chunk) => {
          let now: number | undefined
          const lastMs = lastTokenMs
          const charsBefore = chars
          const deltasBefore = deltas
          for (const event of chunk) {
            if (acc !== undefined) acc.add(event)
            if (!isToken(event)) continue
            if (now === undefined) now = nowMs(clock)
            if (firstTokenMs === undefined) firstTokenMs = now
            lastTokenMs = now
            chars += charsOf(event)
            deltas++
          }
          if (now !== undefined) burst.add(now, lastMs, chars - charsBefore, deltas - deltasBefore, criterion.minMarginMs)
          return chunk
        })
        const atEnd = Stream.unwrap(Effect.suspend(() => {
          const warning = checkBuffered(criterion, { startMs, firstTokenMs, lastTokenMs, chars, deltas, burst })
          if (report !== undefined) report({ warning })
          if (warning === undefined) return Effect.succeed(Stream.empty)
          const error = new LlmError.BufferedStream({
            ...site,
            spreadMs: warning.spreadMs,
            firstTokenMs: warning.firstTokenMs,
            ...(warning.heldMs > 0 ? { heldMs: warning.heldMs, replayedChars: warning.replayedChars } : {}),
            ...(acc === undefined ? {} : { partial: acc.snapshot() })
          })
          if (fail) return Effect.succeed(Stream.fail(error))
          return Effect.logWarning(error.message).pipe(
            Effect.annotateLogs({
              "sluice.provider": site.provider,
              "sluice.model": site.model,
              "sluice.first_token_ms": Math.round(warning.firstTokenMs),
              "sluice.spread_ms": Math.round(warning.spreadMs),
              "sluice.held_ms": Math.round(warning.heldMs),
              "sluice.chars": warning.chars
            }),
            Effect.as(Stream.empty)
          )
        }))
        return Stream.concat(observed, atEnd)
      })
    )
  )
}
