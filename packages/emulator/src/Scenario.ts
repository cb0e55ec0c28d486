/**
 * A scenario describes one answer independently of the wire format: its text, reasoning and tool
 * calls, how it is cut into deltas and paced, how usage is reported, how the bytes are written, and
 * which faults to inject. Every field is optional.
 *
 * A request chooses its scenario with the `x-sluice-scenario` header: a scenario name (`hello`,
 * `long`, `reasoning`, `tools`, `unicode`), a JSON object, or the base64url encoding of a JSON object
 * (for non-ASCII text, which HTTP headers cannot carry). Without the header the server's default applies.
 * A JSON scenario may name another in `extends` to start from it.
 *
 * @example
 * ```ts
 * import { Fault, Scenario } from "@sluice/emulator"
 * const headers = Scenario.headers({
 *   extends: "long",
 *   gapMs: 5,
 *   faults: [Fault.truncate(10)]
 * })
 * // { "x-sluice-scenario": '{"extends":"long","gapMs":5,"faults":[{"type":"truncate","afterEvents":10}]}' }
 * ```
 *
 * @since 0.1.0
 */
import * as Either from "effect/Either"
import * as ParseResult from "effect/ParseResult"
import * as Record from "effect/Record"
import * as Schema from "effect/Schema"
import * as Fault from "./Fault.js"

/**
 * The request header that chooses the scenario.
 * @since 0.1.0
 * @category constants
 */
export const HeaderName = "x-sluice-scenario"

/**
 * The scenario key used for `times` counting when a request sends no scenario header.
 * @since 0.1.0
 * @category constants
 */
export const DefaultKey = "default"

/**
 * The answer text when a scenario sets neither `text` nor `toolCalls`.
 * @since 0.1.0
 * @category constants
 */
export const defaultText = "Hello from the Sluice emulator."

const NonNegativeInt = Schema.Int.pipe(Schema.nonNegative())
const PositiveInt = Schema.Int.pipe(Schema.positive())

/**
 * How text is cut into deltas: `"word"` (each run of non-space characters with the whitespace that
 * follows it; the first also takes any leading whitespace), `"char"` (one code point per delta), or
 * a number of code points per delta.
 * @since 0.1.0
 * @category schemas
 */
export const Chunking = Schema.Union(Schema.Literal("word", "char"), PositiveInt).annotations({
  identifier: "Chunking"
})

/**
 * @since 0.1.0
 * @category models
 */
export type Chunking = typeof Chunking.Type

/**
 * Where streamed usage goes: `openai` (a final chunk with `choices: []`, only when the request set
 * `stream_options.include_usage`), `deepseek` (on the finish chunk), `continuous` (cumulative usage
 * on every chunk, as vLLM's continuous usage stats; plus the final chunk when asked), `groq`
 * (`x_groq.usage` on the finish chunk) or `none`.
 * @since 0.1.0
 * @category schemas
 */
export const UsageStyle = Schema.Literal("openai", "deepseek", "continuous", "groq", "none")

/**
 * @since 0.1.0
 * @category models
 */
export type UsageStyle = typeof UsageStyle.Type

/**
 * The delta field carrying reasoning text: `reasoning_content` (DeepSeek, vLLM) or `reasoning` (Groq, OpenRouter).
 * @since 0.1.0
 * @category schemas
 */
export const ReasoningField = Schema.Literal("reasoning_content", "reasoning")

/**
 * @since 0.1.0
 * @category models
 */
export type ReasoningField = typeof ReasoningField.Type

/**
 * How the bytes reach the socket: `event` (one write per SSE event, each flushed before the next),
 * `bulk` (the whole body in one write, pacing ignored) or `split` (each event in two writes, cut
 * inside a UTF-8 character when the event has one, else mid-line).
 * @since 0.1.0
 * @category schemas
 */
export const WriteMode = Schema.Literal("event", "bulk", "split")

/**
 * @since 0.1.0
 * @category models
 */
export type WriteMode = typeof WriteMode.Type

