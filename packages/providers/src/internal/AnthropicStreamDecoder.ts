/**
 * Per-event decoding of an Anthropic Messages stream into provider-neutral events.
 *
 * - Text and thinking deltas become `TextDelta` / `ReasoningDelta`; signatures and redacted thinking are
 *   opaque and dropped.
 * - Each `tool_use` block is one tool call; its `ToolCallDelta.index` is a dense counter of tool calls
 *   (0, 1, …), not the content-block index, with id and name on the first delta (at `content_block_start`).
 *   A `tool_use` block that got no `input_json_delta` text has arguments `{}` (the `input` of its start
 *   when a proxy put the whole input there).
 * - Usage combines `message_start` (input and cache figures) and `message_delta` (cumulative output; newer
 *   API versions repeat the input figures there, and the last figure wins). It goes out with the `Finish`
 *   (and again if a later `message_delta` changes it), never summed; when either place leaves usage out and
 *   the input or output count is never learned, no `Usage` goes out (a made-up 0 would be wrong).
 * - `message_stop` is the end marker; an `error` event is a `ProviderStreamError`, retryable by its type.
 * - A second `message_start` (a proxy spliced a retried response onto a cut one) ends the stream: with the
 *   first answer when its stop reason had come, else as `IncompleteStream` (`restarted`), so a tool call
 *   whose arguments were cut is never handed on as complete.
 * @internal
 */
import type * as Either from "effect/Either"
import type * as ParseResult from "effect/ParseResult"
import * as Predicate from "effect/Predicate"
import * as Schema from "effect/Schema"
import { LlmError, type Sse, StreamEvent, WireDecoder } from "@sluice/core"
import * as AnthropicWire from "./AnthropicWire.js"
import { isTransient, providerError, readErrorObject, type Site } from "./httpFailure.js"
import { decodeError, Finishing, mismatch, parseObject } from "./wireChecks.js"

/** Maps Anthropic's stop reasons to Sluice's. */
export const finishReasonOf = (raw: string): StreamEvent.FinishReason => {
  switch (raw) {
    case "end_turn":
    case "stop_sequence":
      return "stop"
    case "max_tokens":
    // The context window filled up before max_tokens: a truncation all the same.
    case "model_context_window_exceeded":
      return "length"
    case "tool_use":
      return "tool-calls"
    case "refusal":
      return "content-filter"
    default:
      // pause_turn (a server tool's long turn was paused) and anything newer.
      return "other"
  }
}

const retryableTypes: ReadonlySet<string> = new Set(["overloaded_error", "api_error", "rate_limit_error", "timeout_error"])
const permanentTypes: ReadonlySet<string> = new Set([
  "invalid_request_error",
  "authentication_error",
  "permission_error",
  "not_found_error",
  "request_too_large",
  "billing_error",
  "conflict_error"
])

/** Whether an Anthropic error type (`overloaded_error`, …) is worth retrying; unknown types by the shared heuristic. */
export const isRetryableErrorType = (type: string | undefined): boolean => {
  if (type === undefined) return true
  if (retryableTypes.has(type)) return true
  if (permanentTypes.has(type)) return false
  return isTransient(type, undefined)
}

/** The usage figures of one message as Anthropic counts them. */
export interface UsageFigures {
  readonly input: number
  readonly output: number
  readonly cacheCreation: number | undefined
  readonly cacheRead: number | undefined
}

/**
 * Sluice's usage for Anthropic's figures: `inputTokens` counts every prompt token (Anthropic's `input_tokens`
 * excludes the cached ones, so cache creation and cache reads are added back), `cachedInputTokens` is the
 * cache reads; Anthropic reports no separate reasoning count (thinking is inside `output_tokens`).
 */
export const toUsage = (figures: UsageFigures): StreamEvent.Usage => {
  const input = figures.input + (figures.cacheCreation ?? 0) + (figures.cacheRead ?? 0)
  return StreamEvent.usage({
    inputTokens: input,
    outputTokens: figures.output,
    totalTokens: input + figures.output,
    ...(figures.cacheRead === undefined ? {} : { cachedInputTokens: figures.cacheRead })
  })
}

