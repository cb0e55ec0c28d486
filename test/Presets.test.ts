import type * as HttpClient from "@effect/platform/HttpClient"
import type * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import { assert, describe, it } from "@effect/vitest"
import { type ChatRequest, Completion, LanguageModel } from "@sluice/core"
import { Presets } from "@sluice/providers"
import { ConfigProvider, Effect, Layer, Option, Redacted, Stream } from "effect"
import { fakeHttpClient as fake } from "./support/fakeHttpClient.js"

const secret = "sk-preset-secret-987654"
const request: ChatRequest.ChatRequest = { model: "some-model", messages: [{ role: "user", content: "Hi" }], maxTokens: 64 }
const sseBody = [
  { id: "c1", object: "chat.completion.chunk", choices: [{ index: 0, delta: { role: "assistant", content: "Hello" }, finish_reason: null }] },
  { id: "c1", object: "chat.completion.chunk", choices: [{ index: 0, delta: {}, finish_reason: "stop" }] },
  { id: "c1", object: "chat.completion.chunk", choices: [], usage: { prompt_tokens: 3, completion_tokens: 1, total_tokens: 4 } }
].map((c) => `data: ${JSON.stringify(c)}\n\n`).join("") + "data: [DONE]\n\n"

const bodyOf = (req: HttpClientRequest.HttpClientRequest): { readonly [key: string]: unknown } => {
  const parsed: unknown = req.body._tag === "Uint8Array" ? JSON.parse(new TextDecoder().decode(req.body.body)) : {}
  return typeof parsed === "object" && parsed !== null ? { ...parsed } : {}
}

const env = (entries: ReadonlyArray<readonly [string, string]>) => ConfigProvider.fromMap(new Map(entries))

/** Streams `request` through a preset Layer over the fake client, with `vars` as the environment. */
const streamWith = (
  layer: Layer.Layer<LanguageModel.LanguageModel, unknown, HttpClient.HttpClient>,
  client: Layer.Layer<HttpClient.HttpClient>,
  vars: ReadonlyArray<readonly [string, string]>
) =>
  Completion.fromStream(LanguageModel.stream(request)).pipe(
    Effect.provide(layer.pipe(Layer.provide(client))),
    Effect.withConfigProvider(env(vars))
  )

