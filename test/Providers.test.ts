/**
 * The provider registry (`Providers`): one record per provider, for every adapter, from which
 * `Presets` is derived. Each entry's Layer is built and asked over real HTTP, against the emulator.
 */
import type * as Headers from "@effect/platform/Headers"
import * as HttpClient from "@effect/platform/HttpClient"
import { NodeHttpClient } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { ChatRequest, Completion, LanguageModel } from "@sluice/core"
import { Emulator } from "@sluice/emulator"
import { Anthropic, Gemini, Presets, Providers } from "@sluice/providers"
import { ConfigError, ConfigProvider, Effect, Layer, Option, Redacted, Stream } from "effect"
import { keyHeader } from "./support/keyHeader.js"

const KEY = "sk-registry-test-5b1c77"
const text = "One registry, every provider."

/** The emulator's base URL for a wire format, as each adapter takes it. */
const baseUrlOf = (emulator: Emulator.Service, format: Providers.Format): string =>
  format === "openai-compatible" ? emulator.openAiBaseUrl : format === "anthropic" ? emulator.anthropicBaseUrl : emulator.geminiBaseUrl

/** The path a streamed request of the format goes to. */
const streamPath = (format: Providers.Format, model: string): string =>
  format === "openai-compatible"
    ? "/v1/chat/completions"
    : format === "anthropic"
    ? "/v1/messages"
    : `/v1beta/models/${model}:streamGenerateContent`

const env = (entries: ReadonlyArray<readonly [string, string]>) => ConfigProvider.fromMap(new Map(entries))

/** `gemini-openai` → `geminiOpenAi`: the name a preset's Layer constructor is exported under. */
const constructorName = (name: string): string =>
  name.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase()).replace(/Openai$/, "OpenAi")

