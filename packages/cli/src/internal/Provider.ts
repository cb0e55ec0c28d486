/**
 * Providers by name, as `--provider` and `--fallback` take them: every OpenAI-compatible preset plus
 * the native Anthropic and Gemini adapters, with a default model each, the key's environment
 * variable, and the base URL convention of each (OpenAI's includes `/v1`, Anthropic's and Gemini's do not).
 * @internal
 */
import type * as HttpClient from "@effect/platform/HttpClient"
import { type LanguageModel } from "@sluice/core"
import { Anthropic, Gemini, OpenAiCompatible, Presets } from "@sluice/providers"
import * as Config from "effect/Config"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import { UsageError } from "./CliError.js"

/** A provider name: a preset, `anthropic` or `gemini`. */
export type Name = Presets.Name | "anthropic" | "gemini"

/** Every provider name, the most used first. */
export const names: ReadonlyArray<Name> = ["openai", "anthropic", "gemini", ...Presets.names.filter((name) => name !== "openai")]

/** True for a provider name. */
export const isName = (u: string): u is Name => names.some((name) => name === u)

/**
 * The model used when neither `--model` nor the provider's {@link modelVariable} names one; undefined
 * where the server decides (say so and ask for one). Each provider's current small, fast model,
 * checked 2026-12-04 against the SDKs' model lists (`openai` 7.60 `ChatModel`, `@anthropic-ai/sdk`
 * 1.16 `Model` and its deprecation table, `@google/genai` 3.3 `Model`) and the providers' model
 * pages, for openai, anthropic, gemini, gemini-openai and openrouter; the others are older picks.
 * docs/cli.md ("Default models") lists them with that date.
 */
export const defaultModels = {
  openai: "gpt-6-luna",
  anthropic: "claude-haiku-5-5",
  gemini: "gemini-3.5-flash-lite",
  deepseek: "deepseek-chat",
  groq: "llama-3.3-70b-versatile",
  mistral: "mistral-small-latest",
  together: "meta-llama/Llama-3.3-70B-Instruct-Turbo",
  fireworks: "accounts/fireworks/models/llama-v3p1-8b-instruct",
  openrouter: "openai/gpt-6-luna",
  xai: "grok-3-mini",
  perplexity: "sonar",
  "gemini-openai": "gemini-3.5-flash-lite",
  ollama: "llama3.2",
  vllm: undefined,
  lmstudio: undefined,
  llamacpp: "default"
} as const satisfies { readonly [N in Name]: string | undefined }

/**
 * The environment variable that sets a provider's default model: `SLUICE_MODEL_` and the name in
 * upper case with every character other than a letter or digit as `_` (`SLUICE_MODEL_GEMINI_OPENAI`).
 */
export const modelVariable = (name: Name): string => `SLUICE_MODEL_${name.toUpperCase().replace(/[^A-Z0-9]/g, "_")}`

/**
 * The default model the user set in the provider's {@link modelVariable}; an unset, empty or
 * blank variable is none (so `SLUICE_MODEL_OPENAI=` falls back to the built-in default).
 */
const userDefault = (name: Name): Effect.Effect<string | undefined> =>
  Config.string(modelVariable(name)).pipe(
    Config.option,
    Effect.map(Option.match({ onNone: () => undefined, onSome: (value) => value.trim() || undefined })),
    // A string variable cannot be malformed; any other config failure means "not set".
    Effect.orElseSucceed(() => undefined)
  )

/** The key a provider reads: its environment variable and whether it is required. */
export const apiKey = (name: Name): Presets.ApiKey | undefined => {
  if (name === "anthropic") return { variable: "ANTHROPIC_API_KEY", required: true }
  if (name === "gemini") return { variable: "GEMINI_API_KEY", required: true }
  return Option.getOrThrow(Presets.byName(name)).apiKey
}

/** The base URL a provider uses unless `--base-url` says otherwise. */
export const defaultBaseUrl = (name: Name): string => {
  if (name === "anthropic") return Anthropic.defaultBaseUrl
  if (name === "gemini") return Gemini.defaultBaseUrl
  return Option.getOrThrow(Presets.byName(name)).baseUrl
}

