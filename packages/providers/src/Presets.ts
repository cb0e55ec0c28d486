/**
 * OpenAI-compatible servers by name: each preset is a data record (base URL, the environment variable that
 * holds the key, known quirks) — the OpenAI-compatible entries of the `Providers` registry, where each is
 * written — and a one-line Layer over `OpenAiCompatible` that reads the key through `Config.redacted`.
 * A required key that is missing fails the Layer with a `ConfigError` naming the variable.
 *
 * @example
 * ```ts
 * import { NodeHttpClient } from "@effect/platform-node"
 * import { Effect, Layer } from "effect"
 * import { ChatRequest, LanguageModel } from "@sluice/core"
 * import { Presets } from "@sluice/providers"
 *
 * // DEEPSEEK_API_KEY from the environment; nothing else to configure.
 * const program = LanguageModel.complete({ model: "deepseek-chat", messages: [ChatRequest.user("Hi")] }).pipe(
 *   Effect.provide(Presets.deepseek().pipe(Layer.provide(NodeHttpClient.layerUndici)))
 * )
 * // or by name: Presets.layer("ollama", { baseUrl: "http://gpu-box:11434/v1" })
 * ```
 *
 * @since 0.1.0
 */
import type * as HttpClient from "@effect/platform/HttpClient"
import type * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import type * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Redacted from "effect/Redacted"
import type { LanguageModel } from "@sluice/core"
import * as Keyed from "./internal/keyedLayer.js"
import * as OpenAiCompatible from "./OpenAiCompatible.js"
import * as Providers from "./Providers.js"

/**
 * The preset names, as `--provider` takes them: the registry's OpenAI-compatible names.
 * @since 0.1.0
 * @category models
 */
export type Name = Providers.NameOf<"openai-compatible">

/**
 * Where a preset's key comes from: the environment variable, and whether the server needs one.
 * @since 0.1.0
 * @category models
 */
export type ApiKey = Providers.ApiKey

/**
 * One OpenAI-compatible server: how to reach it and what is peculiar about it (its registry entry,
 * without the fields only the registry has: `format`, `defaultModel`, `defaultModelChecked`).
 * @since 0.1.0
 * @category models
 */
export interface Preset extends Omit<Providers.OpenAiCompatibleEntry, "format" | "defaultModel" | "defaultModelChecked"> {
  readonly name: Name
}

/** The preset of `name`: its registry entry, with its name. */
const preset = (name: Name): Preset => {
  const { defaultModel: _model, defaultModelChecked: _checked, format: _format, ...entry } = Providers.registry[name]
  return { name, ...entry }
}

/** True for the name of an OpenAI-compatible entry. */
const isPreset = (name: Providers.Name): name is Name => Providers.registry[name].format === "openai-compatible"

/**
 * Every preset name, in table order.
 * @since 0.1.0
 * @category constants
 */
export const names: ReadonlyArray<Name> = Providers.names.filter(isPreset)

/**
 * The table of presets.
 * @since 0.1.0
 * @category constants
 */
export const all: ReadonlyArray<Preset> = names.map(preset)

/**
 * True for a preset name.
 * @since 0.1.0
 * @category refinements
 */
export const isName = (u: unknown): u is Name => Providers.isName(u) && isPreset(u)

/**
 * The preset with this name (case-insensitive), if there is one.
 * @since 0.1.0
 * @category getters
 */
export const byName = (name: string): Option.Option<Preset> => {
  const key = name.toLowerCase()
  return Option.fromNullable(all.find((p) => p.name === key))
}

/**
 * What a caller may change about a preset: the base URL, a key given directly (instead of the environment), and any adapter option.
 * @since 0.1.0
 * @category models
 */
export interface Overrides extends Omit<Partial<OpenAiCompatible.Options>, "baseUrl" | "apiKey"> {
  readonly baseUrl?: string | undefined
  readonly apiKey?: Redacted.Redacted<string> | undefined
}

