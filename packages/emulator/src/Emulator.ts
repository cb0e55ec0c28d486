/**
 * The emulator: a real HTTP server on loopback that answers like an LLM provider, byte-exact, in
 * three wire formats, with scenarios and faults chosen per request, and a log of every request and
 * how it ended. One scenario answers the same in every format: the same text, reasoning, tool calls
 * and usage figures, cut into the same deltas.
 *
 * Routes: `POST /v1/chat/completions` (OpenAI; base URL {@link Service.openAiBaseUrl});
 * `POST /v1/messages` (Anthropic; base URL {@link Service.anthropicBaseUrl});
 * `POST /v1beta/models/{model}:streamGenerateContent?alt=sse` and
 * `POST /v1beta/models/{model}:generateContent` (Gemini; base URL {@link Service.geminiBaseUrl});
 * `GET /_emulator/health`; `GET /_emulator/requests` (the request log as JSON, for out-of-process
 * tests); `POST /_emulator/reset` (clears the log and the `times` counters). Anything else is a 404
 * in the provider's error format (Gemini's under `/v1beta`, Anthropic's when the request carries
 * Anthropic's headers, else OpenAI's). Every response carries `x-request-id`, the id of its record in
 * the log (Anthropic's also `request-id`, where its SDK reads it).
 *
 * Credentials are taken as the real APIs take them, so the official SDKs (`openai`,
 * `@anthropic-ai/sdk`, `@google/genai`) work against the emulator unchanged: OpenAI
 * `Authorization: Bearer` (or none, as OpenAI-compatible local servers); Anthropic `x-api-key` or
 * `Authorization: Bearer` (the SDK's way since 1.x), with `anthropic-version` of any value; Gemini
 * `x-goog-api-key`, `?key=` or `Authorization: Bearer`. Any key is accepted; without one Anthropic
 * answers 401 and Gemini 403, as the real APIs do, and the `echoKey` fault echoes whichever came.
 *
 * Continuation: a request that ends with an assistant message holding a prefix of the scenario text
 * (prefill; DeepSeek's `prefix: true` is accepted), or with such an assistant message followed by a
 * user message (any text, e.g. "continue"), is answered with the rest of the text, starting exactly
 * after the prefix and without reasoning; a prefix that does not match is answered with the whole
 * text. The log records which form was seen (`continuation`).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Emulator, Scenario } from "@sluice/emulator"
 *
 * const program = Effect.gen(function*() {
 *   const emulator = yield* Emulator.Emulator
 *   const response = yield* Effect.promise(() =>
 *     fetch(`${emulator.openAiBaseUrl}/chat/completions`, {
 *       method: "POST",
 *       headers: { "content-type": "application/json", ...Scenario.headers("long") },
 *       body: JSON.stringify({ model: "gpt-6-luna", messages: [{ role: "user", content: "Hi" }], stream: true })
 *     })
 *   )
 *   yield* Effect.promise(() => response.text())
 *   return yield* emulator.awaitIdle
 * }).pipe(Effect.provide(Emulator.layer()))
 * ```
 *
 * @since 0.1.0
 */
import type { ServeError } from "@effect/platform/HttpServerError"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as FiberSet from "effect/FiberSet"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Http from "node:http"
import { RequestLog } from "./internal/requestLog.js"
import * as Server from "./internal/server.js"
import * as Scenario from "./Scenario.js"

/**
 * How a request ended: `complete` (the body was sent to the end, truncation faults included),
 * `client-closed` (the client went away before the body was complete), `reset` (the emulator
 * destroyed the connection: the `reset` fault, or shutdown mid-body), `stalled` (the emulator was
 * deliberately silent — `stall`, `headersOnly` — until it shut down).
 * @since 0.1.0
 * @category schemas
 */
export const Ending = Schema.Literal("complete", "client-closed", "reset", "stalled")

/**
 * @since 0.1.0
 * @category models
 */