/** The arguments of a `tool_use` that got no input deltas. */
export const inputText = (input: unknown): string =>
  Predicate.isRecord(input) && Object.keys(input).length > 0 ? JSON.stringify(input) : "{}"

type Block =
  | { readonly kind: "tool"; readonly call: number; readonly input: unknown; received: boolean }
  | { readonly kind: "other" }

const otherBlock: Block = { kind: "other" }

const decodeStart = Schema.decodeUnknownEither(AnthropicWire.MessageStart)
const decodeBlockStart = Schema.decodeUnknownEither(AnthropicWire.ContentBlockStart)
const decodeBlockDelta = Schema.decodeUnknownEither(AnthropicWire.ContentBlockDelta)
const decodeBlockStop = Schema.decodeUnknownEither(AnthropicWire.ContentBlockStop)
const decodeMessageDelta = Schema.decodeUnknownEither(AnthropicWire.MessageDelta)
const decodeStop = Schema.decodeUnknownEither(AnthropicWire.MessageStop)
const decodePing = Schema.decodeUnknownEither(AnthropicWire.Ping)


const num = (u: number | null | undefined): number | undefined => (typeof u === "number" ? u : undefined)

/** Decodes the events of one Anthropic stream; one instance per response. */
export class AnthropicStreamDecoder implements WireDecoder.WireDecoder {
  /** Content blocks by their index in the message; only tool calls need state. */
  private readonly blocks = new Map<number, Block>()
  private toolCalls = 0
  private started = false
  private readonly ending = new Finishing()
  private input: number | undefined = undefined
  private output: number | undefined = undefined
  private cacheCreation: number | undefined = undefined
  private cacheRead: number | undefined = undefined

  constructor(readonly site: Site) {}

  onEvent(event: Sse.Event, out: Array<StreamEvent.StreamEvent>): LlmError.LlmError | WireDecoder.End | undefined {
    const data = event.data
    const json = parseObject(data, "an event")
    if (typeof json === "string") return decodeError(this.site, json, data)
    const type = json.type
    // The hot path: checked by hand, by the rules of AnthropicWire.ContentBlockDelta.
    if (type === "content_block_delta") {
      return this.delta(json, out) ? undefined : this.schemaError(decodeBlockDelta(json), "content_block_delta", data)
    }
    if (type === "error" || event.event === "error") return this.streamError(json, data)
    switch (type) {
      case "message_start": {
        const decoded = decodeStart(json)
        if (decoded._tag === "Left") return this.schemaError(decoded, type, data)
        if (this.started) {
          return this.ending.finished
            ? WireDecoder.End
            : new LlmError.IncompleteStream({ provider: this.site.provider, model: this.site.model, ending: "restarted" })
        }
        this.started = true
        const usage = decoded.right.message.usage
        // Without usage here (a gateway dropped it) the figures can only come from message_delta.
        if (usage !== undefined && usage !== null) {
          this.input = usage.input_tokens
          this.output = num(usage.output_tokens) ?? this.output
          this.cacheCreation = num(usage.cache_creation_input_tokens) ?? this.cacheCreation
          this.cacheRead = num(usage.cache_read_input_tokens) ?? this.cacheRead
        }
        return undefined
      }
      case "content_block_start": {
        const decoded = decodeBlockStart(json)
        if (decoded._tag === "Left") return this.schemaError(decoded, type, data)
        this.blockStart(decoded.right, out)
        return undefined
      }
      case "content_block_stop": {
        const decoded = decodeBlockStop(json)
        if (decoded._tag === "Left") return this.schemaError(decoded, type, data)
        const block = this.blocks.get(decoded.right.index)
        if (block !== undefined && block.kind === "tool" && !block.received) {
          out.push(StreamEvent.toolCallDelta({ index: block.call, argumentsDelta: inputText(block.input) }))
        }
        this.blocks.delete(decoded.right.index)
        return undefined
      }
      case "message_delta": {
        const decoded = decodeMessageDelta(json)
        if (decoded._tag === "Left") return this.schemaError(decoded, type, data)
        this.messageDelta(decoded.right, out)
        return undefined
      }
      case "message_stop": {
        const decoded = decodeStop(json)
        return decoded._tag === "Left" ? this.schemaError(decoded, type, data) : WireDecoder.End
      }
      case "ping": {
        const decoded = decodePing(json)
        return decoded._tag === "Left" ? this.schemaError(decoded, type, data) : undefined
      }
      default:
        // New event types are ignored (Anthropic's versioning policy); an event without a type is not Anthropic's.
        return typeof type === "string" ? undefined : decodeError(this.site, "an event has no \"type\"", data)
    }
  }

