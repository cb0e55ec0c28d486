/**
 * `Stream.unwrap` without its cost per chunk.
 * @internal
 */
import * as Channel from "effect/Channel"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"

/** Sequences the stream after the effect instead of flattening a stream of streams (which pays a concatenation step on every chunk). */
export const unwrap = <A, E, R, E2, R2>(effect: Effect.Effect<Stream.Stream<A, E, R>, E2, R2>): Stream.Stream<A, E | E2, R | R2> =>
  Stream.fromChannel(Channel.unwrap(Effect.map(effect, Stream.toChannel)))
