/** Running a provider's wire decoder over raw bytes, for the decoder unit tests. */
import { type LlmError, type StreamEvent, WireDecoder } from "@sluice/core"
import { Chunk, Effect, Exit, Stream } from "effect"

export const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text)

/** Cuts bytes into reads at the given offsets (ascending). */
export const readsAt = (bytes: Uint8Array, cuts: ReadonlyArray<number>): Array<Uint8Array> => {
  const parts: Array<Uint8Array> = []
  let last = 0
  for (const cut of cuts) {
    parts.push(bytes.subarray(last, cut))
    last = cut
  }
  parts.push(bytes.subarray(last))
  return parts
}

/**
 * Splits bytes into reads at the given cut points, each taken modulo one more than the length, in any
 * order, repeats ignored (so a property test's random offsets split UTF-8 sequences and CRLF too).
 */
export const splitAt = (bytes: Uint8Array, cuts: ReadonlyArray<number>): Array<Uint8Array> =>
  readsAt(bytes, [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b))

/** `run`, `events` and `failure` over a body decoded by a fresh decoder each time. */
export const harness = (site: { readonly provider: string; readonly model: string }, decoder: () => WireDecoder.WireDecoder) => {
  const run = (body: string, reads?: ReadonlyArray<number>): Effect.Effect<Exit.Exit<ReadonlyArray<StreamEvent.StreamEvent>, LlmError.LlmError>> =>
    WireDecoder.decodeBody(Stream.fromIterable(readsAt(utf8(body), reads ?? [])), {
      provider: site.provider,
      model: site.model,
      decoder: decoder(),
      mapBodyError: (e: never) => e
    }).pipe(Stream.runCollect, Effect.map(Chunk.toReadonlyArray), Effect.exit)
  const events = (body: string) =>
    Effect.flatMap(run(body), (exit) => (Exit.isSuccess(exit) ? Effect.succeed(exit.value) : Effect.die(exit.cause)))
  const failure = (body: string) =>
    Effect.flatMap(run(body), (exit) =>
      Exit.isFailure(exit) && exit.cause._tag === "Fail" ? Effect.succeed(exit.cause.error) : Effect.die(`expected a failure, got ${String(exit)}`))
  return { run, events, failure }
}