  /** Validates and emits a `content_block_delta`; false when it does not fit the wire schema. */
  private delta(json: { readonly [key: string]: unknown }, out: Array<StreamEvent.StreamEvent>): boolean {
    const index = json.index
    const delta = json.delta
    if (typeof index !== "number" || !Predicate.isRecord(delta)) return false
    switch (delta.type) {
      case "text_delta": {
        const text = delta.text
        if (typeof text !== "string") return false
        if (text.length > 0) out.push(StreamEvent.textDelta(text))
        return true
      }
      case "thinking_delta": {
        const thinking = delta.thinking
        if (typeof thinking !== "string") return false
        if (thinking.length > 0) out.push(StreamEvent.reasoningDelta(thinking))
        return true
      }
      case "input_json_delta": {
        const partial = delta.partial_json
        if (typeof partial !== "string") return false
        const block = this.blocks.get(index)
        // Input of blocks that are not the caller's tool calls (server tools) is not forwarded.
        if (partial.length > 0 && block !== undefined && block.kind === "tool") {
          block.received = true
          out.push(StreamEvent.toolCallDelta({ index: block.call, argumentsDelta: partial }))
        }
        return true
      }
      case "signature_delta":
        return typeof delta.signature === "string"
      default:
        // citations_delta and newer delta types are accepted and not read.
        return typeof delta.type === "string"
    }
  }

  private blockStart(start: typeof AnthropicWire.ContentBlockStart.Type, out: Array<StreamEvent.StreamEvent>): void {
    const block = start.content_block
    if (AnthropicWire.isToolUseBlock(block)) {
      const call = this.toolCalls++
      this.blocks.set(start.index, { kind: "tool", call, input: block.input, received: false })
      out.push(StreamEvent.toolCallDelta({ index: call, id: block.id, name: block.name, argumentsDelta: "" }))
      return
    }
    if (AnthropicWire.isTextBlock(block)) {
      if (block.text.length > 0) out.push(StreamEvent.textDelta(block.text))
    } else if (AnthropicWire.isThinkingBlock(block)) {
      if (block.thinking.length > 0) out.push(StreamEvent.reasoningDelta(block.thinking))
    }
    this.blocks.set(start.index, otherBlock)
  }

  private messageDelta(delta: typeof AnthropicWire.MessageDelta.Type, out: Array<StreamEvent.StreamEvent>): void {
    const usage = delta.usage
    if (usage !== undefined && usage !== null) {
      this.output = usage.output_tokens
      this.input = num(usage.input_tokens) ?? this.input
      this.cacheCreation = num(usage.cache_creation_input_tokens) ?? this.cacheCreation
      this.cacheRead = num(usage.cache_read_input_tokens) ?? this.cacheRead
    }
    const reason = delta.delta.stop_reason
    if (typeof reason === "string" && reason.length > 0 && !this.ending.finished) this.ending.finish(finishReasonOf(reason), reason, out)
    // Only when both counts are known: an input count of 0 made up for a missing one would be a lie.
    if (this.ending.finished && this.input !== undefined && this.output !== undefined) {
      this.ending.usage(toUsage({ input: this.input, output: this.output, cacheCreation: this.cacheCreation, cacheRead: this.cacheRead }), out)
    }
  }

  private streamError(json: { readonly [key: string]: unknown }, data: string): LlmError.LlmError {
    const body = readErrorObject(json)
    return providerError(this.site, body, data.slice(0, 500), isRetryableErrorType(body?.type), body?.type)
  }

  private schemaError(decoded: Either.Either<unknown, ParseResult.ParseError>, type: string, data: string): LlmError.LlmError {
    return decodeError(this.site, mismatch(`a ${type} event does not match the wire schema`, decoded), data)
  }
}
