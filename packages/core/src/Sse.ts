/**
 * A spec-complete, incremental Server-Sent Events decoder (WHATWG HTML "event stream interpretation").
 *
 * Linear in the input whatever the read boundaries; one input chunk of bytes gives one chunk of
 * events; an event is out as soon as its terminating blank line has arrived.
 *
 * @example
 * ```ts
 * import { Stream } from "effect"
 * import { Sse } from "@sluice/core"
 * const events = Stream.make(new TextEncoder().encode("data: hi\n\n")).pipe(Sse.decode())
 * // Stream of { event: "message", data: "hi", id: undefined, retry: undefined }
 * ```
 *
 * @since 0.1.0
 */
import * as Channel from "effect/Channel"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import { dual } from "effect/Function"
import { hasProperty } from "effect/Predicate"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"

/**
 * One dispatched event. `id` is the last event id in force (undefined until the stream set one);
 * `retry` is the reconnection time set inside this event's block, as metadata only.
 * @since 0.1.0
 * @category models
 */
export interface Event {
  readonly event: string
  readonly data: string
  readonly id: string | undefined
  readonly retry: number | undefined
}

/**
 * Pending data (a line without its end, plus the event's data so far) grew past the limit.
 * @since 0.1.0
 * @category errors
 */
export class EventTooLarge extends Schema.TaggedError<EventTooLarge>()("EventTooLarge", {
  limit: Schema.Number,
  size: Schema.Number
}) {
  override get message(): string {
    return `an SSE event grew to ${this.size} characters, past the limit of ${this.limit}`
  }
}

/**
 * The body ended inside an event (a line or a block without its blank line): the spec drops it, this says so.
 * @since 0.1.0
 * @category errors
 */
export class EndedMidEvent extends Schema.TaggedError<EndedMidEvent>()("EndedMidEvent", {
  /** Characters of the unfinished event that were dropped. */
  dropped: Schema.Number
}) {
  override get message(): string {
    return `the event stream ended in the middle of an event (${this.dropped} characters dropped)`
  }
}

/**
 * The default bound on pending data: 10 MiB.
 * @since 0.1.0
 * @category constants
 */
export const defaultMaxEventSize = 10 * 1024 * 1024

/**
 * Decoder options.
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Bound on a pending line plus the event's data, in characters (default 10 MiB). */
  readonly maxEventSize?: number
  /** At EOF inside an event: drop it as the spec says (`"ignore"`, default) or fail with `EndedMidEvent`. */
  readonly endedMidEvent?: "ignore" | "fail"
}

const LF = 10
const CR = 13
const COLON = 58
const SPACE = 32

/**
 * The low-level incremental decoder: feed it reads, it calls `emit` for each dispatched event.
 * One instance per response. Used by the provider adapters to fuse decoding into a single stream stage.
 * @since 0.1.0
 * @category decoding
 */
export class Decoder {
  private readonly text = new TextDecoder("utf-8")
  /** Fragments of the current line that arrived in earlier reads, joined once when the line ends. */
  private fragments: Array<string> = []
  private fragmentsLength = 0
  /** A read ended with CR: an LF starting the next read belongs to that line end. */
  private skipLF = false
  private data = ""
  private hasData = false
  private eventType = ""
  private lastId: string | undefined = undefined
  private retry: number | undefined = undefined
  /** Characters of field lines since the last blank line: a block the body may end inside. */
  private blockChars = 0
  private failed: EventTooLarge | undefined = undefined

  constructor(readonly maxEventSize: number = defaultMaxEventSize) {}

  /** Decodes one read; returns the failure once pending data passes the limit (further input is ignored). */
  write(bytes: Uint8Array, emit: (event: Event) => void): EventTooLarge | undefined {
    if (this.failed !== undefined) return this.failed
    const text = this.text.decode(bytes, { stream: true })
    return text.length === 0 ? undefined : this.scan(text, emit)
  }

  /** Ends the input: flushes the UTF-8 decoder; returns how many characters of an unfinished event were dropped (0: none). */
  end(emit: (event: Event) => void): EventTooLarge | number {
    if (this.failed !== undefined) return this.failed
    const rest = this.text.decode()
    if (rest.length > 0) {
      const failed = this.scan(rest, emit)
      if (failed !== undefined) return failed
    }
    const dropped = this.fragmentsLength + this.blockChars
    this.fragments = []
    this.fragmentsLength = 0
    this.data = ""
    this.hasData = false
    this.blockChars = 0
    return dropped
  }

  private scan(s: string, emit: (event: Event) => void): EventTooLarge | undefined {
    const len = s.length
    let pos = 0
    if (this.skipLF) {
      this.skipLF = false
      if (s.charCodeAt(0) === LF) pos = 1
    }
    // Positions of the next LF and CR at or after `pos`; -1 once none is left in this read.
    // Each is searched again only after the cursor passes it, so the read is scanned once.
    let lf = -2
    let cr = -2
    while (pos < len) {
      if (lf !== -1 && lf < pos) lf = s.indexOf("\n", pos)
      if (cr !== -1 && cr < pos) cr = s.indexOf("\r", pos)
      let end: number
      if (lf === -1) {
        if (cr === -1) break
        end = cr
      } else {
        end = cr === -1 || lf < cr ? lf : cr
      }
      let line: string
      if (this.fragmentsLength > 0 || this.fragments.length > 0) {
        this.fragments.push(s.slice(pos, end))
        line = this.fragments.join("")
        this.fragments = []
        this.fragmentsLength = 0
      } else {
        line = s.slice(pos, end)
      }
      if (s.charCodeAt(end) === CR) {
        if (end + 1 < len) {
          pos = s.charCodeAt(end + 1) === LF ? end + 2 : end + 1
        } else {
          this.skipLF = true
          pos = end + 1
        }
      } else {
        pos = end + 1
      }
      if (line.length === 0) {
        if (this.hasData) {
          emit({ event: this.eventType === "" ? "message" : this.eventType, data: this.data, id: this.lastId, retry: this.retry })
          this.data = ""
          this.hasData = false
        }
        this.eventType = ""
        this.retry = undefined
        this.blockChars = 0
      } else if (line.charCodeAt(0) !== COLON) {
        this.blockChars += line.length + 1
        if (this.field(line)) return this.fail(this.data.length)
      }
    }
    if (pos < len) {
      const rest = s.slice(pos)
      this.fragments.push(rest)
      this.fragmentsLength += rest.length
      if (this.fragmentsLength + this.data.length > this.maxEventSize) {
        return this.fail(this.fragmentsLength + this.data.length)
      }
    }
    return undefined
  }