/**
 * A tool call the answer makes; `arguments` is the JSON text streamed in fragments (Gemini sends the
 * call whole, `args` parsed). Without `id`, each format makes one: `call_sluice_<i>` (OpenAI),
 * `toolu_sluice_<i>` (Anthropic); Gemini sends none.
 * @since 0.1.0
 * @category schemas
 */
export const ToolCall = Schema.Struct({
  id: Schema.optional(Schema.String),
  name: Schema.String,
  arguments: Schema.String
}).annotations({ identifier: "ToolCall" })

/**
 * @since 0.1.0
 * @category models
 */
export interface ToolCall extends Schema.Schema.Type<typeof ToolCall> {}

/**
 * Usage figures overriding the computed ones (each independently).
 * @since 0.1.0
 * @category schemas
 */
export const Usage = Schema.Struct({
  inputTokens: Schema.optional(NonNegativeInt),
  outputTokens: Schema.optional(NonNegativeInt),
  cachedInputTokens: Schema.optional(NonNegativeInt),
  reasoningTokens: Schema.optional(NonNegativeInt)
}).annotations({ identifier: "UsageOverride" })

/**
 * @since 0.1.0
 * @category models
 */
export interface Usage extends Schema.Schema.Type<typeof Usage> {}

/**
 * SSE comments sent while the server waits: every `intervalMs` (or every N ms when a number),
 * `: <comment>` (default `keep-alive`; OpenRouter sends `OPENROUTER PROCESSING`).
 * @since 0.1.0
 * @category schemas
 */
export const KeepAlive = Schema.Union(
  PositiveInt,
  Schema.Struct({ intervalMs: PositiveInt, comment: Schema.optional(Schema.String) })
).annotations({ identifier: "KeepAlive" })

/**
 * @since 0.1.0
 * @category models
 */
export type KeepAlive = typeof KeepAlive.Type

/**
 * One answer, independent of the wire format. Every field is optional; see the module docs.
 * @since 0.1.0
 * @category schemas
 */
export const Scenario = Schema.Struct({
  /** Start from this named scenario and override its fields (shallowly). */
  extends: Schema.optional(Schema.String),
  /** The answer text; default {@link defaultText}, or `""` when `toolCalls` is set. */
  text: Schema.optional(Schema.String),
  /** Reasoning text streamed before the text. */
  reasoning: Schema.optional(Schema.String),
  /** Tool calls streamed after the text. */
  toolCalls: Schema.optional(Schema.Array(ToolCall)),
  /** Interleave the fragments of the tool calls round-robin instead of one call after the other. */
  interleaveToolCalls: Schema.optional(Schema.Boolean),
  /** Code points of tool-call arguments per delta; default 8. */
  argumentsChunk: Schema.optional(PositiveInt),
  /**
   * The finish reason; default `stop`, or `tool_calls` with tool calls (`length` when `max_tokens` cut
   * the answer). OpenAI's words are translated: Anthropic `end_turn`, `max_tokens`, `tool_use`,
   * `refusal` (for `content_filter`); Gemini `STOP` (also for tool calls), `MAX_TOKENS`, `SAFETY`.
   * Any other word is sent as is in every format (e.g. `stop_sequence`, `RECITATION`).
   */
  finishReason: Schema.optional(Schema.String),
  /** How text and reasoning are cut into deltas; default `word`. */
  chunking: Schema.optional(Chunking),
  /** Milliseconds before the first content delta (the role chunk goes at once); default 0. */
  firstTokenDelayMs: Schema.optional(NonNegativeInt),
  /** Milliseconds between deltas (and before the finish chunk); default 0. */
  gapMs: Schema.optional(NonNegativeInt),
  /** Usage overrides; the default is computed deterministically from the request and the deltas. */
  usage: Schema.optional(Usage),
  /** Where streamed usage goes in the OpenAI format; default `openai` (Anthropic and Gemini have one place each). */
  usageStyle: Schema.optional(UsageStyle),
  /** The reasoning delta field of the OpenAI format; default `reasoning_content`. */
  reasoningField: Schema.optional(ReasoningField),
  /** Send Azure's prompt-filter chunk (`choices: []`, `id: ""`) first (OpenAI format). */
  azureFilterChunk: Schema.optional(Schema.Boolean),
  /** SSE keep-alives while waiting: comments (OpenAI, Gemini), `event: ping` (Anthropic). */
  keepAlive: Schema.optional(KeepAlive),
  /** How bytes are written; default `event`. */
  write: Schema.optional(WriteMode),
  /** Faults to inject. */
  faults: Schema.optional(Schema.Array(Fault.Fault)),
  /** The `model` of the response (Gemini: `modelVersion`); default the request's. */
  model: Schema.optional(Schema.String),
  /**
   * The response id; default per format with the request number: `chatcmpl-sluice-<n>` (OpenAI),
   * `msg_sluice_<n>` (Anthropic), `sluice-response-<n>` (Gemini's `responseId`).
   */
  responseId: Schema.optional(Schema.String),
  /** The `created` timestamp (seconds) of the OpenAI format; default now. */
  created: Schema.optional(NonNegativeInt)
}).annotations({ identifier: "Scenario" })

