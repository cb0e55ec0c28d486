/** Event streams paced on the Clock, for the policy tests that move time with `TestClock`. */
import type { StreamEvent } from "@sluice/core"
import { Chunk, Duration, Effect, Stream } from "effect"

export type Events = ReadonlyArray<StreamEvent.StreamEvent>

/** Each step's events arrive together (one chunk) after its delay, on the Clock. */
export const timed = (steps: ReadonlyArray<readonly [number, Events]>) =>
  Stream.fromIterable(steps).pipe(
    Stream.mapEffect(([ms, events]) => Effect.as(Effect.sleep(Duration.millis(ms)), Chunk.fromIterable(events))),
    Stream.flattenChunks
  )
