/**
 * Every provider Sluice knows by name, in one table: for each, its wire format (which adapter speaks to
 * it), base URL, the environment variable that holds its key, the model the CLI asks for when none is
 * named, and its known quirks. `Presets` is this table's OpenAI-compatible part; the CLI's `--provider`
 * takes exactly these names. Each name is written once, as a key of {@link registry}; the types are
 * derived from it.
 *
 * @example
 * ```ts
 * import { NodeHttpClient } from "@effect/platform-node"
 * import { Effect, Layer } from "effect"
 * import { ChatRequest, LanguageModel } from "@sluice/core"
 * import { Providers } from "@sluice/providers"
 *
 * // ANTHROPIC_API_KEY from the environment; the model the CLI would use.
 * const { defaultModel } = Providers.registry.anthropic
 * const program = LanguageModel.complete({ model: defaultModel, messages: [ChatRequest.user("Hi")] }).pipe(
 *   Effect.provide(Providers.layer("anthropic").pipe(Layer.provide(NodeHttpClient.layerUndici)))
 * )
 * ```
 *
 * @since 0.1.0
 */
import type * as HttpClient from "@effect/platform/HttpClient"
import type * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import type * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Record from "effect/Record"
import * as Redacted from "effect/Redacted"
import type { LanguageModel } from "@sluice/core"
import * as Anthropic from "./Anthropic.js"
import * as Gemini from "./Gemini.js"
import * as Keyed from "./internal/keyedLayer.js"
import * as OpenAiCompatible from "./OpenAiCompatible.js"

/**
 * The wire format a provider speaks, and so the adapter that serves it: `OpenAiCompatible`, `Anthropic` or `Gemini`.
 * @since 0.1.0
 * @category models
 */
export type Format = "openai-compatible" | "anthropic" | "gemini"

/**
 * Where a provider's key comes from: the environment variable, and whether the server needs one.
 * @since 0.1.0
 * @category models
 */
export interface ApiKey {
  readonly variable: string
  readonly required: boolean
}

/**
 * What every entry of the registry says, whatever its format.
 * @since 0.1.0
 * @category models
 */
export interface Common {
  /** The name people know it by. */
  readonly title: string
  /** The base URL as the provider's own SDK takes it: OpenAI-style ones include the version path, Anthropic's and Gemini's do not. */
  readonly baseUrl: string
  /** The key's environment variable, or undefined when the server takes none (local servers). */
  readonly apiKey: ApiKey | undefined
  /** The model the CLI asks for when neither `--model` nor `SLUICE_MODEL_<PROVIDER>` names one; undefined where the server serves whatever it loaded. */
  readonly defaultModel: string | undefined
  /** When `defaultModel` was last checked against the provider's model list (`YYYY-MM-DD`); undefined for older picks. */
  readonly defaultModelChecked: string | undefined
  /** Known quirks of the server's dialect, for docs/providers.md and `--help`. */
  readonly quirks: ReadonlyArray<string>
  /** Where the base URL and quirks were checked. */
  readonly docs: string
}

/**
 * An OpenAI-compatible server, with the adapter options its dialect needs.
 * @since 0.1.0
 * @category models
 */
export interface OpenAiCompatibleEntry extends Common {
  readonly format: "openai-compatible"
  /** Whether to send `stream_options.include_usage` (off where the server rejects it or sends usage anyway). */
  readonly includeUsage: boolean
  /** The field that carries `maxTokens`. */
  readonly maxTokensField: "max_tokens" | "max_completion_tokens"
}

/**
 * A provider served by the native `Anthropic` adapter.
 * @since 0.1.0
 * @category models
 */
export interface AnthropicEntry extends Common {
  readonly format: "anthropic"
}

/**
 * A provider served by the native `Gemini` adapter.
 * @since 0.1.0
 * @category models
 */
export interface GeminiEntry extends Common {
  readonly format: "gemini"
}

/**
 * One entry of the registry, of any format.
 * @since 0.1.0
 * @category models
 */
export type Entry = OpenAiCompatibleEntry | AnthropicEntry | GeminiEntry