/**
 * @since 0.1.0
 * @category models
 */
export interface Scenario extends Schema.Schema.Type<typeof Scenario> {}

/**
 * An invalid scenario: unknown name, bad JSON, or a field that does not fit the schema.
 * @since 0.1.0
 * @category errors
 */
export class ScenarioError extends Schema.TaggedError<ScenarioError>()("ScenarioError", {
  input: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    const input = this.input.length > 80 ? `${this.input.slice(0, 77)}...` : this.input
    return `invalid scenario ${JSON.stringify(input)}: ${this.reason}`
  }
}

const longText = (() => {
  const sentences = [
    "Streaming answers arrive as a sequence of small deltas over one long-lived HTTP response.",
    "Each delta is a Server-Sent Event whose data line holds a JSON chunk.",
    "A careful client hands every event on as soon as its bytes arrive, without waiting for more.",
    "When the connection breaks, the client must say so instead of returning a shorter answer.",
    "Usage figures come at the end, and only when the request asked for them.",
    "Gateways sometimes buffer the whole answer and replay it at once, which defeats streaming.",
    "Retries are safe only before the first token has reached the caller.",
    "After that, a continuation can ask the model to go on from where the stream stopped."
  ]
  const parts: Array<string> = []
  for (let i = 0; i < 40; i++) parts.push(sentences[(i * 3) % sentences.length])
  return parts.join(" ")
})()

/**
 * The built-in scenarios: `hello` (the default), `long` (several hundred words), `reasoning`,
 * `tools` (two tool calls with interleaved fragments) and `unicode` (CJK, emoji and accents, written split).
 * @since 0.1.0
 * @category constants
 */
export const named = {
  hello: {},
  long: { text: longText },
  reasoning: {
    reasoning: "The user greets me. A short, friendly greeting is the right answer.",
    text: "Hello! How can I help you today?"
  },
  tools: {
    toolCalls: [
      { name: "get_weather", arguments: "{\"city\":\"Paris\",\"unit\":\"celsius\"}" },
      { name: "get_time", arguments: "{\"timezone\":\"Europe/Paris\"}" }
    ],
    interleaveToolCalls: true,
    argumentsChunk: 6
  },
  unicode: {
    text: "Grüße aus Zürich! 你好，世界。こんにちは 🌍🚀 — café, naïve, señor. 👩‍💻 Ελληνικά и кириллица.",
    chunking: 3,
    write: "split"
  }
} as const satisfies Readonly<Record<string, Scenario>>

/**
 * The name of a built-in scenario.
 * @since 0.1.0
 * @category models
 */
export type Name = keyof typeof named

/**
 * Scenarios by name, as `parse` looks them up.
 * @since 0.1.0
 * @category models
 */
export type Registry = Readonly<Record<string, Scenario>>

const decodeJson = Schema.decodeUnknownEither(Schema.parseJson())
const decodeObject = Schema.decodeUnknownEither(Scenario, { onExcessProperty: "error" })

const formatIssues = (error: ParseResult.ParseError): string => {
  const issues = ParseResult.ArrayFormatter.formatErrorSync(error)
  // `optional` fields also accept `undefined`; that alternative is noise in a JSON scenario.
  const relevant = issues.filter((issue) => !issue.message.startsWith("Expected undefined"))
  return (relevant.length === 0 ? issues : relevant)
    .map((issue) => (issue.path.length === 0 ? issue.message : `at ${issue.path.join(".")}: ${issue.message}`))
    .join("; ")
}

