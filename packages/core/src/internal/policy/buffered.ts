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
import type { DetectBufferedOptions, StreamPolicy } from "../../Policy.js"
import { streamPolicy } from "./builders.js"
import { Burst, charsOf, checkBuffered, type Criterion, defaultCriterion, nowMs } from "./measure.js"

/** The implementation of `Policy.detectBuffered`. */
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
