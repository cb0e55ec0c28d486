/**
 * The finish-reason guard as a policy, with the options beyond the adapters' default.
 * @internal
 */
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import { Accumulator, type Completion } from "../../Completion.js"
import * as LlmError from "../../LlmError.js"
import type { FinishReason, StreamEvent } from "../../StreamEvent.js"
import type { GuardOptions, StreamPolicy } from "../../Policy.js"
import { type Site, streamPolicy } from "./builders.js"
import { type ChunkResult, nothing, pass, stage } from "./stage.js"

const failureFor = (site: Site, reason: FinishReason, partial: Completion): LlmError.LlmError | undefined => {
  switch (reason) {
    case "length":
      return new LlmError.IncompleteStream({ ...site, ending: "length", partial })
    case "content-filter":
      return new LlmError.InvalidRequest({
        ...site,
        code: "content-filter",
        providerMessage: "the provider stopped the answer with its content filter",
        partial
      })
    default:
      return undefined
  }
}

/** The implementation of `Policy.guard`. */
export const guard = (options: GuardOptions = {}): StreamPolicy => {
  const failOn = new Set<FinishReason>(options.failOn ?? [])
  const strictEnd = options.strictEnd ?? true
  const check = (site: Site, completion: Completion): LlmError.LlmError | undefined => {
    if (completion.finishReason === null) return new LlmError.IncompleteStream({ ...site, ending: "eof", partial: completion })
    if (failOn.has(completion.finishReason)) return failureFor(site, completion.finishReason, completion)
    if (options.requireUsage === true && completion.usage === null) return new LlmError.MissingUsage({ ...site, partial: completion })
    return undefined
  }
  return streamPolicy(
    (inner, site, context) =>
      stage(inner(context), () => {
        const acc = new Accumulator()
        let finished = false
        const afterFinish = (chunk: Chunk.Chunk<StreamEvent>): ChunkResult => {
          const events = Chunk.toReadonlyArray(chunk)
          for (let i = 0; i < events.length; i++) {
            const event = events[i]
            if (finished && strictEnd && event._tag !== "Usage" && event._tag !== "Finish") {
              const error = new LlmError.DecodeError({
                ...site,
                reason: `a ${event._tag} arrived after the finish reason`,
                partial: acc.snapshot()
              })
              return { emit: Chunk.take(chunk, i), error }
            }
            acc.add(event)
            if (event._tag === "Finish") finished = true
          }
          return pass(chunk)
        }
        return {
          onChunk: afterFinish,
          onEnd: () => {
            const error = check(site, acc.snapshot())
            return error === undefined ? nothing : { emit: Chunk.empty(), error: acc.events === 0 ? withoutPartial(error, site) : error }
          },
          onFailure: (error) => (acc.events === 0 ? error : LlmError.withPartial(error, acc.snapshot()))
        }
      }),
    (inner, site, context) => Effect.flatMap(inner(context), (completion) => {
      const error = check(site, completion)
      return error === undefined ? Effect.succeed(completion) : Effect.fail(error)
    })
  )
}

/** Before the first event there is no partial to report. */
const withoutPartial = (error: LlmError.LlmError, site: Site): LlmError.LlmError =>
  error._tag === "IncompleteStream" ? new LlmError.IncompleteStream({ ...site, ending: error.ending }) : error
