/**
 * Per-event decoding of an OpenAI Chat Completions stream into provider-neutral events.
 * @internal
 */
import * as Predicate from "effect/Predicate"
import * as Schema from "effect/Schema"
import { LlmError, type Sse, StreamEvent, WireDecoder } from "@sluice/core"
import { isTransient, providerError, readErrorObject, type Site } from "./httpFailure.js"
import { decodeError, Finishing, isOptNumber, isOptString, mismatch, nonEmpty, parseObject } from "./wireChecks.js"
import * as OpenAiWire from "./OpenAiWire.js"

/** Maps OpenAI's finish reasons to Sluice's. */
export const finishReasonOf = (raw: string): StreamEvent.FinishReason => {
  switch (raw) {
    case "stop":
    case "eos":
    case "end_turn":
      return "stop"
    case "length":
    case "max_tokens":
      return "length"
    case "tool_calls":
    case "function_call":
      return "tool-calls"
    case "content_filter":
      return "content-filter"
    default:
      return "other"
  }
}


/** Reads a usage object by the rules of `OpenAiWire.Usage`; undefined when it does not fit. */
export const readUsage = (u: unknown): StreamEvent.Usage | undefined => {
  if (!Predicate.isRecord(u)) return undefined
  const input = u.prompt_tokens
  const output = u.completion_tokens
  const total = u.total_tokens
  const cacheHit = u.prompt_cache_hit_tokens
  if (typeof input !== "number" || typeof output !== "number" || !isOptNumber(total) || !isOptNumber(cacheHit)) return undefined
  const promptDetails = u.prompt_tokens_details
  const completionDetails = u.completion_tokens_details
  let cached: number | null | undefined = cacheHit
  let reasoning: number | null | undefined
  if (promptDetails !== undefined && promptDetails !== null) {
    if (!Predicate.isRecord(promptDetails) || !isOptNumber(promptDetails.cached_tokens)) return undefined
    cached = promptDetails.cached_tokens ?? cached
  }
  if (completionDetails !== undefined && completionDetails !== null) {
    if (!Predicate.isRecord(completionDetails) || !isOptNumber(completionDetails.reasoning_tokens)) return undefined
    reasoning = completionDetails.reasoning_tokens
  }
  return StreamEvent.usage({
    inputTokens: input,
    outputTokens: output,
    totalTokens: total ?? input + output,
    ...(typeof cached === "number" ? { cachedInputTokens: cached } : {}),
    ...(typeof reasoning === "number" ? { reasoningTokens: reasoning } : {})
  })
}


/**
 * Reads an array `content` by the rules of `OpenAiWire.ContentPart`, pushing its parts in order (into `out`
 * when given): text and refusal parts as text, thinking parts as reasoning; false when a part does not fit.
 */
export const readParts = (parts: ReadonlyArray<unknown>, out: Array<StreamEvent.StreamEvent> | undefined): boolean => {
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i]
    if (!Predicate.isRecord(part)) return false
    switch (part.type) {
      case "text":
      case "refusal": {
        const text = part.type === "text" ? part.text : part.refusal
        if (typeof text !== "string") return false
        if (out !== undefined && text.length > 0) out.push(StreamEvent.textDelta(text))
        break
      }
      case "thinking": {
        const thinking = part.thinking
        if (typeof thinking === "string") {
          if (out !== undefined && thinking.length > 0) out.push(StreamEvent.reasoningDelta(thinking))
        } else if (Array.isArray(thinking)) {
          for (let j = 0; j < thinking.length; j++) {
            const inner: unknown = thinking[j]
            if (!Predicate.isRecord(inner) || typeof inner.type !== "string") return false
            if (inner.type !== "text") continue
            const text = inner.text
            if (typeof text !== "string") return false
            if (out !== undefined && text.length > 0) out.push(StreamEvent.reasoningDelta(text))
          }
        } else {
          return false
        }
        break
      }
      default:
        // Parts of other kinds (Mistral's `reference`) carry no text: accepted and not read.
        if (typeof part.type !== "string") return false
    }
  }
  return true
}

const decodeChunk = Schema.decodeUnknownEither(OpenAiWire.ChatCompletionChunk)

/** Decodes the events of one OpenAI-compatible stream; one instance per response. */
export class OpenAiStreamDecoder implements WireDecoder.WireDecoder {
  private readonly ending = new Finishing()
  private usage: StreamEvent.Usage | undefined = undefined

  constructor(readonly site: Site) {}

