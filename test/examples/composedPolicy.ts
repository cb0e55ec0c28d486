// The composed example of docs/policies.md ("A composed example"), type-checked by `tsc -p test` and held
// equal to that page by test/ReadmeExamples.test.ts. Never imported: it would call the real APIs.
import { NodeHttpClient } from "@effect/platform-node"
import { ChatRequest, Completion, Policy } from "@sluice/core"
import { Anthropic, OpenAiCompatible } from "@sluice/providers"
import { Config, Effect } from "effect"

const program = Effect.gen(function*() {
  // `make` builds an adapter's service from the HttpClient in context; its Layer (and `Presets`)
  // provides the same service as `LanguageModel.LanguageModel`, one per context.
  const openai = yield* OpenAiCompatible.make({
    baseUrl: "https://api.openai.com/v1",
    apiKey: yield* Config.redacted("OPENAI_API_KEY"),
    provider: "openai"
  })
  const anthropic = yield* Anthropic.make({ apiKey: yield* Config.redacted("ANTHROPIC_API_KEY") })

  const resilient = openai.pipe(
    Policy.timeout({ firstToken: "10 seconds", idle: "20 seconds" }),     // per attempt
    Policy.retry({ maxAttempts: 3 }),                                    // before the first token
    Policy.continuation(),                                               // after it
    Policy.failover([{ service: anthropic, model: "claude-sonnet-4-5" }]),
    Policy.timeout({ total: "2 minutes" }),                              // one deadline over all of it
    Policy.guard({ failOn: ["length"] })
  )
  const request = ChatRequest.make({ model: "gpt-4o-mini", messages: [ChatRequest.user("Why do rivers meander?")] })
  const completion = yield* Completion.fromStream(resilient.stream(request))
  yield* Effect.log(completion.text)
}).pipe(Effect.provide(NodeHttpClient.layerUndici))

Effect.runPromise(program)