export type Ending = typeof Ending.Type

/**
 * One request in the log. `events` counts content events fully written (text, reasoning or
 * tool-call deltas — what faults count), `sseEvents` every complete SSE event (role, finish, usage
 * and `[DONE]` included; comments and partial events excluded). `ending` and `endedAt` are null
 * while the request is in flight; `status` is null until a status line was sent.
 * @since 0.1.0
 * @category schemas
 */
export const RequestRecord = Schema.Struct({
  id: Schema.String,
  method: Schema.String,
  path: Schema.String,
  headers: Schema.Record({ key: Schema.String, value: Schema.String }),
  body: Schema.Unknown,
  /** The raw `x-sluice-scenario` header value, or `default`. */
  scenarioKey: Schema.String,
  /** This request's number among the requests with the same scenario key (from 1). */
  attempt: Schema.Int,
  stream: Schema.Boolean,
  /** The types of the faults that shaped the response. */
  faults: Schema.Array(Schema.String),
  status: Schema.NullOr(Schema.Int),
  events: Schema.Int,
  sseEvents: Schema.Int,
  ending: Schema.NullOr(Ending),
  /**
   * How the request asked to continue a partial answer, when it did: `prefill` or `instruction`, and
   * the length of the prefix it held (UTF-16 code units of the scenario text).
   */
  continuation: Schema.NullOr(Schema.Struct({
    mode: Schema.Literal("prefill", "instruction"),
    prefixLength: Schema.Int
  })),
  /** Epoch milliseconds. */
  startedAt: Schema.Number,
  endedAt: Schema.NullOr(Schema.Number)
})

/**
 * @since 0.1.0
 * @category models
 */
export interface RequestRecord extends Schema.Schema.Type<typeof RequestRecord> {}

/**
 * Where the emulator listens and which scenario answers requests that do not choose one.
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The port; default 0 (an ephemeral port). */
  readonly port?: number | undefined
  /** The interface; default `127.0.0.1`. */
  readonly host?: string | undefined
  /** The default scenario: a value, or a name / JSON / base64url text as in the header; default `hello`. */
  readonly scenario?: Scenario.Scenario | string | undefined
  /** More named scenarios, usable in the header and in `extends`. */
  readonly scenarios?: Scenario.Registry | undefined
}

/**
 * A running emulator.
 * @since 0.1.0
 * @category models
 */
export interface Service {
  /** `http://host:port`. */
  readonly url: string
  readonly port: number
  /** The OpenAI base URL (`${url}/v1`), as the official SDK expects it. */
  readonly openAiBaseUrl: string
  /** The Anthropic base URL (`url`: the official SDK adds `/v1/messages`). */
  readonly anthropicBaseUrl: string
  /** The Gemini base URL (`url`: the official SDK adds `/v1beta/models/…`). */
  readonly geminiBaseUrl: string
  /** A snapshot of the request log. */
  readonly requests: Effect.Effect<ReadonlyArray<RequestRecord>>
  /** Waits until at least `count` requests arrived; gives the log. */
  readonly awaitRequests: (count: number) => Effect.Effect<ReadonlyArray<RequestRecord>>
  /** Waits until the request with this id (the `x-request-id` response header) has ended. */
  readonly awaitEnded: (id: string) => Effect.Effect<RequestRecord>
  /** Waits until every request that arrived so far has ended; gives the log. */
  readonly awaitIdle: Effect.Effect<ReadonlyArray<RequestRecord>>
  /** Clears the log and the per-scenario `times` counters. */
  readonly reset: Effect.Effect<void>
}

/**
 * The emulator service.
 * @since 0.1.0
 * @category tags
 */
export class Emulator extends Context.Tag("@sluice/emulator/Emulator")<Emulator, Service>() {}

const urlHost = (host: string): string => {
  if (host === "0.0.0.0") return "127.0.0.1"
  if (host === "::") return "[::1]"
  return host.includes(":") ? `[${host}]` : host
}