  onEvent(event: Sse.Event, out: Array<StreamEvent.StreamEvent>): LlmError.LlmError | WireDecoder.End | undefined {
    const data = event.data
    if (data === "[DONE]") return WireDecoder.End
    const json = parseObject(data, "a chunk")
    if (typeof json === "string") return decodeError(this.site, json, data)
    if ((json.error !== undefined && json.error !== null) || event.event === "error") return this.streamError(json, data)
    const mark = out.length
    if (!this.read(json, out)) {
      out.length = mark
      return this.schemaError(json, data)
    }
    return undefined
  }

  /** Validates and emits in one pass; false when the chunk does not fit the wire schema. */
  private read(chunk: { readonly [key: string]: unknown }, out: Array<StreamEvent.StreamEvent>): boolean {
    if (!isOptString(chunk.id)) return false
    let finish: string | undefined
    const choices = chunk.choices
    if (choices !== undefined && choices !== null) {
      if (!Array.isArray(choices)) return false
      for (let i = 0; i < choices.length; i++) {
        const choice: unknown = choices[i]
        if (!Predicate.isRecord(choice)) return false
        const index = choice.index
        const reason = choice.finish_reason
        if ((index !== undefined && typeof index !== "number") || !isOptString(reason)) return false
        // Only the first choice is the answer (n > 1 is not supported); the others are still validated.
        const primary = index === undefined || index === 0
        const delta = choice.delta
        if (delta !== undefined && delta !== null && !this.delta(delta, primary ? out : undefined)) return false
        if (primary && nonEmpty(reason)) finish = reason
      }
    }
    let usage: StreamEvent.Usage | undefined
    if (chunk.usage !== undefined && chunk.usage !== null) {
      usage = readUsage(chunk.usage)
      if (usage === undefined) return false
    }
    const groq = chunk.x_groq
    if (groq !== undefined && groq !== null) {
      if (!Predicate.isRecord(groq)) return false
      if (groq.usage !== undefined && groq.usage !== null) {
        usage = readUsage(groq.usage)
        if (usage === undefined) return false
      }
    }
    if (usage !== undefined) this.usage = usage
    if (finish !== undefined && !this.ending.finished) this.ending.finish(finishReasonOf(finish), finish, out)
    this.ending.usage(this.usage, out)
    return true
  }

  private delta(delta: unknown, out: Array<StreamEvent.StreamEvent> | undefined): boolean {
    if (!Predicate.isRecord(delta)) return false
    const content = delta.content
    const reasoningContent = delta.reasoning_content
    const reasoning = delta.reasoning
    const refusal = delta.refusal
    if (!isOptString(delta.role) || !isOptString(reasoningContent) || !isOptString(reasoning) || !isOptString(refusal)) {
      return false
    }
    if (out !== undefined) {
      if (nonEmpty(reasoningContent)) out.push(StreamEvent.reasoningDelta(reasoningContent))
      else if (nonEmpty(reasoning)) out.push(StreamEvent.reasoningDelta(reasoning))
    }
    // The string is the usual case and stays the first test; an array of parts is Mistral's reasoning models.
    if (typeof content === "string") {
      if (out !== undefined && content.length > 0) out.push(StreamEvent.textDelta(content))
    } else if (content !== undefined && content !== null && !(Array.isArray(content) && readParts(content, out))) {
      return false
    }
    if (out !== undefined && nonEmpty(refusal)) out.push(StreamEvent.textDelta(refusal))
    const calls = delta.tool_calls
    if (calls === undefined || calls === null) return true
    if (!Array.isArray(calls)) return false
    for (let i = 0; i < calls.length; i++) {
      const call: unknown = calls[i]
      if (!Predicate.isRecord(call)) return false
      const index = call.index
      const id = call.id
      if ((index !== undefined && typeof index !== "number") || !isOptString(id) || !isOptString(call.type)) return false
      const fn = call.function
      let name: string | null | undefined
      let args: string | null | undefined
      if (fn !== undefined && fn !== null) {
        if (!Predicate.isRecord(fn)) return false
        const fnName = fn.name
        const fnArgs = fn.arguments
        if (!isOptString(fnName) || !isOptString(fnArgs)) return false
        name = fnName
        args = fnArgs
      }
      if (out !== undefined) {
        out.push(
          StreamEvent.toolCallDelta({
            index: index ?? i,
            ...(nonEmpty(id) ? { id } : {}),
            ...(nonEmpty(name) ? { name } : {}),
            argumentsDelta: args ?? ""
          })
        )
      }
    }
    return true
  }

  private streamError(json: { readonly [key: string]: unknown }, data: string): LlmError.LlmError {
    const body = readErrorObject(json)
    return providerError(this.site, body, data.slice(0, 500), isTransient(body?.type, body?.code), body?.type ?? body?.code)
  }

  private schemaError(json: unknown, data: string): LlmError.LlmError {
    return decodeError(this.site, mismatch("a chunk does not match the chat.completion.chunk schema", decodeChunk(json)), data)
  }
}
