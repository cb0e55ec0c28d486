/**
 * Re-chunking text deltas into whole words or lines, for steady rendering.
 * @internal
 */
import * as Cause from "effect/Cause"
import * as Channel from "effect/Channel"
import * as Chunk from "effect/Chunk"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import { Accumulator } from "../../Completion.js"
import * as LanguageModel from "../../LanguageModel.js"
import * as LlmError from "../../LlmError.js"
import type { StreamEvent } from "../../StreamEvent.js"
import type { SmoothOptions, StreamPolicy } from "../../Policy.js"
import { streamPolicy } from "./builders.js"
import { abortableSleep, type PolicyContext } from "./context.js"

/**
 * Cuts the complete chunks off the front of `buffer`, handing each to `emit`; gives the length cut.
 * `added` is the text just appended (the end of `buffer`; what came before it held no boundary). What
 * is left after the last boundary may still grow.
 */
type Cutter = (buffer: string, added: string, emit: (piece: string) => void) => number

const lineCutter: Cutter = (buffer, added, emit) => {
  // Look at the new text first: searching the whole buffer would flatten it at every delta.
  if (added.indexOf("\n") === -1) return 0
  let start = 0
  let nl = buffer.indexOf("\n", buffer.length - added.length)
  while (nl !== -1) {
    emit(buffer.slice(start, nl + 1))
    start = nl + 1
    nl = buffer.indexOf("\n", start)
  }
  return start
}

/**
 * Text held longer than this without a boundary (base64, a run of dashes, a paragraph with no sentence
 * end) is handed on as it is, so the work per delta stays bounded ("word" and RegExp chunking).
 */
const maxPending = 2048

// Word-break classes of ASCII characters, as Unicode's word-break rules (UAX #29, as ICU tailors
// them) see them: letters, digits, and the punctuation that may join two of them.
const Other = 0
const Letter = 1
const Digit = 2
/** `:` joins letters. */
const MidLetter = 3
/** `.` and `'` join letters, and digits. */
const MidNumLet = 4
/** `,` and `;` join digits. */
const MidNum = 5
/** `_` and every non-ASCII character: the segmenter decides. */
const Unsure = 6
const asciiClass = (() => {
  const table = new Uint8Array(128)
  for (let c = 0; c < 128; c++) {
    const ch = String.fromCharCode(c)
    table[c] = /[A-Za-z]/.test(ch) ? Letter : /[0-9]/.test(ch) ? Digit : ch === ":" ? MidLetter
      : ch === "." || ch === "'" ? MidNumLet : ch === "," || ch === ";" ? MidNum : ch === "_" ? Unsure : Other
  }
  return table
})()

/** The class of each character of an ASCII buffer, or undefined when the segmenter must decide. */
const asciiClasses = (buffer: string): Uint8Array | undefined => {
  const classes = new Uint8Array(buffer.length)
  for (let i = 0; i < buffer.length; i++) {
    const code = buffer.charCodeAt(i)
    if (code >= 128) return undefined
    const c = asciiClass[code]
    if (c === Unsure) return undefined
    classes[i] = c
  }
  return classes
}

/** Whether a word starts at `i` (a letter or digit there): the word-break rules WB5–WB12 for ASCII. */
const asciiWordStart = (classes: Uint8Array, i: number): boolean => {
  if (i === 0) return true
  const x = classes[i - 1]
  const y = classes[i]
  if (x === Letter || x === Digit) return false
  if (i < 2) return true
  const w = classes[i - 2]
  if (x === MidLetter) return !(y === Letter && w === Letter)
  if (x === MidNumLet) return !((y === Letter && w === Letter) || (y === Digit && w === Digit))
  if (x === MidNum) return !(y === Digit && w === Digit)
  return true
}

const wordCutter = (): Cutter => {
  const segmenter = new Intl.Segmenter(undefined, { granularity: "word" })
  return (buffer, _added, emit) => {
    // A chunk is a word and what follows it up to the next word; text before the first word joins it.
    // The last word may still grow, so the cut is at its start.
    let start = 0
    let seenWord = false
    const wordAt = (index: number) => {
      if (seenWord && index > start) {
        emit(buffer.slice(start, index))
        start = index
      }
      seenWord = true
    }
    const classes = asciiClasses(buffer)
    if (classes !== undefined) {
      // ASCII (most text): the same rules as the segmenter, without its per-call cost.
      for (let i = 0; i < classes.length; i++) {
        const c = classes[i]
        if ((c === Letter || c === Digit) && asciiWordStart(classes, i)) wordAt(i)
      }
    } else {
      // Everything else, Chinese, Japanese and Thai included, by the segmenter's dictionary.
      for (const segment of segmenter.segment(buffer)) if (segment.isWordLike === true) wordAt(segment.index)
    }
    return capped(buffer, start, emit)
  }
}

/** Hands on the rest of the buffer too when it grew past `maxPending`. */
const capped = (buffer: string, start: number, emit: (piece: string) => void): number => {
  if (buffer.length - start <= maxPending) return start
  emit(buffer.slice(start))
  return buffer.length
}

/** How far back of the new text a match may start (boundary patterns are short). */
const regExpLookBack = 256

const regExpCutter = (pattern: RegExp): Cutter => {
  const flags = pattern.flags.replace(/[gy]/g, "")
  const global = new RegExp(pattern.source, `${flags}g`)
  return (buffer, added, emit) => {
    let start = 0
    global.lastIndex = Math.max(0, buffer.length - added.length - regExpLookBack)
    let match = global.exec(buffer)
    while (match !== null) {
      const end = match.index + match[0].length
      if (end > start) {
        emit(buffer.slice(start, end))
        start = end
      }
      if (match[0].length === 0) global.lastIndex++
      match = global.exec(buffer)
    }
    return capped(buffer, start, emit)
  }
}