/**
 * Starts an emulator for the life of the scope; closing the scope ends open requests and closes the server.
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  options: Options = {}
): Effect.Effect<Service, ServeError | Scenario.ScenarioError, Scope.Scope> =>
  Effect.gen(function*() {
    const registry: Scenario.Registry = { ...Scenario.named, ...options.scenarios }
    const defaultScenario = yield* (
      options.scenario === undefined
        ? Either.right<Scenario.Scenario>(Scenario.named.hello)
        : typeof options.scenario === "string"
        ? Scenario.parse(options.scenario, registry)
        : Scenario.validate(options.scenario, registry)
    )
    const host = options.host ?? "127.0.0.1"
    const nodeServer = Http.createServer({ noDelay: true })
    const server = yield* NodeHttpServer.make(() => nodeServer, { port: options.port ?? 0, host })
    const log = new RequestLog(yield* Effect.clock)
    const fibers = yield* FiberSet.make<void, never>()
    const counters = new Map<string, number>()
    yield* server.serve(Server.app({ log, counters, registry, defaultScenario, fibers }))
    // Runs first on close: record how open requests ended, then cut every connection so the
    // handlers finish and `server.close` does not wait for stalled clients.
    yield* Effect.addFinalizer(() =>
      Effect.sync(() => {
        log.shutdown()
        nodeServer.closeAllConnections()
      })
    )
    const port = server.address._tag === "TcpAddress" ? server.address.port : (options.port ?? 0)
    const url = `http://${urlHost(host)}:${port}`
    return {
      url,
      port,
      openAiBaseUrl: `${url}/v1`,
      anthropicBaseUrl: url,
      geminiBaseUrl: url,
      requests: Effect.sync(() => log.snapshot()),
      awaitRequests: (count) => log.waitFor((records) => records.length >= count ? Option.some(records) : Option.none()),
      awaitEnded: (id) =>
        log.waitFor((records) => Option.fromNullable(records.find((r) => r.id === id && r.ending !== null))),
      awaitIdle: log.waitFor((records) =>
        records.every((r) => r.ending !== null) ? Option.some(records) : Option.none()
      ),
      reset: Effect.sync(() => {
        log.clear()
        counters.clear()
      })
    }
  })

/**
 * The emulator as a layer.
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options = {}): Layer.Layer<Emulator, ServeError | Scenario.ScenarioError> =>
  Layer.scoped(Emulator, make(options))

/**
 * The emulator as a layer configured from `Config`, e.g.
 * `{ port: Config.integer("SLUICE_EMULATOR_PORT"), scenario: Config.string("SLUICE_SCENARIO") }`;
 * the scenario is text, as in the header.
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  options: Config.Config.Wrap<{
    readonly port?: number | undefined
    readonly host?: string | undefined
    readonly scenario?: string | undefined
  }>
): Layer.Layer<Emulator, ServeError | Scenario.ScenarioError | ConfigError.ConfigError> =>
  Layer.scoped(Emulator, Effect.flatMap(Config.unwrap(options), make))

/**
 * The request log of the emulator in context.
 * @since 0.1.0
 * @category accessors
 */
export const requests: Effect.Effect<ReadonlyArray<RequestRecord>, never, Emulator> = Effect.flatMap(
  Emulator,
  (emulator) => emulator.requests
)

/**
 * Waits until the request with this id has ended.
 * @since 0.1.0
 * @category accessors
 */
export const awaitEnded = (id: string): Effect.Effect<RequestRecord, never, Emulator> =>
  Effect.flatMap(Emulator, (emulator) => emulator.awaitEnded(id))

/**
 * Waits until every request that arrived so far has ended.
 * @since 0.1.0
 * @category accessors
 */
export const awaitIdle: Effect.Effect<ReadonlyArray<RequestRecord>, never, Emulator> = Effect.flatMap(
  Emulator,
  (emulator) => emulator.awaitIdle
)
