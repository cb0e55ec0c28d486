/**
 * The stream stage helper: a stateful look at each chunk, as one channel stage (no Effect per chunk).
 * @internal
 */
import * as Cause from "effect/Cause"
import * as Channel from "effect/Channel"
import * as Chunk from "effect/Chunk"
import * as Stream from "effect/Stream"
import type { LlmError } from "../../LlmError.js"
import type { StreamEvent } from "../../StreamEvent.js"

/** The result of a stage's look at one chunk: what to hand on, and the failure that ends the stream, if any. */
export interface ChunkResult {
  readonly emit: Chunk.Chunk<StreamEvent>
  readonly error?: LlmError | undefined
}

/** A stateful, allocation-light stream stage: one instance per stream run. */
export interface StageHandler {
  readonly onChunk: (chunk: Chunk.Chunk<StreamEvent>) => ChunkResult
  /** At the upstream end: events to add and a failure, if any. */
  readonly onEnd: () => ChunkResult
  /** An upstream failure: what it becomes (e.g. with the partial attached). */
  readonly onFailure: (error: LlmError) => LlmError
  /** Events still held back, handed on before an upstream failure passes. */
  readonly flushOnFailure?: (() => Chunk.Chunk<StreamEvent>) | undefined
}

/** Runs a handler as one channel stage. */
export const stage = <R>(
  self: Stream.Stream<StreamEvent, LlmError, R>,
  make: () => StageHandler
): Stream.Stream<StreamEvent, LlmError, R> =>
  Stream.suspend(() => {
    const handler = make()
    type Out = Channel.Channel<Chunk.Chunk<StreamEvent>, Chunk.Chunk<StreamEvent>, LlmError, LlmError, unknown, unknown>
    const finish = (result: ChunkResult, then: Out): Out => {
      const next = result.error === undefined ? then : Channel.fail(result.error)
      return Chunk.isEmpty(result.emit) ? next : Channel.zipRight(Channel.write(result.emit), next)
    }
    const loop: Out = Channel.readWithCause({
      onInput: (chunk: Chunk.Chunk<StreamEvent>) => finish(handler.onChunk(chunk), loop),
      onFailure: (cause) => {
        const failed = Channel.failCause(Cause.map(cause, handler.onFailure))
        const held = handler.flushOnFailure === undefined ? Chunk.empty<StreamEvent>() : handler.flushOnFailure()
        return Chunk.isEmpty(held) ? failed : Channel.zipRight(Channel.write(held), failed)
      },
      onDone: () => finish(handler.onEnd(), Channel.void)
    })
    return Stream.pipeThroughChannel(self, loop)
  })

/** A chunk result that hands the chunk on unchanged. */
export const pass = (emit: Chunk.Chunk<StreamEvent>): ChunkResult => ({ emit })

/** The empty end of a stage. */
export const nothing: ChunkResult = { emit: Chunk.empty() }