/** One model on one provider, resolved from the command line. */
export interface Route {
  readonly provider: Name
  readonly model: string
  readonly baseUrl: string
}

/** `provider/model`, as errors name a route. */
export const label = (route: Route): string => `${route.provider}/${route.model}`

const checkUrl = (url: string): Effect.Effect<string, UsageError> => {
  try {
    const parsed = new URL(url)
    if (parsed.protocol === "http:" || parsed.protocol === "https:") return Effect.succeed(url)
  } catch {
    // reported below
  }
  return Effect.fail(new UsageError({ reason: `--base-url must be an http(s) URL, got ${JSON.stringify(url)}` }))
}

/** Resolves a provider name, an optional model and an optional base URL into a route. */
export const route = (
  provider: string,
  model: string | undefined,
  baseUrl: string | undefined
): Effect.Effect<Route, UsageError> =>
  Effect.gen(function*() {
    const name = provider.toLowerCase()
    if (!isName(name)) {
      return yield* new UsageError({ reason: `unknown provider ${JSON.stringify(provider)}; known: ${names.join(", ")}` })
    }
    // `--model` wins over the user's default, which wins over the built-in one.
    const chosen = model ?? (yield* userDefault(name)) ?? defaultModels[name]
    if (chosen === undefined || chosen === "") {
      return yield* new UsageError({
        reason: `${name} serves whatever model it loaded: name it with --model or ${modelVariable(name)}`
      })
    }
    return { provider: name, model: chosen, baseUrl: yield* checkUrl(baseUrl ?? defaultBaseUrl(name)) }
  })

/**
 * Reads `--fallback PROVIDER:MODEL` (the model may itself hold colons, as Ollama's tags do; an empty
 * model means the provider's default). A fallback on the primary's provider reuses its base URL.
 */
export const fallback = (spec: string, primary: Route): Effect.Effect<Route, UsageError> => {
  const colon = spec.indexOf(":")
  const provider = colon < 0 ? spec : spec.slice(0, colon)
  if (colon < 0 || !isName(provider.toLowerCase())) {
    return Effect.fail(
      new UsageError({ reason: `--fallback takes PROVIDER:MODEL (e.g. anthropic:claude-haiku-5-5), got ${JSON.stringify(spec)}` })
    )
  }
  const model = spec.slice(colon + 1)
  const same = provider.toLowerCase() === primary.provider
  return route(provider, model === "" ? undefined : model, same ? primary.baseUrl : undefined)
}

/**
 * The provider's key, read from its environment variable through `Config.redacted`; a required key
 * that is missing or empty is a usage error naming the variable.
 */
export const readKey = (name: Name): Effect.Effect<Redacted.Redacted<string> | undefined, UsageError> => {
  const key = apiKey(name)
  if (key === undefined) return Effect.succeed(undefined)
  const missing = new UsageError({
    reason: `${key.variable} is not set: the ${name} provider reads its API key from it (keys are never taken from flags)`
  })
  return Config.redacted(key.variable).pipe(
    Config.option,
    Effect.mapError(() => missing),
    Effect.flatMap((value) => {
      const present = Option.filter(value, (redacted) => Redacted.value(redacted).trim() !== "")
      if (Option.isSome(present)) return Effect.succeed(present.value)
      return key.required ? Effect.fail(missing) : Effect.succeed(undefined)
    })
  )
}

/** The adapter service for a route, with its key (and extra headers, as the demo sends to choose scenarios). */
export const service = (
  target: Route,
  key: Redacted.Redacted<string> | undefined,
  headers?: Readonly<Record<string, string>>
): Effect.Effect<LanguageModel.Service, never, HttpClient.HttpClient> => {
  const extra = headers === undefined ? {} : { headers }
  switch (target.provider) {
    case "anthropic":
      return Anthropic.make({ apiKey: key ?? Redacted.make(""), baseUrl: target.baseUrl, ...extra })
    case "gemini":
      return Gemini.make({ apiKey: key ?? Redacted.make(""), baseUrl: target.baseUrl, ...extra })
    default: {
      const preset = Option.getOrThrow(Presets.byName(target.provider))
      return OpenAiCompatible.make(Presets.adapterOptions(preset, key, { baseUrl: target.baseUrl, ...extra }))
    }
  }
}