  /** Applies one non-empty, non-comment line; true when the event's data passed the limit. */
  private field(line: string): boolean {
    const first = line.charCodeAt(0)
    // Fast path for the line that matters: "data:".
    if (
      first === 100 && line.charCodeAt(1) === 97 && line.charCodeAt(2) === 116 && line.charCodeAt(3) === 97 &&
      line.charCodeAt(4) === COLON
    ) {
      return this.appendData(line.slice(line.charCodeAt(5) === SPACE ? 6 : 5))
    }
    const colon = line.indexOf(":")
    const name = colon === -1 ? line : line.slice(0, colon)
    const value = colon === -1 ? "" : line.slice(line.charCodeAt(colon + 1) === SPACE ? colon + 2 : colon + 1)
    switch (name) {
      case "data":
        return this.appendData(value)
      case "event":
        this.eventType = value
        return false
      case "id":
        if (value.indexOf("\u0000") === -1) this.lastId = value
        return false
      case "retry":
        if (/^[0-9]+$/.test(value)) this.retry = Number(value)
        return false
      default:
        return false
    }
  }

  private appendData(value: string): boolean {
    if (this.hasData) {
      this.data = this.data + "\n" + value
    } else {
      this.data = value
      this.hasData = true
    }
    return this.data.length > this.maxEventSize
  }

  private fail(size: number): EventTooLarge {
    this.failed = new EventTooLarge({ limit: this.maxEventSize, size })
    this.fragments = []
    this.data = ""
    return this.failed
  }
}

/**
 * A fresh decoder.
 * @since 0.1.0
 * @category decoding
 */
export const makeDecoder = (options?: Pick<Options, "maxEventSize">): Decoder =>
  new Decoder(options?.maxEventSize ?? defaultMaxEventSize)

/**
 * Decodes a byte stream into SSE events.
 * @since 0.1.0
 * @category decoding
 */
export const decode: {
  (options?: Options): <E, R>(self: Stream.Stream<Uint8Array, E, R>) => Stream.Stream<Event, E | EventTooLarge | EndedMidEvent, R>
  <E, R>(self: Stream.Stream<Uint8Array, E, R>, options?: Options): Stream.Stream<Event, E | EventTooLarge | EndedMidEvent, R>
} = dual(
  (args) => hasProperty(args[0], Stream.StreamTypeId),
  <E, R>(self: Stream.Stream<Uint8Array, E, R>, options?: Options): Stream.Stream<Event, E | EventTooLarge | EndedMidEvent, R> =>
    Stream.suspend(() => Stream.pipeThroughChannel(self, decodeChannel<E>(makeDecoder(options), options?.endedMidEvent ?? "ignore")))
)

const decodeChannel = <E>(
  decoder: Decoder,
  endedMidEvent: "ignore" | "fail"
): Channel.Channel<Chunk.Chunk<Event>, Chunk.Chunk<Uint8Array>, E | EventTooLarge | EndedMidEvent, E, unknown, unknown> => {
  let out: Array<Event> = []
  const emit = (event: Event): void => {
    out.push(event)
  }
  type Out = Channel.Channel<Chunk.Chunk<Event>, Chunk.Chunk<Uint8Array>, E | EventTooLarge | EndedMidEvent, E, unknown, unknown>
  const flush = (then: Out): Out => {
    if (out.length === 0) return then
    const events = Chunk.unsafeFromArray(out)
    out = []
    return Channel.zipRight(Channel.write(events), then)
  }
  const loop: Out = Channel.readWithCause({
      onInput: (input: Chunk.Chunk<Uint8Array>) => {
        for (const bytes of input) {
          const failed = decoder.write(bytes, emit)
          if (failed !== undefined) return flush(Channel.fail(failed))
        }
        return flush(loop)
      },
      onFailure: (cause) => flush(Channel.failCause(cause)),
      onDone: () => {
        const ended = decoder.end(emit)
        if (typeof ended !== "number") return flush(Channel.fail(ended))
        if (ended > 0 && endedMidEvent === "fail") return flush(Channel.fail(new EndedMidEvent({ dropped: ended })))
        return flush(Channel.void)
      }
    })
  return loop
}

/**
 * Decodes a whole body at once (for tests and non-streaming use).
 * @since 0.1.0
 * @category decoding
 */
export const decodeAll = (bytes: Uint8Array, options?: Pick<Options, "maxEventSize">): Effect.Effect<ReadonlyArray<Event>, EventTooLarge> =>
  Effect.suspend(() => {
    const decoder = makeDecoder(options)
    const events: Array<Event> = []
    const emit = (event: Event) => {
      events.push(event)
    }
    const failed = decoder.write(bytes, emit)
    if (failed !== undefined) return Effect.fail(failed)
    const ended = decoder.end(emit)
    return typeof ended === "number" ? Effect.succeed(events) : Effect.fail(ended)
  })
