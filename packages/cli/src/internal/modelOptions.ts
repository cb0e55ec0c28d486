/**
 * The flags the prompt command and `audit` share: which provider, model and base URL, what to ask,
 * and the deadlines; and how they become a request and a service.
 * @internal
 */
import * as Args from "@effect/cli/Args"
import * as HelpDoc from "@effect/cli/HelpDoc"
import * as Options from "@effect/cli/Options"
import * as ValidationError from "@effect/cli/ValidationError"
import type * as HttpClient from "@effect/platform/HttpClient"
import { ChatRequest, type LanguageModel } from "@sluice/core"
import { Providers } from "@sluice/providers"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import { UsageError } from "./CliError.js"
import type * as Help from "./Help.js"
import { parseDuration } from "./parseDuration.js"
import * as Provider from "./Provider.js"

const duration = (name: string) =>
  Options.text(name).pipe(
    Options.withPseudoName("DURATION"),
    Options.mapEffect((text) =>
      Either.match(parseDuration(text), {
        onLeft: (reason) => Effect.fail(ValidationError.invalidValue(HelpDoc.p(`--${name}: ${reason}`))),
        onRight: Effect.succeed
      })
    ),
    Options.optional
  )

/** The prompt words (joined with spaces); none, or `-`, reads stdin. */
export const prompt = Args.text({ name: "prompt" }).pipe(Args.repeated)

/** Provider, model, base URL, system prompt, sampling and deadlines (described in `modelFlags`). */
export const modelOptions = {
  provider: Options.choice("provider", Provider.names).pipe(Options.withAlias("p"), Options.withDefault("openai" as const)),
  model: Options.text("model").pipe(Options.withAlias("m"), Options.optional),
  baseUrl: Options.text("base-url").pipe(Options.withPseudoName("URL"), Options.optional),
  system: Options.text("system").pipe(Options.optional),
  maxTokens: Options.integer("max-tokens").pipe(Options.withPseudoName("N"), Options.optional),
  temperature: Options.float("temperature").pipe(Options.optional),
  firstTokenTimeout: duration("first-token-timeout"),
  idleTimeout: duration("idle-timeout"),
  timeout: duration("timeout")
}

/** `a, b and c`. */
const listed = (words: ReadonlyArray<string>): string =>
  words.length < 2 ? words.join("") : `${words.slice(0, -1).join(", ")} and ${words[words.length - 1]}`

/** The providers that need no key, and those without a default model (the help names them). */
const keyless = Providers.all.filter((p) => p.apiKey?.required !== true).map((p) => p.name)
const modelless = Providers.all.filter((p) => p.defaultModel === undefined).map((p) => p.name)

/** The help of the shared flags; every name, key variable, model and URL in it is the registry's. */
export const modelFlags: { readonly [K in keyof typeof modelOptions]: Help.Flag } = {
  provider: {
    names: ["-p", "--provider"],
    value: "NAME",
    choices: Provider.names,
    text: "The provider. Its API key comes from its environment variable " +
      `(${Providers.all.flatMap((p) => (p.apiKey === undefined ? [] : [p.apiKey.variable])).slice(0, 3).join(", ")}, …), ` +
      `never from a flag; ${listed(keyless)} need none.`,
    default: "openai"
  },
  model: {
    names: ["-m", "--model"],
    value: "MODEL",
    text: "The model to ask for.",
    default: "$SLUICE_MODEL_<PROVIDER> if set, else the provider's own " +
      `(${Providers.all.flatMap((p) => (p.defaultModel === undefined ? [] : [p.defaultModel])).slice(0, 3).join(", ")}, …; ` +
      `${listed(modelless)} ${modelless.length === 1 ? "has" : "have"} none: name one)`
  },
  baseUrl: {
    names: ["--base-url"],
    value: "URL",
    text: "The API base URL, as the provider's SDK takes it: OpenAI-style with /v1, Anthropic's and Gemini's without.",
    default: `the provider's public API (for ollama ${Providers.registry.ollama.baseUrl})`
  },
  system: { names: ["--system"], value: "TEXT", text: "A system prompt.", default: "none" },
  maxTokens: { names: ["--max-tokens"], value: "N", text: "The most tokens to generate.", default: "the provider's" },
  temperature: { names: ["--temperature"], value: "T", text: "The sampling temperature.", default: "the provider's" },
  firstTokenTimeout: {
    names: ["--first-token-timeout"],
    value: "DURATION",
    text: "Deadline for the first token of each attempt: 500ms, 10s, 2m, 1h (a bare number is seconds).",
    default: "none"
  },
  idleTimeout: { names: ["--idle-timeout"], value: "DURATION", text: "Deadline between two events of each attempt.", default: "2m" },
  timeout: { names: ["--timeout"], value: "DURATION", text: "Deadline for the whole request, retries and fallbacks included.", default: "none" }
}

