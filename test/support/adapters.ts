/**
 * The three Sluice adapters, pointed at a server (the emulator, or a raw server of a test), behind one
 * interface, and the helpers the conformance, fault-matrix and hostile-server tests share: run a
 * stream keeping what the caller received (`consume`, which the policy tests use too), and check that
 * a failure's `partial` is exactly that.
 */
import type * as HttpClient from "@effect/platform/HttpClient"
import { assert } from "@effect/vitest"
import { Completion, type LanguageModel, LlmError, type StreamEvent } from "@sluice/core"
import { Scenario } from "@sluice/emulator"
import { Anthropic, Gemini, OpenAiCompatible } from "@sluice/providers"
import { Effect, Either, Redacted, Stream } from "effect"

/** A recognisable key: no error, message or partial may ever carry it. */
export const KEY = "sk-sluice-test-key-7d3f9a1b2c"

export type FormatName = "openai" | "anthropic" | "gemini"

/** Adapter options the tests vary. */
export interface AdapterOptions {
  readonly maxEventSize?: number
  /** OpenAI only: `stream_options.include_usage` (default true). */
  readonly includeUsage?: boolean
  /** Extra request headers (the scenario header is added by `make`). */
  readonly headers?: Readonly<Record<string, string>>
}

export interface Format {
  readonly name: FormatName
  /** The model the requests name. */
  readonly model: string
  /** The path of a streamed request, as the emulator logs it. */
  readonly streamPath: string
  /** The adapter for the server at `url` (`http://host:port`, no path), answering `scenario` when it is the emulator. */
  readonly make: (
    url: string,
    scenario: Scenario.Scenario | string | undefined,
    options?: AdapterOptions
  ) => Effect.Effect<LanguageModel.Service, never, HttpClient.HttpClient>
}

const headersOf = (scenario: Scenario.Scenario | string | undefined, options: AdapterOptions): Record<string, string> => ({
  ...(scenario === undefined ? {} : Scenario.headers(scenario)),
  ...options.headers
})

const maxEventSize = (options: AdapterOptions) => (options.maxEventSize === undefined ? {} : { maxEventSize: options.maxEventSize })

export const openai: Format = {
  name: "openai",
  model: "gpt-test",
  streamPath: "/v1/chat/completions",
  make: (url, scenario, options = {}) =>
    OpenAiCompatible.make({
      baseUrl: `${url}/v1`,
      apiKey: Redacted.make(KEY),
      provider: "openai",
      headers: headersOf(scenario, options),
      ...(options.includeUsage === undefined ? {} : { includeUsage: options.includeUsage }),
      ...maxEventSize(options)
    })
}

export const anthropic: Format = {
  name: "anthropic",
  model: "claude-test",
  streamPath: "/v1/messages",
  make: (url, scenario, options = {}) =>
    Anthropic.make({
      baseUrl: url,
      apiKey: Redacted.make(KEY),
      headers: headersOf(scenario, options),
      ...maxEventSize(options)
    })
}

export const gemini: Format = {
  name: "gemini",
  model: "gemini-test",
  streamPath: "/v1beta/models/gemini-test:streamGenerateContent",
  make: (url, scenario, options = {}) =>
    Gemini.make({
      baseUrl: url,
      apiKey: Redacted.make(KEY),
      headers: headersOf(scenario, options),
      ...maxEventSize(options)
    })
}

export const formats: ReadonlyArray<Format> = [openai, anthropic, gemini]

/** How a stream ended, with every event the caller received. */
export interface Outcome {
  readonly received: ReadonlyArray<StreamEvent.StreamEvent>
  readonly completion: Completion.Completion
  readonly error: LlmError.LlmError | undefined
  readonly elapsedMs: number
}

/** Runs a stream to its end, keeping every event the caller received and the failure, if any. */
export const consume = <R>(stream: Stream.Stream<StreamEvent.StreamEvent, LlmError.LlmError, R>): Effect.Effect<Outcome, never, R> =>
  Effect.suspend(() => {
    const received: Array<StreamEvent.StreamEvent> = []
    const start = performance.now()
    return stream.pipe(
      Stream.runForEach((event) => Effect.sync(() => received.push(event))),
      Effect.either,
      Effect.map((result) => ({
        received,
        completion: Completion.fromEvents(received),
        error: Either.isLeft(result) ? result.left : undefined,
        elapsedMs: performance.now() - start
      }))
    )
  })

/** The error's `partial` is exactly what the caller received (absent when nothing was), and the key shows nowhere. */
export const assertHonest = (
  outcome: Outcome,
  error: LlmError.LlmError,
  where: { readonly provider: string; readonly model: string },
  label: string
): void => {
  if (outcome.received.length === 0) assert.isUndefined(error.partial, `${label}: partial without any event received`)
  else assert.deepStrictEqual(error.partial, Completion.fromEvents(outcome.received), `${label}: partial`)
  assert.strictEqual(error.provider, where.provider, `${label}: provider`)
  assert.strictEqual(error.model, where.model, `${label}: model`)
  assert.notInclude(error.message, KEY, `${label}: the key in the message`)
  assert.notInclude(JSON.stringify(error), KEY, `${label}: the key in the error`)
}

/** Fails unless the stream failed with `tag`; checks `partial` and gives the error narrowed. */
export const expectFailure = <Tag extends LlmError.LlmError["_tag"]>(
  outcome: Outcome,
  tag: Tag,
  where: { readonly provider: string; readonly model: string },
  label = tag
): Extract<LlmError.LlmError, { readonly _tag: Tag }> => {
  const error = outcome.error
  if (error === undefined || error._tag !== tag) {
    assert.fail(`${label}: expected ${tag}, got ${error === undefined ? `success ${JSON.stringify(outcome.completion)}` : `${error._tag}: ${error.message}`}`)
  }
  assertHonest(outcome, error, where, label)
  return error as Extract<LlmError.LlmError, { readonly _tag: Tag }>
}

/** Fails unless the stream succeeded; gives the completion. */
export const expectSuccess = (outcome: Outcome, label: string): Completion.Completion => {
  if (outcome.error !== undefined) assert.fail(`${label}: expected success, got ${outcome.error._tag}: ${outcome.error.message}`)
  return outcome.completion
}

/** Whether an error is worth retrying, as policies decide it. */
export const retryable = (error: LlmError.LlmError): boolean => LlmError.isRetryable(error)
