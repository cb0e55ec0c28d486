/**
 * What `Providers` and `Presets` share: reading a registry entry's key from the environment, turning an
 * OpenAI-compatible entry into adapter options, and a Layer built with the key.
 * @internal
 */
import type * as HttpClient from "@effect/platform/HttpClient"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Redacted from "effect/Redacted"
import { LanguageModel } from "@sluice/core"
import type * as OpenAiCompatible from "../OpenAiCompatible.js"
import type { Overrides } from "../Presets.js"
import type { ApiKey } from "../Providers.js"

/** The key an entry names, read through `Config.redacted(variable)`; optional keys may be absent. */
export const apiKeyConfig = (entry: { readonly apiKey: ApiKey | undefined }): Config.Config<Redacted.Redacted<string> | undefined> => {
  const key = entry.apiKey
  if (key === undefined) return Config.succeed(undefined)
  const config = Config.redacted(key.variable)
  return key.required ? config : Config.map(Config.option(config), Option.getOrUndefined)
}

/** What an OpenAI-compatible entry contributes to the adapter's options. */
export interface OpenAiCompatibleEntry {
  readonly name: string
  readonly baseUrl: string
  readonly includeUsage: boolean
  readonly maxTokensField: "max_tokens" | "max_completion_tokens"
}

/** The OpenAI-compatible adapter's options for an entry, with a key and overrides applied. */
export const openAiCompatibleOptions = (
  entry: OpenAiCompatibleEntry,
  apiKey: Redacted.Redacted<string> | undefined,
  overrides?: Overrides
): OpenAiCompatible.Options => ({
  provider: entry.name,
  includeUsage: entry.includeUsage,
  maxTokensField: entry.maxTokensField,
  ...overrides,
  baseUrl: overrides?.baseUrl ?? entry.baseUrl,
  apiKey: overrides?.apiKey ?? apiKey
})

/** A Layer of the service `build` makes with the key: `apiKey` when given, else the entry's variable. */
export const keyedLayer = (
  entry: { readonly apiKey: ApiKey | undefined },
  apiKey: Redacted.Redacted<string> | undefined,
  build: (apiKey: Redacted.Redacted<string> | undefined) => Effect.Effect<LanguageModel.Service, never, HttpClient.HttpClient>
): Layer.Layer<LanguageModel.LanguageModel, ConfigError.ConfigError, HttpClient.HttpClient> =>
  Layer.effect(
    LanguageModel.LanguageModel,
    Effect.flatMap(apiKey === undefined ? apiKeyConfig(entry) : Effect.succeed(apiKey), build)
  )
