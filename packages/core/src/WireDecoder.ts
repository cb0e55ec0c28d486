/**
 * The single stream stage every SSE adapter runs: bytes → SSE events → the provider's wire decoder →
 * `StreamEvent`s, with the partial answer kept and the finish-reason guard applied at the end.
 *
 * A provider supplies a `WireDecoder` (per-event logic); this module owns everything shared:
 * incremental SSE decoding, batching (one chunk of reads gives one chunk of events), the partial
 * `Completion` attached to every failure after the first event, and the truncation checks.
 *
 * @example
 * ```ts
 * import type { HttpClientError, HttpClientResponse } from "@effect/platform"
 * import { LlmError, StreamEvent, WireDecoder } from "@sluice/core"
 *
 * // The streaming response of a request the adapter made with its HttpClient.
 * declare const response: HttpClientResponse.HttpClientResponse
 * // A made-up dialect: each event's data is a piece of the text, `[END]` finishes.
 * const myWireDecoder: WireDecoder.WireDecoder = {
 *   onEvent: (event, out) => {
 *     if (event.data === "[END]") {
 *       out.push(StreamEvent.finish("stop", "end"))
 *       return WireDecoder.End
 *     }
 *     out.push(StreamEvent.textDelta(event.data))
 *     return undefined
 *   }
 * }
 * const toTransportError = (error: HttpClientError.ResponseError) =>
 *   new LlmError.TransportError({ provider: "example", model: "m1", reason: error.message })
 * const events = WireDecoder.decodeBody(response.stream, {
 *   provider: "example", model: "m1", decoder: myWireDecoder, mapBodyError: toTransportError
 * })
 * ```
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Channel from "effect/Channel"
import * as Chunk from "effect/Chunk"
import * as Stream from "effect/Stream"
import * as Completion from "./Completion.js"
import * as LlmError from "./LlmError.js"
import * as Sse from "./Sse.js"
import type { StreamEvent } from "./StreamEvent.js"

/**
 * Returned by `WireDecoder.onEvent` when the provider's end-of-stream marker arrived (`[DONE]`, `message_stop`).
 * @since 0.1.0
 * @category constants
 */
export const End: unique symbol = Symbol.for("@sluice/core/WireDecoder/End")

/**
 * @since 0.1.0
 * @category models
 */
export type End = typeof End

/**
 * A provider's per-event decoding: push the events one SSE event yields into `out`.
 * Return `End` at the provider's end marker, an `LlmError` to fail (without `partial`: the stage adds it), or nothing.
 * @since 0.1.0
 * @category models
 */
export interface WireDecoder {
  readonly onEvent: (event: Sse.Event, out: Array<StreamEvent>) => LlmError.LlmError | End | undefined
}

/**
 * Options of `decodeBody`.
 * @since 0.1.0
 * @category models
 */
export interface Options<E> {
  readonly provider: string
  readonly model: string
  readonly decoder: WireDecoder
  /** Turns a failure of the body stream (connection reset, body cut off) into an `LlmError`. */
  readonly mapBodyError: (error: E) => LlmError.LlmError
  /** The finish-reason guard: an end without `Finish` fails with `IncompleteStream` (default true). */
  readonly guard?: boolean
  /** Bound on one SSE event (default 10 MiB). */
  readonly maxEventSize?: number
  /** Called with every batch of events as it is handed on (the policy context's `progress`). */
  readonly onEvents?: ((events: ReadonlyArray<StreamEvent>) => void) | undefined
  /** The fold of the events handed on, kept for `partial`; pass one to read it afterwards (e.g. to record the attempt). */
  readonly fold?: Completion.Accumulator | undefined
}

/**
 * Decodes a response body into provider-neutral events in one stream stage.
 * @since 0.1.0
 * @category decoding
 */
export const decodeBody = <E, R>(body: Stream.Stream<Uint8Array, E, R>, options: Options<E>): Stream.Stream<StreamEvent, LlmError.LlmError, R> =>
  Stream.suspend(() => Stream.pipeThroughChannel(body, new Stage(options).channel()))

/** Reads above this size are decoded and handed on in slices of it (see `Stage.feed`). */
const sliceBytes = 64 * 1024

type Out<E> = Channel.Channel<Chunk.Chunk<StreamEvent>, Chunk.Chunk<Uint8Array>, LlmError.LlmError, E, unknown, unknown>

