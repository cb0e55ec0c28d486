/**
 * OpenAI-compatible servers by name: each preset is a data record (base URL, the environment variable that
 * holds the key, known quirks) and a one-line Layer over `OpenAiCompatible` that reads the key through
 * `Config.redacted`. A required key that is missing fails the Layer with a `ConfigError` naming the variable.
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
 * // or by name, as the CLI does: Presets.layer("ollama", { baseUrl: "http://gpu-box:11434/v1" })
 * ```
 *
 * @since 0.1.0
 */
import type * as HttpClient from "@effect/platform/HttpClient"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Redacted from "effect/Redacted"
import { LanguageModel } from "@sluice/core"
import * as OpenAiCompatible from "./OpenAiCompatible.js"

/**
 * The preset names, as `--provider` takes them.
 * @since 0.1.0
 * @category models
 */
export type Name =
  | "openai"
  | "deepseek"
  | "groq"
  | "mistral"
  | "together"
  | "fireworks"
  | "openrouter"
  | "xai"
  | "perplexity"
  | "gemini-openai"
  | "ollama"
  | "vllm"
  | "lmstudio"
  | "llamacpp"

/**
 * Where a preset's key comes from: the environment variable, and whether the server needs one.
 * @since 0.1.0
 * @category models
 */
export interface ApiKey {
  readonly variable: string
  readonly required: boolean
}

/**
 * One OpenAI-compatible server: how to reach it and what is peculiar about it.
 * @since 0.1.0
 * @category models
 */
export interface Preset {
  readonly name: Name
  /** The name people know it by. */
  readonly title: string
  /** The base URL including the API's version path, as the server's OpenAI-SDK instructions give it. */
  readonly baseUrl: string
  /** The key's environment variable, or undefined when the server takes none (local servers). */
  readonly apiKey: ApiKey | undefined
  /** Whether to send `stream_options.include_usage` (off where the server rejects it or sends usage anyway). */
  readonly includeUsage: boolean
  /** The field that carries `maxTokens`. */
  readonly maxTokensField: "max_tokens" | "max_completion_tokens"
  /** Known quirks of the server's dialect, for the README and `--help`. */
  readonly quirks: ReadonlyArray<string>
  /** Where the base URL and quirks were checked. */
  readonly docs: string
}