/**
 * The day the defaults of openai, anthropic, gemini, gemini-openai and openrouter were last checked,
 * against the SDKs' model lists (`openai` 7.60 `ChatModel`, `@anthropic-ai/sdk` 1.16 `Model` and its
 * deprecation table, `@google/genai` 3.3 `Model`) and the providers' model pages: each provider's
 * current small, fast model. The others are older picks.
 */
const checked = "2026-12-04"

/**
 * The registry: every provider by name, the most used first (the order `--provider` lists them in).
 * @since 0.1.0
 * @category constants
 */
export const registry = {
  openai: {
    format: "openai-compatible",
    title: "OpenAI",
    baseUrl: "https://api.openai.com/v1",
    apiKey: { variable: "OPENAI_API_KEY", required: true },
    defaultModel: "gpt-6-luna",
    defaultModelChecked: checked,
    includeUsage: true,
    maxTokensField: "max_completion_tokens",
    quirks: [
      "reasoning models (o-series, gpt-5) reject max_tokens: max_completion_tokens is sent",
      "usage comes in a last chunk with choices: [] (stream_options.include_usage)"
    ],
    docs: "https://platform.openai.com/docs/api-reference/chat"
  },
  anthropic: {
    format: "anthropic",
    title: "Anthropic",
    baseUrl: Anthropic.defaultBaseUrl,
    apiKey: { variable: "ANTHROPIC_API_KEY", required: true },
    defaultModel: "claude-haiku-5-5",
    defaultModelChecked: checked,
    quirks: [
      "the key goes in x-api-key, with an anthropic-version header",
      "max_tokens is required: a request without maxTokens sends the adapter's default",
      "HTTP 529 (overloaded) is a server error; an error event inside the stream is a provider stream error",
      "a final assistant message is continued (prefill)"
    ],
    docs: "https://docs.anthropic.com/en/api/messages"
  },
  gemini: {
    format: "gemini",
    title: "Gemini",
    baseUrl: Gemini.defaultBaseUrl,
    apiKey: { variable: "GEMINI_API_KEY", required: true },
    defaultModel: "gemini-3.5-flash-lite",
    defaultModelChecked: checked,
    quirks: [
      "the key goes in x-goog-api-key, never in the URL",
      "the stream has no end marker: it ends at EOF, and the finish reason tells a whole answer",
      "usageMetadata is cumulative; a blocked prompt (promptFeedback.blockReason) is an invalid request"
    ],
    docs: "https://ai.google.dev/api/generate-content"
  },
  deepseek: {
    format: "openai-compatible",
    title: "DeepSeek",
    baseUrl: "https://api.deepseek.com",
    apiKey: { variable: "DEEPSEEK_API_KEY", required: true },
    defaultModel: "deepseek-chat",
    defaultModelChecked: undefined,
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
    format: "openai-compatible",
    title: "Groq",
    baseUrl: "https://api.groq.com/openai/v1",
    apiKey: { variable: "GROQ_API_KEY", required: true },
    defaultModel: "llama-3.3-70b-versatile",
    defaultModelChecked: undefined,
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
    format: "openai-compatible",
    title: "Mistral",
    baseUrl: "https://api.mistral.ai/v1",
    apiKey: { variable: "MISTRAL_API_KEY", required: true },
    defaultModel: "mistral-small-latest",
    defaultModelChecked: undefined,
    includeUsage: false,
    maxTokensField: "max_tokens",
    quirks: [
      "rejects unknown fields with HTTP 422 (stream_options, max_completion_tokens): neither is sent",
      "usage comes on the last chunk without being asked"
    ],
    docs: "https://docs.mistral.ai/api/"
  },
  together: {
    format: "openai-compatible",
    title: "Together AI",
    baseUrl: "https://api.together.xyz/v1",
    apiKey: { variable: "TOGETHER_API_KEY", required: true },
    defaultModel: "meta-llama/Llama-3.3-70B-Instruct-Turbo",
    defaultModelChecked: undefined,
    includeUsage: false,
    maxTokensField: "max_tokens",
    quirks: ["usage comes on the last chunk without being asked (usage: null before it)"],
    docs: "https://docs.together.ai/docs/openai-api-compatibility"
  },
  fireworks: {
    format: "openai-compatible",
    title: "Fireworks AI",
    baseUrl: "https://api.fireworks.ai/inference/v1",
    apiKey: { variable: "FIREWORKS_API_KEY", required: true },
    defaultModel: "accounts/fireworks/models/llama-v3p1-8b-instruct",
    defaultModelChecked: undefined,
    includeUsage: false,
    maxTokensField: "max_tokens",
    quirks: ["the API lives under /inference/v1", "usage comes on the last chunk without being asked"],
    docs: "https://docs.fireworks.ai/tools-sdks/openai-compatibility"
  },
  openrouter: {
    format: "openai-compatible",
    title: "OpenRouter",
    baseUrl: "https://openrouter.ai/api/v1",
    apiKey: { variable: "OPENROUTER_API_KEY", required: true },
    defaultModel: "openai/gpt-6-luna",
    defaultModelChecked: checked,
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
    format: "openai-compatible",
    title: "xAI",
    baseUrl: "https://api.x.ai/v1",
    apiKey: { variable: "XAI_API_KEY", required: true },
    defaultModel: "grok-3-mini",
    defaultModelChecked: undefined,
    includeUsage: true,
    maxTokensField: "max_tokens",
    quirks: ["reasoning models stream delta.reasoning_content"],
    docs: "https://docs.x.ai/docs/api-reference"
  },
  perplexity: {
    format: "openai-compatible",
    title: "Perplexity (Sonar)",
    baseUrl: "https://api.perplexity.ai",
    apiKey: { variable: "PERPLEXITY_API_KEY", required: true },
    defaultModel: "sonar",
    defaultModelChecked: undefined,
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
    format: "openai-compatible",
    title: "Gemini (OpenAI endpoint)",
    baseUrl: "https://generativelanguage.googleapis.com/v1beta/openai",
    apiKey: { variable: "GEMINI_API_KEY", required: true },
    defaultModel: "gemini-3.5-flash-lite",
    defaultModelChecked: checked,
    includeUsage: true,
    maxTokensField: "max_tokens",
    quirks: [
      "the key goes as a Bearer token here (the native Gemini adapter uses x-goog-api-key)",
      "thinking is controlled with reasoning_effort; thought text is not streamed"
    ],
    docs: "https://ai.google.dev/gemini-api/docs/openai"
  },
  ollama: {
    format: "openai-compatible",
    title: "Ollama",
    baseUrl: "http://localhost:11434/v1",
    apiKey: undefined,
    defaultModel: "llama3.2",
    defaultModelChecked: undefined,
    includeUsage: true,
    maxTokensField: "max_tokens",
    quirks: ["no key (OpenAI SDKs send a dummy one, which Ollama ignores)", "reasoning streams as delta.reasoning"],
    docs: "https://docs.ollama.com/api/openai-compatibility"
  },
  vllm: {
    format: "openai-compatible",
    title: "vLLM",
    baseUrl: "http://localhost:8000/v1",
    apiKey: { variable: "VLLM_API_KEY", required: false },
    defaultModel: undefined,
    defaultModelChecked: undefined,
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
    format: "openai-compatible",
    title: "LM Studio",
    baseUrl: "http://localhost:1234/v1",
    apiKey: undefined,
    defaultModel: undefined,
    defaultModelChecked: undefined,
    includeUsage: true,
    maxTokensField: "max_tokens",
    quirks: ["no key"],
    docs: "https://lmstudio.ai/docs/app/api/endpoints/openai"
  },
  llamacpp: {
    format: "openai-compatible",
    title: "llama.cpp server",
    baseUrl: "http://localhost:8080/v1",
    apiKey: { variable: "LLAMA_API_KEY", required: false },
    defaultModel: "default",
    defaultModelChecked: undefined,
    includeUsage: true,
    maxTokensField: "max_tokens",
    quirks: [
      "a key only when llama-server was started with --api-key (or LLAMA_API_KEY)",
      "the last chunk carries timings besides usage"
    ],
    docs: "https://github.com/ggml-org/llama.cpp/tree/master/tools/server"
  }
} as const satisfies { readonly [name: string]: Entry }