const cutterFor = (chunking: SmoothOptions["chunking"]): Cutter =>
  chunking === "line" ? lineCutter : chunking === "word" ? wordCutter() : regExpCutter(chunking)

/** The state of one smoothed stream: a buffer for text and one for reasoning (only one is non-empty at a time). */
class Smoother {
  private text = ""
  private reasoning = ""
  /** What came in: after a flush, exactly what went out. */
  readonly received = new Accumulator()
  private out: Array<StreamEvent> = []
  private readonly emitText = (piece: string) => this.out.push({ _tag: "TextDelta", text: piece })
  private readonly emitReasoning = (piece: string) => this.out.push({ _tag: "ReasoningDelta", text: piece })

  constructor(private readonly cut: Cutter) {}

  onChunk(chunk: Chunk.Chunk<StreamEvent>): Array<StreamEvent> {
    for (const event of chunk) {
      this.received.add(event)
      switch (event._tag) {
        case "TextDelta": {
          if (event.text.length === 0) break
          if (this.reasoning.length > 0) this.flushReasoning()
          this.text += event.text
          const used = this.cut(this.text, event.text, this.emitText)
          if (used > 0) this.text = this.text.slice(used)
          break
        }
        case "ReasoningDelta": {
          if (event.text.length === 0) break
          if (this.text.length > 0) this.flushText()
          this.reasoning += event.text
          const used = this.cut(this.reasoning, event.text, this.emitReasoning)
          if (used > 0) this.reasoning = this.reasoning.slice(used)
          break
        }
        default:
          this.flush()
          this.out.push(event)
      }
    }
    return this.take()
  }

  /** Everything still buffered, as events. */
  end(): Array<StreamEvent> {
    this.flush()
    return this.take()
  }

  private flush(): void {
    if (this.reasoning.length > 0) this.flushReasoning()
    if (this.text.length > 0) this.flushText()
  }

  private flushText(): void {
    this.emitText(this.text)
    this.text = ""
  }

  private flushReasoning(): void {
    this.emitReasoning(this.reasoning)
    this.reasoning = ""
  }

  private take(): Array<StreamEvent> {
    const out = this.out
    if (out.length > 0) this.out = []
    return out
  }
}

type Out = Channel.Channel<Chunk.Chunk<StreamEvent>, Chunk.Chunk<StreamEvent>, LlmError.LlmError, LlmError.LlmError, unknown, unknown>

const writeThen = (events: Array<StreamEvent>, then: Out): Out =>
  events.length === 0 ? then : Channel.zipRight(Channel.write(Chunk.unsafeFromArray(events)), then)

const smoothStage = <R>(
  self: Stream.Stream<StreamEvent, LlmError.LlmError, R>,
  cut: Cutter
): Stream.Stream<StreamEvent, LlmError.LlmError, R> =>
  Stream.suspend(() => {
    const smoother = new Smoother(cut)
    const loop: Out = Channel.readWithCause({
      onInput: (chunk: Chunk.Chunk<StreamEvent>) => writeThen(smoother.onChunk(chunk), loop),
      onFailure: (cause) => {
        // A failure hands on the buffered text first, so the caller has all that arrived and
        // `partial` is exactly that. Interruption and defects pass as they are.
        if (Option.isNone(Cause.failureOption(cause))) return Channel.failCause(cause)
        const received = smoother.received
        const fixed = received.events === 0
          ? cause
          : Cause.map(cause, (error) => LlmError.replacePartial(error, received.snapshot()))
        return writeThen(smoother.end(), Channel.failCause(fixed))
      },
      onDone: () => writeThen(smoother.end(), Channel.void)
    })
    return Stream.pipeThroughChannel(self, loop)
  })

const isText = (event: StreamEvent): boolean => event._tag === "TextDelta" || event._tag === "ReasoningDelta"

/** Spaces text events at least `delayMs` apart; other events pass at once. A pause ends when a deadline's abort fires. */
const pace = <R>(
  self: Stream.Stream<StreamEvent, LlmError.LlmError, R>,
  delayMs: number,
  context: PolicyContext
): Stream.Stream<StreamEvent, LlmError.LlmError, R> =>
  LanguageModel.unwrap(Effect.map(Effect.clock, (clock) => {
    let lastAt: number | undefined
    // What passed, for the partial of a failure in a pause.
    const passed = new Accumulator()
    const stamp = (event: StreamEvent) =>
      Effect.sync(() => {
        lastAt = clock.unsafeCurrentTimeMillis()
        passed.add(event)
        return event
      })
    return Stream.mapEffect(self, (event) => {
      if (!isText(event)) {
        passed.add(event)
        return Effect.succeed(event)
      }
      const wait = lastAt === undefined ? 0 : lastAt + delayMs - clock.unsafeCurrentTimeMillis()
      if (wait <= 0) return stamp(event)
      return abortableSleep(context, Duration.millis(wait)).pipe(
        Effect.mapError((error) => (passed.events === 0 ? error : LlmError.replacePartial(error, passed.snapshot()))),
        Effect.zipRight(stamp(event))
      )
    })
  }))

/** The implementation of `Policy.smooth`. */
export const smooth = (options: SmoothOptions): StreamPolicy => {
  const delayMs = options.delay === undefined ? 0 : Duration.toMillis(Duration.decode(options.delay))
  // A RegExp is compiled once here; "word" gets its own segmenter per policy.
  const cut = cutterFor(options.chunking)
  return streamPolicy((inner, _site, context) => {
    const smoothed = smoothStage(inner(context), cut)
    return delayMs > 0 ? pace(smoothed, delayMs, context) : smoothed
  })
}
