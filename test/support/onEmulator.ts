/**
 * Sluice's OpenAI-compatible adapter over real HTTP to the in-process emulator, for the adapter and
 * policy tests: the layer they run in, the service and the requests they send.
 */
import { NodeHttpClient } from "@effect/platform-node"
import { ChatRequest } from "@sluice/core"
import { Emulator, Scenario } from "@sluice/emulator"
import { OpenAiCompatible } from "@sluice/providers"
import { Effect, Layer, Redacted } from "effect"

/** An emulator and an HTTP client over loopback. */
export const TestLayer = Layer.mergeAll(Emulator.layer(), NodeHttpClient.layerUndici)

/** An OpenAI-compatible service (provider `emulator`) on the layer's emulator, answering `scenario`. */
export const modelFor = (scenario: Scenario.Scenario | string, options: Partial<OpenAiCompatible.Options> = {}) =>
  Effect.flatMap(Emulator.Emulator, (emulator) =>
    OpenAiCompatible.make({
      baseUrl: emulator.openAiBaseUrl,
      apiKey: Redacted.make("sk-test"),
      provider: "emulator",
      headers: Scenario.headers(scenario),
      ...options
    }))

/** A request for the emulator's model. */
export const request = ChatRequest.make({ model: "gpt-test", messages: [ChatRequest.user("Say hello")] })

/** The same, asking for a long answer. */
export const longRequest = ChatRequest.make({ model: "gpt-test", messages: [ChatRequest.user("Say something long")] })
