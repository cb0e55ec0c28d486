/**
 * Building services: one that honours the policy context itself, and one lifted from a stream of the user's own.
 * @internal
 */
import * as Effect from "effect/Effect"
import { pipeArguments } from "effect/Pipeable"
import type * as LanguageModel from "../LanguageModel.js"
import { current, inFiber, watched } from "./policy/context.js"
import { unwrap } from "./unwrap.js"

const defaultCapabilities: LanguageModel.Capabilities = { continuation: "instruction" }

export const make = (parts: LanguageModel.MakeParts): LanguageModel.Service => {
  const { completeWith, streamWith } = parts
  return {
    provider: parts.provider,
    capabilities: parts.capabilities ?? defaultCapabilities,
    // Read once, when the stream starts: nothing is provided per read.
    stream: (request) => unwrap(Effect.map(current, (context) => streamWith(request, context))),
    complete: (request) => Effect.flatMap(current, (context) => completeWith(request, context)),
    streamWith,
    completeWith,
    pipe() {
      return pipeArguments(this, arguments)
    }
  }
}

export const fromStream = (parts: LanguageModel.FromStreamParts): LanguageModel.Service => {
  const { complete, stream } = parts
  return make({
    provider: parts.provider,
    capabilities: parts.capabilities,
    streamWith: (request, context) => watched(stream(request), context),
    // One effect: the record is provided to it once (`timeout` races the whole call, not its reads).
    completeWith: (request, context) => inFiber(complete(request), context)
  })
}