const table: { readonly [N in Name]: Preset } = {
  openai: {
    name: "openai",
    title: "OpenAI",
    baseUrl: "https://api.openai.com/v1",
    apiKey: { variable: "OPENAI_API_KEY", required: true },
    includeUsage: true,
    maxTokensField: "max_completion_tokens",
    quirks: [
      "reasoning models (o-series, gpt-5) reject max_tokens: max_completion_tokens is sent",
      "usage comes in a last chunk with choices: [] (stream_options.include_usage)"
    ],
    docs: "https://platform.openai.com/docs/api-reference/chat"
  },
  deepseek: {
    name: "deepseek",
    title: "DeepSeek",
    baseUrl: "https://api.deepseek.com",
    apiKey: { variable: "DEEPSEEK_API_KEY", required: true },
    includeUsage: true,
    maxTokensField: "max_tokens",
    quirks: [
      "the documented base URL has no /v1 (https://api.deepseek.com/v1 also works; the v1 is not a model version)",
      "reasoning streams as delta.reasoning_content",
      "usage rides on the finish chunk, with prompt_cache_hit_tokens",
      "sends keep-alive comments while the request is queued"
    ],
    docs: "https://api-docs.deepseek.com/"
  },
  groq: {
    name: "groq",
    title: "Groq",
    baseUrl: "https://api.groq.com/openai/v1",
    apiKey: { variable: "GROQ_API_KEY", required: true },
    includeUsage: true,
    maxTokensField: "max_completion_tokens",
    quirks: [
      "usage also (older API: only) under x_groq.usage on the last chunk",
      "reasoning streams as delta.reasoning",
      "max_tokens is deprecated in favour of max_completion_tokens"
    ],
    docs: "https://console.groq.com/docs/openai"
  },
  mistral: {
    name: "mistral",
    title: "Mistral",
    baseUrl: "https://api.mistral.ai/v1",
    apiKey: { variable: "MISTRAL_API_KEY", required: true },
    includeUsage: false,
    maxTokensField: "max_tokens",
    quirks: [
      "rejects unknown fields with HTTP 422 (stream_options, max_completion_tokens): neither is sent",
      "usage comes on the last chunk without being asked"
    ],
    docs: "https://docs.mistral.ai/api/"
  },
  together: {
    name: "together",
    title: "Together AI",
    baseUrl: "https://api.together.xyz/v1",
    apiKey: { variable: "TOGETHER_API_KEY", required: true },
    includeUsage: false,
    maxTokensField: "max_tokens",
    quirks: ["usage comes on the last chunk without being asked (usage: null before it)"],
    docs: "https://docs.together.ai/docs/openai-api-compatibility"
  },
  fireworks: {
    name: "fireworks",
    title: "Fireworks AI",
    baseUrl: "https://api.fireworks.ai/inference/v1",
    apiKey: { variable: "FIREWORKS_API_KEY", required: true },
    includeUsage: false,
    maxTokensField: "max_tokens",
    quirks: ["the API lives under /inference/v1", "usage comes on the last chunk without being asked"],
    docs: "https://docs.fireworks.ai/tools-sdks/openai-compatibility"
  },
  openrouter: {
    name: "openrouter",
    title: "OpenRouter",
    baseUrl: "https://openrouter.ai/api/v1",
    apiKey: { variable: "OPENROUTER_API_KEY", required: true },
    includeUsage: false,
    maxTokensField: "max_tokens",
    quirks: [
      "usage is always sent on the last chunk (stream_options.include_usage is deprecated and has no effect)",
      "reasoning streams as delta.reasoning",
      "sends ': OPENROUTER PROCESSING' comments while waiting",
      "an upstream failure after the first token is an error chunk with finish_reason \"error\"",
      "optional attribution headers HTTP-Referer and X-Title (pass them as headers)"
    ],
    docs: "https://openrouter.ai/docs/api-reference/overview"
  },
  xai: {
    name: "xai",
    title: "xAI",
    baseUrl: "https://api.x.ai/v1",
    apiKey: { variable: "XAI_API_KEY", required: true },
    includeUsage: true,
    maxTokensField: "max_tokens",
    quirks: ["reasoning models stream delta.reasoning_content"],
    docs: "https://docs.x.ai/docs/api-reference"
  },
  perplexity: {
    name: "perplexity",
    title: "Perplexity (Sonar)",
    baseUrl: "https://api.perplexity.ai",
    apiKey: { variable: "PERPLEXITY_API_KEY", required: true },
    includeUsage: false,
    maxTokensField: "max_tokens",
    quirks: [
      "no /v1 in the base URL for chat completions",
      "no tool calling (tools are ignored)",
      "citations and search_results ride on the chunks as extra fields; usage comes without being asked"
    ],
    docs: "https://docs.perplexity.ai/api-reference/chat-completions-post"
  },
  "gemini-openai": {
    name: "gemini-openai",
    title: "Gemini (OpenAI endpoint)",
    baseUrl: "https://generativelanguage.googleapis.com/v1beta/openai",
    apiKey: { variable: "GEMINI_API_KEY", required: true },
    includeUsage: true,
    maxTokensField: "max_tokens",
    quirks: [
      "the key goes as a Bearer token here (the native Gemini adapter uses x-goog-api-key)",
      "thinking is controlled with reasoning_effort; thought text is not streamed"
    ],
    docs: "https://ai.google.dev/gemini-api/docs/openai"
  },
  ollama: {
    name: "ollama",
    title: "Ollama",
    baseUrl: "http://localhost:11434/v1",
    apiKey: undefined,
    includeUsage: true,
    maxTokensField: "max_tokens",
    quirks: ["no key (OpenAI SDKs send a dummy one, which Ollama ignores)", "reasoning streams as delta.reasoning"],
    docs: "https://docs.ollama.com/api/openai-compatibility"
  },
  vllm: {
    name: "vllm",
    title: "vLLM",
    baseUrl: "http://localhost:8000/v1",
    apiKey: { variable: "VLLM_API_KEY", required: false },
    includeUsage: true,
    maxTokensField: "max_tokens",
    quirks: [
      "a key only when the server was started with --api-key (or VLLM_API_KEY)",
      "with continuous_usage_stats, cumulative usage on every chunk (the last counts)",
      "reasoning streams as delta.reasoning_content (newer versions: delta.reasoning)"
    ],
    docs: "https://docs.vllm.ai/en/latest/serving/openai_compatible_server.html"
  },
  lmstudio: {
    name: "lmstudio",
    title: "LM Studio",
    baseUrl: "http://localhost:1234/v1",
    apiKey: undefined,
    includeUsage: true,
    maxTokensField: "max_tokens",
    quirks: ["no key"],
    docs: "https://lmstudio.ai/docs/app/api/endpoints/openai"
  },
  llamacpp: {
    name: "llamacpp",
    title: "llama.cpp server",
    baseUrl: "http://localhost:8080/v1",
    apiKey: { variable: "LLAMA_API_KEY", required: false },
    includeUsage: true,
    maxTokensField: "max_tokens",
    quirks: [
      "a key only when llama-server was started with --api-key (or LLAMA_API_KEY)",
      "the last chunk carries timings besides usage"
    ],
    docs: "https://github.com/ggml-org/llama.cpp/tree/master/tools/server"
  }
}

/**
 * Every preset name, in table order.
 * @since 0.1.0
 * @category constants
 */
export const names: ReadonlyArray<Name> = [
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
]

/**
 * The table of presets.
 * @since 0.1.0
 * @category constants
 */
