/**
 * Hedged requests: when the first token is late, ask the next model too; the first to emit wins.
 * @internal
 */
import * as Cause from "effect/Cause"
import * as Chunk from "effect/Chunk"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type { ChatRequest } from "../../ChatRequest.js"
import * as LanguageModel from "../../LanguageModel.js"
import type * as LlmError from "../../LlmError.js"
import { isToken, type StreamEvent } from "../../StreamEvent.js"
import type { HedgeOptions, Middleware } from "../../Policy.js"
import { deadlinePassed, type PolicyContext } from "./context.js"

/** A started candidate: what it emitted up to its first token, and the pull for the rest. */
interface Started {
  readonly head: ReadonlyArray<Chunk.Chunk<StreamEvent>>
  readonly pull: Effect.Effect<Chunk.Chunk<StreamEvent>, Option.Option<LlmError.LlmError>>
  readonly scope: Scope.CloseableScope
  /** Called once it won: from then on its events count as handed on (reported to `progress`). */
  readonly win: () => void
}

/** A candidate's stream, and what to call when it wins. */
interface Candidate {
  readonly stream: Stream.Stream<StreamEvent, LlmError.LlmError>
  readonly win: (head: ReadonlyArray<Chunk.Chunk<StreamEvent>>) => void
}

/** Starts a stream in its own scope and pulls until its first token (or its end); the scope closes if it loses or fails. */
const start = (candidate: Candidate): Effect.Effect<Started, LlmError.LlmError> =>
  Effect.uninterruptibleMask((restore) =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const run = Effect.gen(function*() {
        const pull = yield* Scope.extend(Stream.toPull(candidate.stream), scope)
        const head: Array<Chunk.Chunk<StreamEvent>> = []
        const win = () => candidate.win(head)
        while (true) {
          const next = yield* Effect.either(pull)
          if (next._tag === "Left") {
            if (Option.isSome(next.left)) return yield* Effect.fail(next.left.value)
            // Ended without a token: it still answered (the guard inside decides whether that is a failure).
            return { head, pull: Effect.fail(Option.none()), scope, win }
          }
          head.push(next.right)
          if (Chunk.some(next.right, isToken)) return { head, pull, scope, win }
        }
      })
      return yield* restore(run).pipe(Effect.onExit((exit) => (Exit.isSuccess(exit) ? Effect.void : Scope.close(scope, exit))))
    })
  )

const hedgeInfo = { kind: "hedge" } as const

/** The implementation of `Policy.hedge`. */
export const hedge = (options: HedgeOptions): Middleware => (self) => {
  const after = Duration.decode(options.after)
  const candidates = [{ service: self, model: undefined }, ...options.routes].map((route) => ({
    service: route.service ?? self,
    model: route.model
  }))
  const streamOf = (request: ChatRequest, index: number, context: PolicyContext): Candidate => {
    const model = candidates[index].model
    const attemptContext: PolicyContext = index === 0 ? context : { ...context, attempt: hedgeInfo }
    const outer = attemptContext.progress
    const service = candidates[index].service
    const routed = model === undefined ? request : { ...request, model }
    if (outer === undefined) return { stream: service.streamWith(routed, attemptContext), win: () => {} }
    // A candidate's events reach the caller only if it wins: until then they are not reported on.
    let won = false
    const gated: PolicyContext = {
      ...attemptContext,
      progress: (events) => {
        if (won) outer(events)
      }
    }
    return {
      stream: service.streamWith(routed, gated),
      win: (head) => {
        won = true
        for (const chunk of head) outer(Chunk.toReadonlyArray(chunk))
      }
    }
  }
  const raceFrom = (request: ChatRequest, index: number, context: PolicyContext): Effect.Effect<Started, LlmError.LlmError> => {
    const current = start(streamOf(request, index, context))
    if (index + 1 >= candidates.length) return current
    return Effect.gen(function*() {
      const failed = yield* Deferred.make<void>()
      const first = Effect.tapError(current, () => Deferred.succeed(failed, undefined))
      // A deadline outside that already passed would abort the next candidate at once: fail with it instead.
      const nextCandidate = Effect.suspend(() => {
        const passed = deadlinePassed(context)
        return passed === undefined ? raceFrom(request, index + 1, context) : Effect.fail(passed)
      })
      const next = Effect.zipRight(Effect.raceFirst(Effect.sleep(after), Deferred.await(failed)), nextCandidate)
      return yield* Effect.race(first, next)
    })
  }
  const streamWith = (request: ChatRequest, context: PolicyContext) =>
    Stream.unwrapScoped(
      Effect.gen(function*() {
        const winner = yield* raceFrom(request, 0, context).pipe(
          // When every route failed, report the last failure rather than the whole cause tree.
          Effect.catchAllCause((cause) => {
            const failures = Chunk.toReadonlyArray(Cause.failures(cause))
            return failures.length === 0 ? Effect.failCause(cause) : Effect.fail(failures[failures.length - 1])
          })
        )
        yield* Effect.addFinalizer((exit) => Scope.close(winner.scope, exit))
        winner.win()
        return Stream.fromIterable(winner.head).pipe(
          Stream.flattenChunks,
          Stream.concat(Stream.repeatEffectChunkOption(winner.pull))
        )
      })
    )
  return LanguageModel.make({ provider: self.provider, capabilities: self.capabilities, streamWith, completeWith: self.completeWith })
}
