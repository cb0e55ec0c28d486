/**
 * A whole answer: what `LanguageModel.complete` returns and what folding a stream gives.
 *
 * @example
 * ```ts
 * import { Effect, Stream } from "effect"
 * import { Completion, StreamEvent } from "@sluice/core"
 * const events = [StreamEvent.textDelta("Hi"), StreamEvent.finish("stop", "stop")]
 * const completion = Completion.fromEvents(events)
 * // completion.text === "Hi", completion.finishReason === "stop"
 *
 * // The same fold over a stream, as it arrives:
 * const folded = Completion.fromStream(Stream.fromIterable(events)).pipe(Effect.map((c) => c.text))
 * ```
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import type * as Types from "effect/Types"
import * as StreamEvent from "./StreamEvent.js"

/**
 * A complete tool call: its id, name and the JSON text of its arguments.
 * @since 0.1.0
 * @category schemas
 */
export const ToolCall = Schema.Struct({ id: Schema.String, name: Schema.String, arguments: Schema.String })

/**
 * @since 0.1.0
 * @category models
 */
export type ToolCall = typeof ToolCall.Type

/**
 * Token usage of a completion: the figures of a `Usage` event, without its tag.
 * @since 0.1.0
 * @category schemas
 */
export const Usage = StreamEvent.Usage.omit("_tag")

/**
 * @since 0.1.0
 * @category models
 */
export type Usage = typeof Usage.Type

/**
 * The completion; `usage` and `finishReason` are null until the provider sends them.
 * @since 0.1.0
 * @category schemas
 */
export const Completion = Schema.Struct({
  text: Schema.String,
  reasoning: Schema.String,
  toolCalls: Schema.Array(ToolCall),
  usage: Schema.NullOr(Usage),
  finishReason: Schema.NullOr(StreamEvent.FinishReason)
})

/**
 * @since 0.1.0
 * @category models
 */
export type Completion = typeof Completion.Type

/**
 * The completion of a stream that produced nothing yet.
 * @since 0.1.0
 * @category constructors
 */
export const empty: Completion = { text: "", reasoning: "", toolCalls: [], usage: null, finishReason: null }

interface PendingToolCall {
  readonly index: number
  id: string
  name: string
  arguments: string
}

/**
 * Appended deltas are joined into one flat string every this many pieces. A string built by `+=` is a
 * rope with a node per delta (about 32 bytes each, besides the text): 1,000,000 deltas would hold
 * ~32 MB of nodes and slow every major GC; joined in runs it stays close to the text's own size.
 */
const joinEvery = 256

/**
 * Text built from many small pieces: kept as a flat prefix plus the pieces since the last join, so a
 * long answer costs about its own size in memory. Each character is copied once into a run.
 */
class Pieces {
  private joined = ""
  private pending: Array<string> = []

  push(piece: string): void {
    this.pending.push(piece)
    if (this.pending.length === joinEvery) this.compact()
  }

  get value(): string {
    if (this.pending.length > 0) this.compact()
    return this.joined
  }

  private compact(): void {
    this.joined += this.pending.length === 1 ? this.pending[0] : this.pending.join("")
    this.pending = []
  }
}

/**
 * A mutable fold of events into a completion, for hot paths that keep the partial answer as they go.
 * @since 0.1.0
 * @category accumulators
 */
export class Accumulator {
  usage: Usage | null = null
  finishReason: StreamEvent.FinishReason | null = null
  /** How many events were added: zero means nothing reached the caller yet. */
  events = 0
  private readonly textPieces = new Pieces()
  private readonly reasoningPieces = new Pieces()
  private readonly calls: Array<PendingToolCall> = []

  /** The answer's text so far. */
  get text(): string {
    return this.textPieces.value
  }

  /** The reasoning text so far. */
  get reasoning(): string {
    return this.reasoningPieces.value
  }

  /** Folds one event in. */
  add(event: StreamEvent.StreamEvent): void {
    this.events++
    switch (event._tag) {
      case "TextDelta":
        if (event.text.length > 0) this.textPieces.push(event.text)
        break
      case "ReasoningDelta":
        if (event.text.length > 0) this.reasoningPieces.push(event.text)
        break
      case "ToolCallDelta":
        this.addToolCall(event)
        break
      case "Usage":
        this.usage = usageFromEvent(event)
        break
      case "Finish":
        this.finishReason = event.reason
        break
    }
  }

  /** True while a tool call has been started (its arguments may still be arriving). */
  get hasToolCalls(): boolean {
    return this.calls.length > 0
  }

  /** The completion so far, as an immutable value. */
  snapshot(): Completion {
    return {
      text: this.text,
      reasoning: this.reasoning,
      toolCalls: this.calls.map((call) => ({ id: call.id, name: call.name, arguments: call.arguments })),
      usage: this.usage,
      finishReason: this.finishReason
    }
  }

  private addToolCall(event: StreamEvent.ToolCallDelta): void {
    // Calls are few; a linear search beats a Map for the usual one to three.
    let call: PendingToolCall | undefined
    for (let i = 0; i < this.calls.length; i++) {
      if (this.calls[i].index === event.index) {
        call = this.calls[i]
        break
      }
    }
    if (call === undefined) {
      call = { index: event.index, id: "", name: "", arguments: "" }
      this.calls.push(call)
    }
    if (event.id !== undefined && event.id !== "" && call.id === "") call.id = event.id
    if (event.name !== undefined && event.name !== "" && call.name === "") call.name = event.name
    call.arguments += event.argumentsDelta
  }
}

/**
 * The usage figures of a `Usage` event.
 * @since 0.1.0
 * @category conversions
 */
export const usageFromEvent = (event: StreamEvent.Usage): Usage => {
  const usage: Types.Mutable<Usage> = { inputTokens: event.inputTokens, outputTokens: event.outputTokens, totalTokens: event.totalTokens }
  if (event.cachedInputTokens !== undefined) usage.cachedInputTokens = event.cachedInputTokens
  if (event.reasoningTokens !== undefined) usage.reasoningTokens = event.reasoningTokens
  return usage
}

/**
 * A fresh accumulator.
 * @since 0.1.0
 * @category accumulators
 */
export const accumulator = (): Accumulator => new Accumulator()

/**
 * Folds a list of events into a completion.
 * @since 0.1.0
 * @category folding
 */
export const fromEvents = (events: Iterable<StreamEvent.StreamEvent>): Completion => {
  const acc = new Accumulator()
  for (const event of events) acc.add(event)
  return acc.snapshot()
}

/**
 * Runs a stream of events to its end and folds it into a completion.
 * @since 0.1.0
 * @category folding
 */
export const fromStream = <E, R>(stream: Stream.Stream<StreamEvent.StreamEvent, E, R>): Effect.Effect<Completion, E, R> =>
  Effect.suspend(() => {
    const acc = new Accumulator()
    return Stream.runForEachChunk(stream, (chunk) => {
      for (const event of chunk) acc.add(event)
      return Effect.void
    }).pipe(Effect.map(() => acc.snapshot()))
  })

/**
 * The usage of a completion as a `Usage` event, or undefined.
 * @since 0.1.0
 * @category conversions
 */
export const usageEvent = (completion: Completion): StreamEvent.Usage | undefined =>
  completion.usage === null ? undefined : StreamEvent.usage(completion.usage)
