/**
 * Providers by name, as `--provider` and `--fallback` take them: the entries of the providers package's
 * registry (`Providers.registry`), which holds each one's wire format, base URL, key variable and
 * default model; this module only reads it, and adds what is the CLI's own (`SLUICE_MODEL_<PROVIDER>`,
 * usage errors, `--fallback` specs).
 * @internal
 */
import type * as HttpClient from "@effect/platform/HttpClient"
import { type LanguageModel } from "@sluice/core"
import { Providers } from "@sluice/providers"
import * as Config from "effect/Config"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import { UsageError } from "./CliError.js"

/** A provider name. */
export type Name = Providers.Name

/** Every provider name, the most used first. */
export const names: ReadonlyArray<Name> = Providers.names

/** True for a provider name. */
export const isName = (u: string): u is Name => Providers.isName(u)

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
    const entry = Providers.registry[name]
    const chosen = model ?? (yield* userDefault(name)) ?? entry.defaultModel
    if (chosen === undefined || chosen === "") {
      return yield* new UsageError({
        reason: `${name} serves whatever model it loaded: name it with --model or ${modelVariable(name)}`
      })
    }
    return { provider: name, model: chosen, baseUrl: yield* checkUrl(baseUrl ?? entry.baseUrl) }
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
      new UsageError({ reason: `--fallback takes PROVIDER:MODEL (e.g. anthropic:${Providers.registry.anthropic.defaultModel}), got ${JSON.stringify(spec)}` })
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
  const entry = Providers.registry[name]
  const key = entry.apiKey
  if (key === undefined) return Effect.succeed(undefined)
  const missing = new UsageError({
    reason: `${key.variable} is not set: the ${name} provider reads its API key from it (keys are never taken from flags)`
  })
  return Providers.apiKeyConfig(entry).pipe(
    Effect.mapError(() => missing),
    Effect.flatMap((value) => {
      // A blank key counts as none.
      if (value !== undefined && Redacted.value(value).trim() !== "") return Effect.succeed(value)
      return key.required ? Effect.fail(missing) : Effect.succeed(undefined)
    })
  )
}

/** The adapter service for a route, with its key (and extra headers, as the demo sends to choose scenarios). */
export const service = (
  target: Route,
  key: Redacted.Redacted<string> | undefined,
  headers?: Readonly<Record<string, string>>
): Effect.Effect<LanguageModel.Service, never, HttpClient.HttpClient> =>
  Providers.make(target.provider, { apiKey: key, baseUrl: target.baseUrl, headers })