export const all: ReadonlyArray<Preset> = names.map((name) => table[name])

/**
 * True for a preset name.
 * @since 0.1.0
 * @category refinements
 */
export const isName = (u: unknown): u is Name => typeof u === "string" && names.some((name) => name === u)

/**
 * The preset with this name (case-insensitive), if there is one.
 * @since 0.1.0
 * @category getters
 */
export const byName = (name: string): Option.Option<Preset> => {
  const key = name.toLowerCase()
  return isName(key) ? Option.some(table[key]) : Option.none()
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
export const apiKeyConfig = (preset: Preset): Config.Config<Redacted.Redacted<string> | undefined> => {
  const key = preset.apiKey
  if (key === undefined) return Config.succeed(undefined)
  const config = Config.redacted(key.variable)
  return key.required ? config : Config.map(Config.option(config), Option.getOrUndefined)
}

/**
 * The adapter options a preset stands for, with a key and overrides applied.
 * @since 0.1.0
 * @category constructors
 */
export const adapterOptions = (
  preset: Preset,
  apiKey: Redacted.Redacted<string> | undefined,
  overrides?: Overrides
): OpenAiCompatible.Options => ({
  provider: preset.name,
  includeUsage: preset.includeUsage,
  maxTokensField: preset.maxTokensField,
  ...overrides,
  baseUrl: overrides?.baseUrl ?? preset.baseUrl,
  apiKey: overrides?.apiKey ?? apiKey
})

/**
 * A preset as a Layer: its key from the environment (unless `overrides.apiKey` is given), its base URL unless overridden.
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  preset: Name | Preset,
  overrides?: Overrides
): Layer.Layer<LanguageModel.LanguageModel, ConfigError.ConfigError, HttpClient.HttpClient> =>
  Layer.effect(
    LanguageModel.LanguageModel,
    Effect.gen(function*() {
      const record = typeof preset === "string" ? table[preset] : preset
      const apiKey = overrides?.apiKey ?? (yield* apiKeyConfig(record))
      return yield* OpenAiCompatible.make(adapterOptions(record, apiKey, overrides))
    })
  )

/**
 * OpenAI (`OPENAI_API_KEY`).
 * @since 0.1.0
 * @category layers
 */
export const openai = (overrides?: Overrides) => layer("openai", overrides)

/**
 * DeepSeek (`DEEPSEEK_API_KEY`).
 * @since 0.1.0
 * @category layers
 */
export const deepseek = (overrides?: Overrides) => layer("deepseek", overrides)

/**
 * Groq (`GROQ_API_KEY`).
 * @since 0.1.0
 * @category layers
 */
export const groq = (overrides?: Overrides) => layer("groq", overrides)

/**
 * Mistral (`MISTRAL_API_KEY`).
 * @since 0.1.0
 * @category layers
 */
export const mistral = (overrides?: Overrides) => layer("mistral", overrides)

/**
 * Together AI (`TOGETHER_API_KEY`).
 * @since 0.1.0
 * @category layers
 */
export const together = (overrides?: Overrides) => layer("together", overrides)

/**
 * Fireworks AI (`FIREWORKS_API_KEY`).
 * @since 0.1.0
 * @category layers
 */
export const fireworks = (overrides?: Overrides) => layer("fireworks", overrides)

/**
 * OpenRouter (`OPENROUTER_API_KEY`).
 * @since 0.1.0
 * @category layers
 */
export const openrouter = (overrides?: Overrides) => layer("openrouter", overrides)

/**
 * xAI (`XAI_API_KEY`).
 * @since 0.1.0
 * @category layers
 */
export const xai = (overrides?: Overrides) => layer("xai", overrides)

/**
 * Perplexity (`PERPLEXITY_API_KEY`).
 * @since 0.1.0
 * @category layers
 */
export const perplexity = (overrides?: Overrides) => layer("perplexity", overrides)

/**
 * Gemini through its OpenAI-compatible endpoint (`GEMINI_API_KEY`).
 * @since 0.1.0
 * @category layers
 */
export const geminiOpenAi = (overrides?: Overrides) => layer("gemini-openai", overrides)

/**
 * A local Ollama server (no key).
 * @since 0.1.0
 * @category layers
 */
export const ollama = (overrides?: Overrides) => layer("ollama", overrides)

/**
 * A local vLLM server (`VLLM_API_KEY` when set).
 * @since 0.1.0
 * @category layers
 */
export const vllm = (overrides?: Overrides) => layer("vllm", overrides)

/**
 * A local LM Studio server (no key).
 * @since 0.1.0
 * @category layers
 */
export const lmstudio = (overrides?: Overrides) => layer("lmstudio", overrides)

/**
 * A local llama.cpp server (`LLAMA_API_KEY` when set).
 * @since 0.1.0
 * @category layers
 */
export const llamacpp = (overrides?: Overrides) => layer("llamacpp", overrides)