class Stage<E> {
  private readonly sse: Sse.Decoder
  private readonly partial: Completion.Accumulator
  private out: Array<StreamEvent> = []
  private failure: LlmError.LlmError | undefined = undefined
  private ended = false
  private finished = false
  private readonly emit = (event: Sse.Event): void => {
    // After the end marker or a failure, the rest of the read is ignored.
    if (this.ended || this.failure !== undefined) return
    const from = this.out.length
    const result = this.options.decoder.onEvent(event, this.out)
    for (let i = from; i < this.out.length; i++) {
      const e = this.out[i]
      this.partial.add(e)
      if (e._tag === "Finish") this.finished = true
    }
    if (result === End) this.ended = true
    else if (result !== undefined) this.failure = this.withPartial(result)
  }

  constructor(readonly options: Options<E>) {
    this.partial = options.fold ?? new Completion.Accumulator()
    this.sse = Sse.makeDecoder({ maxEventSize: options.maxEventSize ?? Sse.defaultMaxEventSize })
  }

  private withPartial(error: LlmError.LlmError): LlmError.LlmError {
    return this.partial.events === 0 ? error : LlmError.withPartial(error, this.partial.snapshot())
  }

  private flush(then: Out<E>): Out<E> {
    if (this.out.length === 0) return then
    if (this.options.onEvents !== undefined) this.options.onEvents(this.out)
    const events = Chunk.unsafeFromArray(this.out)
    this.out = []
    return Channel.zipRight(Channel.write(events), then)
  }

  private tooLarge(error: Sse.EventTooLarge): LlmError.LlmError {
    return this.withPartial(
      new LlmError.DecodeError({ provider: this.options.provider, model: this.options.model, reason: error.message })
    )
  }

  /** The guard: how the stream ended decides between success and `IncompleteStream`. */
  private finish(droppedMidEvent: number): Out<E> {
    if (this.finished || this.options.guard === false) return this.flush(Channel.void)
    const ending = this.ended ? "done-without-finish" : droppedMidEvent > 0 ? "ended-mid-event" : "eof"
    return this.flush(
      Channel.fail(
        this.withPartial(new LlmError.IncompleteStream({ provider: this.options.provider, model: this.options.model, ending }))
      )
    )
  }

  /**
   * Decodes `input` from read `index`, byte `offset`. A read larger than `sliceBytes` (an HTTP client
   * that hands over everything buffered at once) is decoded a slice at a time, each slice's events
   * handed on before the next is decoded: the first token is not held back behind a large read, and a
   * stream holds one slice's events and text at a time, not a whole backlog's.
   */
  private feed(input: Chunk.Chunk<Uint8Array>, index: number, offset: number, loop: Out<E>): Out<E> {
    for (; index < input.length; index++, offset = 0) {
      const bytes = Chunk.unsafeGet(input, index)
      while (true) {
        const end = bytes.length - offset > sliceBytes ? offset + sliceBytes : bytes.length
        const tooLarge = this.sse.write(offset === 0 && end === bytes.length ? bytes : bytes.subarray(offset, end), this.emit)
        if (this.failure !== undefined) return this.flush(Channel.fail(this.failure))
        if (tooLarge !== undefined) return this.flush(Channel.fail(this.tooLarge(tooLarge)))
        if (this.ended) return this.finish(0)
        if (end === bytes.length) break
        offset = end
        if (this.out.length > 0) {
          const at = index
          const from = offset
          return this.flush(Channel.suspend(() => this.feed(input, at, from, loop)))
        }
      }
    }
    return this.flush(loop)
  }

  channel(): Out<E> {
    const loop: Out<E> = Channel.readWithCause({
      onInput: (input: Chunk.Chunk<Uint8Array>) => this.feed(input, 0, 0, loop),
      onFailure: (cause) => {
        // Failures of the body itself (reset, cut off) carry the partial like any other.
        return this.flush(Channel.failCause(Cause.map(cause, (e) => this.withPartial(this.options.mapBodyError(e)))))
      },
      onDone: () => {
        const ended = this.sse.end(this.emit)
        if (this.failure !== undefined) return this.flush(Channel.fail(this.failure))
        if (typeof ended !== "number") return this.flush(Channel.fail(this.tooLarge(ended)))
        return this.finish(ended)
      }
    })
    return loop
  }
}