/**
 * The key a preset needs, read through `Config.redacted(variable)`; optional keys may be absent.
 * @since 0.1.0
 * @category config
 */
export const apiKeyConfig: (preset: Preset) => Config.Config<Redacted.Redacted<string> | undefined> = Keyed.apiKeyConfig

/**
 * The adapter options a preset stands for, with a key and overrides applied.
 * @since 0.1.0
 * @category constructors
 */
export const adapterOptions: (
  preset: Preset,
  apiKey: Redacted.Redacted<string> | undefined,
  overrides?: Overrides
) => OpenAiCompatible.Options = Keyed.openAiCompatibleOptions

/**
 * A preset as a Layer: its key from the environment (unless `overrides.apiKey` is given), its base URL unless overridden.
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  name: Name | Preset,
  overrides?: Overrides
): Layer.Layer<LanguageModel.LanguageModel, ConfigError.ConfigError, HttpClient.HttpClient> => {
  const record = typeof name === "string" ? preset(name) : name
  return Keyed.keyedLayer(record, overrides?.apiKey, (apiKey) => OpenAiCompatible.make(adapterOptions(record, apiKey, overrides)))
}

/**
 * OpenAI as a Layer, from its registry entry.
 * @since 0.1.0
 * @category layers
 */
export const openai = (overrides?: Overrides) => layer("openai", overrides)

/**
 * DeepSeek as a Layer, from its registry entry.
 * @since 0.1.0
 * @category layers
 */
export const deepseek = (overrides?: Overrides) => layer("deepseek", overrides)

/**
 * Groq as a Layer, from its registry entry.
 * @since 0.1.0
 * @category layers
 */
export const groq = (overrides?: Overrides) => layer("groq", overrides)

/**
 * Mistral as a Layer, from its registry entry.
 * @since 0.1.0
 * @category layers
 */
export const mistral = (overrides?: Overrides) => layer("mistral", overrides)

/**
 * Together AI as a Layer, from its registry entry.
 * @since 0.1.0
 * @category layers
 */
export const together = (overrides?: Overrides) => layer("together", overrides)

/**
 * Fireworks AI as a Layer, from its registry entry.
 * @since 0.1.0
 * @category layers
 */
export const fireworks = (overrides?: Overrides) => layer("fireworks", overrides)

/**
 * OpenRouter as a Layer, from its registry entry.
 * @since 0.1.0
 * @category layers
 */
export const openrouter = (overrides?: Overrides) => layer("openrouter", overrides)

/**
 * xAI as a Layer, from its registry entry.
 * @since 0.1.0
 * @category layers
 */
export const xai = (overrides?: Overrides) => layer("xai", overrides)

/**
 * Perplexity as a Layer, from its registry entry.
 * @since 0.1.0
 * @category layers
 */
export const perplexity = (overrides?: Overrides) => layer("perplexity", overrides)

/**
 * Gemini through its OpenAI-compatible endpoint as a Layer, from its registry entry.
 * @since 0.1.0
 * @category layers
 */
export const geminiOpenAi = (overrides?: Overrides) => layer("gemini-openai", overrides)

/**
 * A local Ollama server as a Layer, from its registry entry.
 * @since 0.1.0
 * @category layers
 */
export const ollama = (overrides?: Overrides) => layer("ollama", overrides)

/**
 * A local vLLM server as a Layer, from its registry entry.
 * @since 0.1.0
 * @category layers
 */
export const vllm = (overrides?: Overrides) => layer("vllm", overrides)

/**
 * A local LM Studio server as a Layer, from its registry entry.
 * @since 0.1.0
 * @category layers
 */
export const lmstudio = (overrides?: Overrides) => layer("lmstudio", overrides)

/**
 * A local llama.cpp server as a Layer, from its registry entry.
 * @since 0.1.0
 * @category layers
 */
export const llamacpp = (overrides?: Overrides) => layer("llamacpp", overrides)
