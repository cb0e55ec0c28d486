/**
 * What the measuring policies (`metrics`, `detectBuffered`) share: a precise clock reading, the
 * buffered-stream criterion and the channel through which `detectBuffered` tells `metrics` its verdict.
 * Not re-exported: the public names live in `buffered.ts` and `metrics.ts`.
 * @internal
 */
import type * as Clock from "effect/Clock"
import * as Context from "effect/Context"

/** Milliseconds (fractional) on the clock's monotonic scale: for durations, not dates. */
export const nowMs = (clock: Clock.Clock): number => Number(clock.unsafeCurrentTimeNanos()) / 1e6

/** The characters a token event carries (text, reasoning or tool-call arguments). */
export const charsOf = (event: { readonly _tag: string; readonly text?: string; readonly argumentsDelta?: string }): number =>
  event._tag === "ToolCallDelta" ? (event.argumentsDelta ?? "").length : (event.text ?? "").length

/**
 * A buffered-stream warning: the answer's first token came within a small margin of its last one.
 * @since 0.1.0
 * @category models
 */
export interface BufferedWarning {
  /** From the start of the request to the first token. */
  readonly firstTokenMs: number
  /** From the first token to the last. */
  readonly spreadMs: number
  /** From the start of the request to the last token. */
  readonly totalMs: number
  /** Characters of text, reasoning and tool-call arguments. */
  readonly chars: number
  /** Token events (text, reasoning and tool-call deltas). */
  readonly deltas: number
}

/** The criterion, resolved from the options. */
export interface Criterion {
  readonly minChars: number
  readonly margin: number
  readonly minMarginMs: number
}

/** The defaults of `detectBuffered`, which `metrics` also applies when no `detectBuffered` reports to it. */
export const defaultCriterion: Criterion = { minChars: 200, margin: 0.1, minMarginMs: 50 }

/**
 * No model streams faster than this (characters per millisecond: 20,000 characters per second, about
 * 5,000 tokens per second). A spread shorter than the answer's length at this rate cannot be generation.
 */
const maxCharsPerMs = 20

/** The timing of one stream, as the measuring policies keep it. */
export interface Timing {
  readonly startMs: number
  /** Undefined when no token came. */
  readonly firstTokenMs: number | undefined
  readonly lastTokenMs: number
  readonly chars: number
  readonly deltas: number
}

/**
 * The buffered-stream criterion: an answer of at least `minChars` characters whose spread (first to
 * last token) is at most `margin` of its total time (start to last token) and at most
 * `max(minMargin, chars ÷ 20,000/s)`. The second bound keeps a genuinely streamed answer that merely
 * started late (a reasoning model thinking in silence) from being flagged.
 */
export const checkBuffered = (criterion: Criterion, timing: Timing): BufferedWarning | undefined => {
  if (timing.firstTokenMs === undefined || timing.chars < criterion.minChars) return undefined
  const spreadMs = Math.max(0, timing.lastTokenMs - timing.firstTokenMs)
  const totalMs = Math.max(0, timing.lastTokenMs - timing.startMs)
  if (spreadMs > criterion.margin * totalMs) return undefined
  if (spreadMs > Math.max(criterion.minMarginMs, timing.chars / maxCharsPerMs)) return undefined
  return {
    firstTokenMs: timing.firstTokenMs - timing.startMs,
    spreadMs,
    totalMs,
    chars: timing.chars,
    deltas: timing.deltas
  }
}

/** A verdict of `detectBuffered`: the warning, or undefined when the stream looked genuinely streamed. */
export interface BufferedVerdict {
  readonly warning: BufferedWarning | undefined
}

/** Where `detectBuffered` reports its verdict; `metrics` provides one to the stream it wraps. */
export class BufferedReports extends Context.Tag("@sluice/core/Policy/BufferedReports")<BufferedReports, {
  readonly report: (verdict: BufferedVerdict) => void
}>() {}