describe("Presets", () => {
  it("the table has every preset, lower-case, with a base URL and a usable key record", () => {
    assert.deepStrictEqual(Presets.all.map((p) => p.name), [
      "openai",
      "deepseek",
      "groq",
      "mistral",
      "together",
      "fireworks",
      "openrouter",
      "xai",
      "perplexity",
      "gemini-openai",
      "ollama",
      "vllm",
      "lmstudio",
      "llamacpp"
    ])
    for (const preset of Presets.all) {
      assert.strictEqual(preset.name, preset.name.toLowerCase())
      assert.isTrue(/^https?:\/\/[^/]+/.test(preset.baseUrl) && !preset.baseUrl.endsWith("/"), preset.baseUrl)
      if (preset.apiKey !== undefined) assert.match(preset.apiKey.variable, /^[A-Z_]+_API_KEY$/)
      assert.isTrue(Option.isSome(Presets.byName(preset.name)))
    }
    assert.isTrue(Option.isSome(Presets.byName("OpenAI")))
    assert.isTrue(Option.isNone(Presets.byName("anthropic")))
    assert.isTrue(Presets.isName("lmstudio") && !Presets.isName("lm-studio"))
  })

  const expectations: ReadonlyArray<{
    readonly name: Presets.Name
    readonly url: string
    readonly key: string | undefined
    readonly layer: (overrides?: Presets.Overrides) => Layer.Layer<LanguageModel.LanguageModel, unknown, HttpClient.HttpClient>
    readonly maxTokensField: string
    readonly includeUsage: boolean
  }> = [
    { name: "openai", url: "https://api.openai.com/v1/chat/completions", key: "OPENAI_API_KEY", layer: Presets.openai, maxTokensField: "max_completion_tokens", includeUsage: true },
    { name: "deepseek", url: "https://api.deepseek.com/chat/completions", key: "DEEPSEEK_API_KEY", layer: Presets.deepseek, maxTokensField: "max_tokens", includeUsage: true },
    { name: "groq", url: "https://api.groq.com/openai/v1/chat/completions", key: "GROQ_API_KEY", layer: Presets.groq, maxTokensField: "max_completion_tokens", includeUsage: true },
    { name: "mistral", url: "https://api.mistral.ai/v1/chat/completions", key: "MISTRAL_API_KEY", layer: Presets.mistral, maxTokensField: "max_tokens", includeUsage: false },
    { name: "together", url: "https://api.together.xyz/v1/chat/completions", key: "TOGETHER_API_KEY", layer: Presets.together, maxTokensField: "max_tokens", includeUsage: false },
    { name: "fireworks", url: "https://api.fireworks.ai/inference/v1/chat/completions", key: "FIREWORKS_API_KEY", layer: Presets.fireworks, maxTokensField: "max_tokens", includeUsage: false },
    { name: "openrouter", url: "https://openrouter.ai/api/v1/chat/completions", key: "OPENROUTER_API_KEY", layer: Presets.openrouter, maxTokensField: "max_tokens", includeUsage: false },
    { name: "xai", url: "https://api.x.ai/v1/chat/completions", key: "XAI_API_KEY", layer: Presets.xai, maxTokensField: "max_tokens", includeUsage: true },
    { name: "perplexity", url: "https://api.perplexity.ai/chat/completions", key: "PERPLEXITY_API_KEY", layer: Presets.perplexity, maxTokensField: "max_tokens", includeUsage: false },
    {
      name: "gemini-openai",
      url: "https://generativelanguage.googleapis.com/v1beta/openai/chat/completions",
      key: "GEMINI_API_KEY",
      layer: Presets.geminiOpenAi,
      maxTokensField: "max_tokens",
      includeUsage: true
    },
    { name: "ollama", url: "http://localhost:11434/v1/chat/completions", key: undefined, layer: Presets.ollama, maxTokensField: "max_tokens", includeUsage: true },
    { name: "vllm", url: "http://localhost:8000/v1/chat/completions", key: "VLLM_API_KEY", layer: Presets.vllm, maxTokensField: "max_tokens", includeUsage: true },
    { name: "lmstudio", url: "http://localhost:1234/v1/chat/completions", key: undefined, layer: Presets.lmstudio, maxTokensField: "max_tokens", includeUsage: true },
    { name: "llamacpp", url: "http://localhost:8080/v1/chat/completions", key: "LLAMA_API_KEY", layer: Presets.llamacpp, maxTokensField: "max_tokens", includeUsage: true }
  ]

  for (const expected of expectations) {
    it.effect(`${expected.name}: URL, headers, key variable and body`, () =>
      Effect.gen(function*() {
        const preset = Option.getOrThrow(Presets.byName(expected.name))
        assert.strictEqual(preset.apiKey?.variable, expected.key)
        for (const layer of [expected.layer(), Presets.layer(expected.name), Presets.layer(preset)]) {
          const { layer: client, requests } = fake(() => new Response(sseBody, { headers: { "content-type": "text/event-stream" } }))
          const vars: ReadonlyArray<readonly [string, string]> = expected.key === undefined ? [] : [[expected.key, secret]]
          const completion = yield* streamWith(layer, client, vars)
          assert.strictEqual(completion.text, "Hello")
          assert.strictEqual(requests.length, 1)
          const sent = requests[0]
          assert.strictEqual(sent.method, "POST")
          assert.strictEqual(sent.url, expected.url)
          assert.strictEqual(sent.headers["authorization"], expected.key === undefined ? undefined : `Bearer ${secret}`)
          const body = bodyOf(sent)
          assert.strictEqual(body.model, "some-model")
          assert.strictEqual(body.stream, true)
          assert.strictEqual(body[expected.maxTokensField], 64)
          assert.deepStrictEqual(body.stream_options, expected.includeUsage ? { include_usage: true } : undefined)
          for (const field of ["max_tokens", "max_completion_tokens"]) {
            if (field !== expected.maxTokensField) assert.notProperty(body, field)
          }
        }
      }))
  }

  it.effect("a missing required key is a ConfigError naming the variable; nothing is sent", () =>
    Effect.gen(function*() {
      for (const preset of Presets.all) {
        if (preset.apiKey === undefined || !preset.apiKey.required) continue
        const { layer: client, requests } = fake(() => new Response(sseBody))
        const error = yield* Effect.flip(streamWith(Presets.layer(preset.name), client, [["OTHER_API_KEY", secret]]))
        assert.include(String(error), preset.apiKey.variable)
        assert.strictEqual(requests.length, 0)
      }
    }))

  it.effect("an optional key that is absent sends no Authorization header", () =>
    Effect.gen(function*() {
      for (const name of ["vllm", "llamacpp"] as const) {
        const { layer: client, requests } = fake(() => new Response(sseBody))
        yield* streamWith(Presets.layer(name), client, [])
        assert.isUndefined(requests[0].headers["authorization"])
      }
    }))

  it.effect("overrides: base URL, a key given directly, adapter options", () =>
    Effect.gen(function*() {
      const { layer: client, requests } = fake(() => new Response(sseBody))
      yield* streamWith(
        Presets.layer("openrouter", {
          baseUrl: "http://127.0.0.1:9000/v1/",
          apiKey: Redacted.make("direct-key-0000"),
          headers: { "X-Title": "sluice" },
          includeUsage: true
        }),
        client,
        []
      )
      const sent = requests[0]
      assert.strictEqual(sent.url, "http://127.0.0.1:9000/v1/chat/completions")
      assert.strictEqual(sent.headers["authorization"], "Bearer direct-key-0000")
      assert.strictEqual(sent.headers["x-title"], "sluice")
      assert.deepStrictEqual(bodyOf(sent).stream_options, { include_usage: true })
      const { layer: local, requests: localRequests } = fake(() => new Response(sseBody))
      yield* streamWith(Presets.ollama({ baseUrl: "http://gpu-box:11434/v1" }), local, [])
      assert.strictEqual(localRequests[0].url, "http://gpu-box:11434/v1/chat/completions")
    }))

  it.effect("errors name the preset and never contain the key, even when the server echoes it", () =>
    Effect.gen(function*() {
      const answers: ReadonlyArray<readonly [number, object]> = [
        [401, { error: { message: `Incorrect API key provided: ${secret}`, type: "invalid_request_error", code: "invalid_api_key" } }],
        [400, { error: { message: `bad request for key ${secret}`, type: "invalid_request_error" } }],
        [429, { error: { message: `rate limited ${secret}` } }],
        [500, { error: { message: `internal ${secret}` } }]
      ]
      for (const preset of Presets.all) {
        // Keyless servers get no key from Sluice: there is nothing of ours to leak.
        if (preset.apiKey === undefined) continue
        const vars: ReadonlyArray<readonly [string, string]> = [[preset.apiKey.variable, secret]]
        for (const [status, body] of answers) {
          const { layer: client } = fake(() => Response.json(body, { status }))
          const error = yield* Effect.flip(streamWith(Presets.layer(preset.name), client, vars))
          assert.notInclude(String(error), secret)
          if (typeof error === "object" && error !== null && "message" in error && typeof error.message === "string") {
            assert.notInclude(error.message, secret)
            assert.include(error.message, preset.name)
          }
        }
        // A stream that fails mid-way: the key is scrubbed from the in-stream error too.
        const { layer: client } = fake(() =>
          new Response(
            `data: ${JSON.stringify({ choices: [{ index: 0, delta: { content: "a" } }] })}\n\ndata: ${
              JSON.stringify({ error: { message: `upstream failed for ${secret}`, code: 502 } })
            }\n\n`
          )
        )
        const midStream = yield* Effect.flip(
          Stream.runDrain(LanguageModel.stream(request)).pipe(
            Effect.provide(Presets.layer(preset.name).pipe(Layer.provide(client))),
            Effect.withConfigProvider(env(vars))
          )
        )
        assert.notInclude(JSON.stringify(midStream), secret)
      }
    }))
})