const base64url = /^[A-Za-z0-9_-]+={0,2}$/

const resolveExtends = (
  input: string,
  scenario: Scenario,
  registry: Registry,
  depth: number
): Either.Either<Scenario, ScenarioError> => {
  if (scenario.extends === undefined) return Either.right(scenario)
  if (depth > 8) return Either.left(new ScenarioError({ input, reason: "`extends` nests too deeply (a cycle?)" }))
  const { extends: baseName, ...overrides } = scenario
  return Either.flatMap(lookup(input, baseName, registry), (base) =>
    Either.map(resolveExtends(input, base, registry, depth + 1), (resolved) => ({ ...resolved, ...overrides })))
}

const lookup = (input: string, name: string, registry: Registry): Either.Either<Scenario, ScenarioError> => {
  const found = Record.get(registry, name)
  return found._tag === "Some" ? Either.right(found.value) : Either.left(
    new ScenarioError({
      input,
      reason: `unknown scenario name ${JSON.stringify(name)} (known: ${Object.keys(registry).join(", ")})`
    })
  )
}

const fromValue = (input: string, value: unknown, registry: Registry): Either.Either<Scenario, ScenarioError> =>
  decodeObject(value).pipe(
    Either.mapLeft((error) => new ScenarioError({ input, reason: formatIssues(error) })),
    Either.flatMap((scenario) => resolveExtends(input, scenario, registry, 0))
  )

const fromJsonText = (input: string, json: string, registry: Registry): Either.Either<Scenario, ScenarioError> =>
  decodeJson(json).pipe(
    Either.mapLeft(() => new ScenarioError({ input, reason: "not valid JSON" })),
    Either.flatMap((value) => fromValue(input, value, registry))
  )

/**
 * Reads a scenario from a header value or a command-line argument: a name from `registry` (default
 * the built-ins), a JSON object, or base64url of a JSON object; `extends` is resolved.
 * @since 0.1.0
 * @category parsing
 */
export const parse = (input: string, registry: Registry = named): Either.Either<Scenario, ScenarioError> => {
  // Node hands header values over as latin1; recover UTF-8 sent raw (e.g. by curl).
  const text = /[\u0080-\u00ff]/.test(input) && !/[^\u0000-\u00ff]/.test(input)
    ? Buffer.from(input, "latin1").toString("utf8")
    : input
  const trimmed = text.trim()
  if (trimmed.startsWith("{")) return fromJsonText(input, trimmed, registry)
  if (Record.has(registry, trimmed)) {
    return Either.flatMap(lookup(input, trimmed, registry), (s) => resolveExtends(input, s, registry, 0))
  }
  if (base64url.test(trimmed)) {
    const decoded = Buffer.from(trimmed, "base64url").toString("utf8").trim()
    if (decoded.startsWith("{")) return fromJsonText(input, decoded, registry)
  }
  return lookup(input, trimmed, registry)
}

/**
 * Validates a scenario given as a value (for instance one built in code) and resolves its `extends`.
 * @since 0.1.0
 * @category parsing
 */
export const validate = (scenario: unknown, registry: Registry = named): Either.Either<Scenario, ScenarioError> =>
  fromValue("<scenario>", scenario, registry)

/**
 * The `x-sluice-scenario` header value for a scenario or a name: JSON when it is printable ASCII,
 * else base64url of its UTF-8 JSON.
 * @since 0.1.0
 * @category encoding
 */
export const encodeHeader = (scenario: Scenario | string): string => {
  if (typeof scenario === "string") return scenario
  const json = JSON.stringify(scenario)
  return /^[\x20-\x7e]*$/.test(json) ? json : Buffer.from(json, "utf8").toString("base64url")
}

/**
 * Request headers choosing a scenario, to spread into a request's headers.
 * @since 0.1.0
 * @category encoding
 */
export const headers = (scenario: Scenario | string): { readonly [HeaderName]: string } => ({
  [HeaderName]: encodeHeader(scenario)
})