type Registry = typeof registry

/**
 * A provider name, as `--provider` takes it.
 * @since 0.1.0
 * @category models
 */
export type Name = keyof Registry

/**
 * The names of the providers of one wire format: `NameOf<"openai-compatible">` is `Presets.Name`.
 * @since 0.1.0
 * @category models
 */
export type NameOf<F extends Format> = { readonly [N in Name]: Registry[N]["format"] extends F ? N : never }[Name]

/**
 * An entry with its name.
 * @since 0.1.0
 * @category models
 */
export type Provider = Entry & { readonly name: Name }

/** The entry of `name`, with its name. */
const withName = <N extends Name>(name: N): Registry[N] & { readonly name: N } => ({ ...registry[name], name })

/**
 * Every provider name, in registry order.
 * @since 0.1.0
 * @category constants
 */
export const names: ReadonlyArray<Name> = Record.keys(registry)

/**
 * Every entry with its name, in registry order.
 * @since 0.1.0
 * @category constants
 */
export const all: ReadonlyArray<Provider> = names.map(withName)

/**
 * True for a provider name.
 * @since 0.1.0
 * @category refinements
 */
export const isName = (u: unknown): u is Name => typeof u === "string" && names.some((name) => name === u)

/**
 * The provider with this name (case-insensitive), if there is one.
 * @since 0.1.0
 * @category getters
 */