describe("Providers", () => {
  it("one entry per name, most used first; Presets is exactly its OpenAI-compatible part, in the same order", () => {
    // The order the CLI listed them in before the registry: openai, the native adapters, then every other preset.
    assert.deepStrictEqual<ReadonlyArray<string>>(Providers.names, [
      "openai",
      "anthropic",
      "gemini",
      ...Presets.all.map((p) => p.name).filter((name) => name !== "openai")
    ])
    assert.deepStrictEqual(Providers.all.map((p) => p.name), Providers.names)
    const compatible = Providers.all.filter((p) => p.format === "openai-compatible")
    assert.deepStrictEqual<ReadonlyArray<string>>(Presets.names, compatible.map((p) => p.name))
    // A preset is its registry entry without the fields only the registry has.
    assert.deepStrictEqual<ReadonlyArray<unknown>>(
      Presets.all,
      compatible.map(({ defaultModel: _m, defaultModelChecked: _c, format: _f, ...preset }) => preset)
    )
    for (const provider of Providers.all) {
      assert.isTrue(Providers.isName(provider.name))
      assert.deepStrictEqual(Providers.byName(provider.name.toUpperCase()), Option.some(provider))
      const { name: _, ...entry } = provider
      assert.deepStrictEqual(Providers.registry[provider.name], entry)
      assert.strictEqual(Presets.isName(provider.name), provider.format === "openai-compatible", provider.name)
      if (provider.defaultModelChecked !== undefined) assert.match(provider.defaultModelChecked, /^\d{4}-\d{2}-\d{2}$/)
    }
    assert.isFalse(Providers.isName("lm-studio"))
    assert.isTrue(Option.isNone(Providers.byName("azure")))
    // The native adapters' entries point where the adapters do by default.
    assert.strictEqual(Providers.registry.anthropic.baseUrl, Anthropic.defaultBaseUrl)
    assert.strictEqual(Providers.registry.gemini.baseUrl, Gemini.defaultBaseUrl)
    // The types are the registry's: a name that is not OpenAI-compatible is no preset name.
    // @ts-expect-error anthropic is a provider, not a preset
    const notAPreset: Presets.Name = "anthropic"
    assert.isFalse(Presets.isName(notAPreset))
  })

  it("every preset has a Layer constructor under its name in camelCase", () => {
    const exported = new Map<string, unknown>(Object.entries(Presets))
    for (const name of Presets.names) assert.strictEqual(typeof exported.get(constructorName(name)), "function", name)
  })

  it.scoped("every entry's Layer builds with its key from its variable, against the emulator, and answers (streamed and not)", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator.make({ scenario: { text } })
      for (const provider of Providers.all) {
        const model = provider.defaultModel ?? "served-model"
        const request = ChatRequest.make({ model, messages: [ChatRequest.user("Hi")] })
        const vars: ReadonlyArray<readonly [string, string]> = provider.apiKey === undefined ? [] : [[provider.apiKey.variable, KEY]]
        const sent: Array<Headers.Headers> = []
        const recording = Layer.effect(
          HttpClient.HttpClient,
          Effect.map(HttpClient.HttpClient, HttpClient.tapRequest((r) => Effect.sync(() => sent.push(r.headers))))
        ).pipe(Layer.provide(NodeHttpClient.layerUndici))
        const layer = Providers.layer(provider.name, { baseUrl: baseUrlOf(emulator, provider.format) }).pipe(Layer.provide(recording))
        const [streamed, whole] = yield* Effect.all([
          Completion.fromStream(LanguageModel.stream(request)),
          LanguageModel.complete(request)
        ]).pipe(Effect.provide(layer), Effect.withConfigProvider(env(vars)))
        assert.strictEqual(streamed.text, text, provider.name)
        assert.strictEqual(whole.text, text, provider.name)
        // The key from the variable, in the header of the format.
        const [header, value] = keyHeader[provider.format]
        assert.deepStrictEqual(sent.map((h) => h[header]), Array(2).fill(provider.apiKey === undefined ? undefined : value(KEY)), provider.name)
        const requests = yield* emulator.requests
        assert.strictEqual(requests.at(-2)?.path.split("?")[0], streamPath(provider.format, model), provider.name)
      }
    }), 60_000)

  it.effect("a missing required key fails the Layer with a ConfigError naming the variable", () =>
    Effect.gen(function*() {
      let required = 0
      for (const provider of Providers.all) {
        if (provider.apiKey === undefined || !provider.apiKey.required) continue
        required++
        const built = Layer.build(Providers.layer(provider.name).pipe(Layer.provide(NodeHttpClient.layerUndici)))
        const error = yield* Effect.flip(Effect.scoped(built).pipe(Effect.withConfigProvider(env([["OTHER_API_KEY", KEY]]))))
        assert.isTrue(ConfigError.isConfigError(error), provider.name)
        assert.include(String(error), provider.apiKey.variable, provider.name)
      }
      assert.isAbove(required, 10)
    }))

  it.scoped("make: a service from a name, a key given directly and a base URL (no environment read)", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator.make({ scenario: { text } })
      for (const name of ["anthropic", "gemini", "deepseek"] as const) {
        const format = Providers.registry[name].format
        const service = yield* Providers.make(name, { apiKey: Redacted.make(KEY), baseUrl: baseUrlOf(emulator, format) })
        const completion = yield* Completion.fromStream(
          service.stream(ChatRequest.make({ model: "m", messages: [ChatRequest.user("Hi")] }))
        )
        assert.strictEqual(completion.text, text, name)
      }
      assert.deepStrictEqual((yield* emulator.requests).map((r) => r.path.split("?")[0]), [
        "/v1/messages",
        "/v1beta/models/m:streamGenerateContent",
        "/v1/chat/completions"
      ])
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

  it.effect("errors name the provider by its registry name", () =>
    Effect.gen(function*() {
      // Nothing listens on port 9 of loopback: every adapter fails to connect, naming its provider.
      for (const provider of Providers.all) {
        const request = ChatRequest.make({ model: "m", messages: [ChatRequest.user("Hi")] })
        const error = yield* Effect.flip(
          Stream.runDrain(LanguageModel.stream(request)).pipe(
            Effect.provide(
              Providers.layer(provider.name, { apiKey: Redacted.make(KEY), baseUrl: "http://127.0.0.1:9/v1" }).pipe(
                Layer.provide(NodeHttpClient.layerUndici)
              )
            )
          )
        )
        assert.include(error.message, provider.name)
      }
    }))
})
