/**
 * Healing a stream that failed mid-answer: ask the model to continue and splice the rest on.
 * @internal
 */
import * as Chunk from "effect/Chunk"
import * as Stream from "effect/Stream"
import type { ChatRequest, Message } from "../../ChatRequest.js"
import { Accumulator } from "../../Completion.js"
import * as LanguageModel from "../../LanguageModel.js"
import * as LlmError from "../../LlmError.js"
import { type StreamEvent, textDelta } from "../../StreamEvent.js"
import type { ContinuationOptions, Middleware } from "../../Policy.js"
import { deadlinePassed, type PolicyContext } from "./context.js"
import { nothing, pass, stage } from "./stage.js"

/** The implementation of `Policy.defaultInstruction`. */
export const defaultInstruction =
  "Your previous answer was cut off. Continue it exactly from where it stopped, without repeating any of it and without any preamble."

/** The implementation of `Policy.continuationRequest`. */
export const continuationRequest = (
  request: ChatRequest,
  partialText: string,
  capabilities: LanguageModel.Capabilities,
  instruction: string = defaultInstruction
): ChatRequest => {
  const messages: Array<Message> = [...request.messages]
  if (capabilities.continuation === "prefill") {
    messages.push({ role: "assistant", content: partialText, prefix: true })
  } else {
    messages.push({ role: "assistant", content: partialText }, { role: "user", content: instruction })
  }
  return { ...request, messages }
}

/** The implementation of `Policy.overlap`. */
export const overlap = (before: string, next: string, minOverlap: number): number => {
  const limit = Math.min(before.length, next.length)
  for (let k = limit; k >= minOverlap && k > 0; k--) {
    if (before.endsWith(next.slice(0, k))) return k
  }
  // A prefill without its trailing space (Anthropic refuses one) comes back starting with it.
  let ws = 0
  while (ws < next.length && /\s/.test(next[ws]) && ws < before.length && /\s/.test(before[before.length - 1 - ws])) ws++
  return ws
}

/** Drops the continuation's reasoning (a second chain of thought) and any repeat of the text the caller has. */
const splice = (
  continued: Stream.Stream<StreamEvent, LlmError.LlmError>,
  before: string,
  minOverlap: number,
  maxOverlap: number
): Stream.Stream<StreamEvent, LlmError.LlmError> =>
  stage(continued, () => {
    let deciding = true
    let held = ""
    const decide = (): Array<StreamEvent> => {
      deciding = false
      const rest = held.slice(overlap(before, held, minOverlap))
      held = ""
      return rest.length === 0 ? [] : [textDelta(rest)]
    }
    return {
      onChunk: (chunk) => {
        if (!deciding) {
          return pass(Chunk.some(chunk, (e) => e._tag === "ReasoningDelta") ? Chunk.filter(chunk, (e) => e._tag !== "ReasoningDelta") : chunk)
        }
        const out: Array<StreamEvent> = []
        for (const event of chunk) {
          if (event._tag === "ReasoningDelta") continue
          if (!deciding) out.push(event)
          else if (event._tag === "TextDelta") {
            held += event.text
            if (held.length >= maxOverlap) out.push(...decide())
          } else {
            out.push(...decide(), event)
          }
        }
        return pass(Chunk.unsafeFromArray(out))
      },
      onEnd: () => (deciding ? pass(Chunk.unsafeFromArray(decide())) : nothing),
      onFailure: (error) => error,
      flushOnFailure: () => Chunk.unsafeFromArray(deciding ? decide() : [])
    }
  })

/** The implementation of `Policy.continuation`. */
export const continuation = (options: ContinuationOptions = {}): Middleware => (self) => {
  const max = options.maxContinuations ?? 2
  const when = options.when ?? LlmError.isRetryable
  const via = options.via ?? self
  const minOverlap = options.minOverlap ?? 8
  const maxOverlap = options.maxOverlap ?? 256
  const streamWith = (request: ChatRequest, context: PolicyContext) =>
    Stream.suspend(() => {
      const received = new Accumulator()
      let continuations = 0
      const attempt = (source: Stream.Stream<StreamEvent, LlmError.LlmError>): Stream.Stream<StreamEvent, LlmError.LlmError> =>
        source.pipe(
          Stream.mapChunks((chunk) => {
            for (const event of chunk) received.add(event)
            return chunk
          }),
          Stream.catchAll((error) => {
            const healable = received.text.length > 0 && !received.hasToolCalls && received.finishReason === null &&
              continuations < max && when(error) && deadlinePassed(context) === undefined
            if (!healable) {
              // The caller's partial is everything it received, across the splices.
              return Stream.fail(received.events === 0 ? error : LlmError.replacePartial(error, received.snapshot()))
            }
            continuations++
            const before = received.text
            const next = continuationRequest(request, before, via.capabilities, options.instruction)
            const continued = via.streamWith(next, { ...context, attempt: { kind: "continuation", spliceAt: before.length } })
            return attempt(splice(continued, before, minOverlap, maxOverlap))
          })
        )
      return attempt(self.streamWith(request, context))
    })
  return LanguageModel.make({ provider: self.provider, capabilities: self.capabilities, streamWith, completeWith: self.completeWith })
}