export const byName = (name: string): Option.Option<Provider> => {
  const key = name.toLowerCase()
  return Option.fromNullable(all.find((provider) => provider.name === key))
}

/**
 * The key a provider needs, read through `Config.redacted(variable)`; optional keys may be absent.
 * @since 0.1.0
 * @category config
 */
export const apiKeyConfig: (entry: Entry) => Config.Config<Redacted.Redacted<string> | undefined> = Keyed.apiKeyConfig

/**
 * What a caller may change about a provider: its base URL, a key given directly (instead of the environment), and extra request headers.
 * @since 0.1.0
 * @category models
 */
export interface Overrides {
  readonly baseUrl?: string | undefined
  readonly apiKey?: Redacted.Redacted<string> | undefined
  readonly headers?: Record.ReadonlyRecord<string, string> | undefined
}

/**
 * A provider's service from the adapter of its format, with the key and overrides given (no environment
 * read; Anthropic and Gemini get an empty key when none is given, which their servers refuse).
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  provider: Name | Provider,
  overrides: Overrides = {}
): Effect.Effect<LanguageModel.Service, never, HttpClient.HttpClient> => {
  const entry = typeof provider === "string" ? withName(provider) : provider
  const baseUrl = overrides.baseUrl ?? entry.baseUrl
  const common = { provider: entry.name, baseUrl, headers: overrides.headers }
  switch (entry.format) {
    case "openai-compatible":
      return OpenAiCompatible.make(Keyed.openAiCompatibleOptions(entry, overrides.apiKey, common))
    case "anthropic":
      return Anthropic.make({ ...common, apiKey: overrides.apiKey ?? Redacted.make("") })
    case "gemini":
      return Gemini.make({ ...common, apiKey: overrides.apiKey ?? Redacted.make("") })
  }
}

/**
 * A provider as a Layer: its key from its environment variable (unless `overrides.apiKey` is given), its
 * base URL unless overridden. A required key that is missing fails the Layer with a `ConfigError` naming the variable.
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  provider: Name | Provider,
  overrides: Overrides = {}
): Layer.Layer<LanguageModel.LanguageModel, ConfigError.ConfigError, HttpClient.HttpClient> => {
  const entry = typeof provider === "string" ? withName(provider) : provider
  return Keyed.keyedLayer(entry, overrides.apiKey, (apiKey) => make(entry, { ...overrides, apiKey }))
}
