/**
 * What the measuring policies (`metrics`, `detectBuffered`) share: a precise clock reading, the
 * buffered-stream criterion and the verdict `detectBuffered` tells `metrics` (through the policy context's `buffered`).
 * Not re-exported: the public names live in `buffered.ts` and `metrics.ts`.
 * @internal
 */
import type * as Clock from "effect/Clock"
import type { BufferedWarning } from "../../Policy.js"

/** Milliseconds (fractional) on the clock's monotonic scale: for durations, not dates. */
export const nowMs = (clock: Clock.Clock): number => Number(clock.unsafeCurrentTimeNanos()) / 1e6

/** The characters a token event carries (text, reasoning or tool-call arguments). */
export const charsOf = (event: { readonly _tag: string; readonly text?: string; readonly argumentsDelta?: string }): number =>
  event._tag === "ToolCallDelta" ? (event.argumentsDelta ?? "").length : (event.text ?? "").length

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

/** The part of the answer that, arriving in one burst after a hold, makes it a replay ("most of the text"). */
const replayedShare = 0.8

/**
 * The last burst of a stream: deltas that arrived closer together than any model generates them (their
 * characters within `max(minMargin, chars ÷ 20,000/s)`). Updated once per arrival, without allocating.
 */
export class Burst {
  /** When the burst began; `heldMs` is the silence before it. */
  startMs = 0
  heldMs = 0
  chars = 0
  deltas = 0

  /** Deltas (`deltas` of them, `chars` characters) that arrived together at `nowMs`; `lastMs` is when the previous token came. */
  add(nowMs: number, lastMs: number, chars: number, deltas: number, minMarginMs: number): void {
    if (this.deltas > 0 && nowMs - this.startMs <= Math.max(minMarginMs, (this.chars + chars) / maxCharsPerMs)) {
      this.chars += chars
      this.deltas += deltas
      return
    }
    this.startMs = nowMs
    this.heldMs = this.deltas === 0 ? 0 : nowMs - lastMs
    this.chars = chars
    this.deltas = deltas
  }
}

/** The timing of one stream, as the measuring policies keep it. */
export interface Timing {
  readonly startMs: number
  /** Undefined when no token came. */
  readonly firstTokenMs: number | undefined
  readonly lastTokenMs: number
  readonly chars: number
  readonly deltas: number
  readonly burst: Burst
}

/**
 * The buffered-stream criterion, on an answer of at least `minChars` characters: its spread (first to
 * last token) is at most `margin` of its total time (start to last token) and at most
 * `max(minMargin, chars ÷ 20,000/s)` — the whole answer came at once; or its last burst (deltas faster
 * than generation) holds at least 80 % of its characters in two deltas or more and lasted at most
 * `margin` of the total time — the first tokens came at once and the rest was held, then replayed.
 * The rate bound keeps a genuinely streamed answer that merely started late (a reasoning model thinking
 * in silence) from being flagged; the two deltas keep a provider that sends its text in a few large
 * chunks from being flagged.
 */
export const checkBuffered = (criterion: Criterion, timing: Timing): BufferedWarning | undefined => {
  if (timing.firstTokenMs === undefined || timing.chars < criterion.minChars) return undefined
  const spreadMs = Math.max(0, timing.lastTokenMs - timing.firstTokenMs)
  const totalMs = Math.max(0, timing.lastTokenMs - timing.startMs)
  const warning = (heldMs: number, replayedChars: number): BufferedWarning => ({
    firstTokenMs: timing.firstTokenMs === undefined ? 0 : timing.firstTokenMs - timing.startMs,
    spreadMs,
    totalMs,
    chars: timing.chars,
    deltas: timing.deltas,
    heldMs,
    replayedChars
  })
  if (spreadMs <= criterion.margin * totalMs && spreadMs <= Math.max(criterion.minMarginMs, timing.chars / maxCharsPerMs)) {
    return warning(0, timing.chars)
  }
  const burst = timing.burst
  if (
    burst.deltas >= 2 && burst.chars >= replayedShare * timing.chars &&
    timing.lastTokenMs - burst.startMs <= criterion.margin * totalMs
  ) {
    return warning(burst.heldMs, burst.chars)
  }
  return undefined
}

/** A verdict of `detectBuffered`: the warning, or undefined when the stream looked genuinely streamed. */
export interface BufferedVerdict {
  readonly warning: BufferedWarning | undefined
}