/** The help's list of providers: each with its default model and key variable, from the registry. */
export const providersSection: Help.Section = {
  title: "Providers",
  lines: Providers.all.map((p) => {
    const model = p.defaultModel === undefined ? "no default model (name one)" : `default model ${p.defaultModel}`
    const key = p.apiKey === undefined ? "no key" : `key ${p.apiKey.variable}${p.apiKey.required ? "" : " (optional)"}`
    return [p.name, `${model}, ${key}`]
  })
}

/** What the prompt argument is. */
export const promptHelp = "The prompt, its words joined by spaces; read from stdin when absent or -. An empty or blank prompt is a usage error."

/** What the shared flags parse to. */
export interface ModelFlags {
  readonly provider: Provider.Name
  readonly model: Option.Option<string>
  readonly baseUrl: Option.Option<string>
  readonly system: Option.Option<string>
  readonly maxTokens: Option.Option<number>
  readonly temperature: Option.Option<number>
  readonly firstTokenTimeout: Option.Option<Duration.Duration>
  readonly idleTimeout: Option.Option<Duration.Duration>
  readonly timeout: Option.Option<Duration.Duration>
}

/** The request the flags and the prompt make. */
export const request = (flags: ModelFlags, model: string, text: string): ChatRequest.ChatRequest => {
  const messages = Option.match(flags.system, {
    onNone: () => [ChatRequest.user(text)],
    onSome: (system) => [ChatRequest.system(system), ChatRequest.user(text)]
  })
  return ChatRequest.make({
    model,
    messages,
    ...Option.match(flags.maxTokens, { onNone: () => ({}), onSome: (maxTokens) => ({ maxTokens }) }),
    ...Option.match(flags.temperature, { onNone: () => ({}), onSome: (temperature) => ({ temperature }) })
  })
}

/** A route resolved, with its key read and its service built. */
export interface Resolved {
  readonly route: Provider.Route
  readonly service: LanguageModel.Service
}

/** Resolves a route's key and service. */
export const resolve = (route: Provider.Route): Effect.Effect<Resolved, UsageError, HttpClient.HttpClient> =>
  Effect.gen(function*() {
    const key = yield* Provider.readKey(route.provider)
    return { route, service: yield* Provider.service(route, key) }
  })

/** The primary route of the shared flags. */
export const primaryRoute = (flags: ModelFlags): Effect.Effect<Provider.Route, UsageError> =>
  Provider.route(flags.provider, Option.getOrUndefined(flags.model), Option.getOrUndefined(flags.baseUrl))

/** Reads the prompt: the words given, else all of stdin (a terminal on stdin without `-` is a usage error, not a wait). */
export const readPrompt = (words: ReadonlyArray<string>, stdin: boolean): Effect.Effect<string, UsageError> => {
  if (words.length > 0 && stdin) {
    return Effect.fail(new UsageError({ reason: "give the prompt as an argument or as - (stdin), not both" }))
  }
  if (words.length > 0) {
    const text = words.join(" ")
    // A blank prompt is billed like any other and answers nothing.
    return text.trim() === "" ? Effect.fail(new UsageError({ reason: "the prompt is empty" })) : Effect.succeed(text)
  }
  if (!stdin && process.stdin.isTTY === true) {
    return Effect.fail(new UsageError({ reason: "no prompt: give one as an argument, or pipe it in (use - to type it, ending with Ctrl-D)" }))
  }
  return Effect.async<string, UsageError>((resume) => {
    const chunks: Array<string> = []
    const input = process.stdin
    input.setEncoding("utf8")
    const onData = (chunk: string) => chunks.push(chunk)
    const onEnd = () => {
      cleanup()
      const text = chunks.join("").replace(/\s+$/, "")
      resume(text.trim() === "" ? Effect.fail(new UsageError({ reason: "the prompt on stdin is empty" })) : Effect.succeed(text))
    }
    const onError = (error: Error) => {
      cleanup()
      resume(Effect.fail(new UsageError({ reason: `cannot read the prompt from stdin: ${error.message}` })))
    }
    const cleanup = () => {
      input.off("data", onData)
      input.off("end", onEnd)
      input.off("error", onError)
      input.pause()
    }
    input.on("data", onData)
    input.once("end", onEnd)
    input.once("error", onError)
    return Effect.sync(cleanup)
  })
}
