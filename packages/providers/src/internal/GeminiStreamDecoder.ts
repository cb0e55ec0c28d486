/**
 * Per-event decoding of a Gemini `streamGenerateContent?alt=sse` stream into provider-neutral events.
 *
 * - Text parts become `TextDelta`s, parts with `thought: true` `ReasoningDelta`s.
 * - A whole `functionCall` part is one `ToolCallDelta` (dense index, the call's `id` or a generated one,
 *   its `args` as JSON text). The streamed form (Vertex AI's `streamFunctionCallArguments`: `name` with
 *   `willContinue: true`, then `partialArgs` fragments addressed by JSON path, then an empty `functionCall`)
 *   gives a `ToolCallDelta` with id and name at its start and the assembled arguments at its end.
 * - `finishReason` is the finish (`STOP` after a function call is `tool-calls`); there is no end marker, the
 *   stream ends at EOF and the guard relies on the finish reason.
 * - `usageMetadata` is cumulative on every chunk: the last one counts, sent with (or after) the `Finish`.
 * - `promptFeedback.blockReason` is an `InvalidRequest` naming the reason; `{"error":…}` a `ProviderStreamError`.
 * @internal
 */
import * as Predicate from "effect/Predicate"
import * as Schema from "effect/Schema"
import { LlmError, type Sse, StreamEvent, type WireDecoder } from "@sluice/core"
import * as GeminiWire from "./GeminiWire.js"
import { isTransient, providerError, readErrorObject, type Site } from "./httpFailure.js"
import { decodeError, Finishing, isOptBoolean, isOptNumber, isOptString, mismatch, nonEmpty, parseObject } from "./wireChecks.js"

/** Maps Gemini's finish reasons to Sluice's; `STOP` after a function call is `tool-calls`. */
export const finishReasonOf = (raw: string, calledTools: boolean): StreamEvent.FinishReason => {
  switch (raw) {
    case "STOP":
      return calledTools ? "tool-calls" : "stop"
    case "MAX_TOKENS":
      return "length"
    case "SAFETY":
    case "RECITATION":
    case "BLOCKLIST":
    case "PROHIBITED_CONTENT":
    case "SPII":
    case "IMAGE_SAFETY":
    case "IMAGE_PROHIBITED_CONTENT":
    case "IMAGE_RECITATION":
      return "content-filter"
    default:
      // MALFORMED_FUNCTION_CALL, UNEXPECTED_TOOL_CALL, LANGUAGE, OTHER, FINISH_REASON_UNSPECIFIED, …
      return "other"
  }
}

const isPresent = <A>(u: A | null | undefined): u is A => u !== undefined && u !== null

/**
 * Sluice's usage for Gemini's figures: `inputTokens` = prompt + tool-use prompt, `outputTokens` = candidates +
 * thoughts (Gemini's `candidatesTokenCount` excludes the thinking, which is billed as output: counting it keeps
 * `outputTokens` comparable with OpenAI's `completion_tokens`, which includes reasoning), `reasoningTokens` =
 * thoughts, `cachedInputTokens` = cached content; `totalTokens` as Gemini reports it. Undefined when off-schema.
 */
export const readUsage = (u: unknown): StreamEvent.Usage | undefined => {
  if (!Predicate.isRecord(u)) return undefined
  const prompt = u.promptTokenCount
  const candidates = u.candidatesTokenCount
  const total = u.totalTokenCount
  const thoughts = u.thoughtsTokenCount
  const cached = u.cachedContentTokenCount
  const toolUse = u.toolUsePromptTokenCount
  if (
    !isOptNumber(prompt) || !isOptNumber(candidates) || !isOptNumber(total) || !isOptNumber(thoughts) ||
    !isOptNumber(cached) || !isOptNumber(toolUse)
  ) return undefined
  const input = (prompt ?? 0) + (toolUse ?? 0)
  const output = (candidates ?? 0) + (thoughts ?? 0)
  return StreamEvent.usage({
    inputTokens: input,
    outputTokens: output,
    totalTokens: total ?? input + output,
    ...(typeof cached === "number" ? { cachedInputTokens: cached } : {}),
    ...(typeof thoughts === "number" ? { reasoningTokens: thoughts } : {})
  })
}


/** Checks a `partialArgs` entry by the rules of `GeminiWire.PartialArg`. */
const isPartialArg = (u: unknown): u is { readonly [key: string]: unknown; readonly jsonPath: string } =>
  Predicate.isRecord(u) && typeof u.jsonPath === "string" && isOptString(u.stringValue) && isOptNumber(u.numberValue) &&
  isOptBoolean(u.boolValue) && (u.nullValue === undefined || u.nullValue === null || u.nullValue === "NULL_VALUE") &&
  isOptBoolean(u.willContinue)

type Segment = string | number

/** Parses the JSON paths Gemini uses (`$.a.b[0]`, `$['a b']`); undefined for anything else, and for `$` alone. */
export const parseJsonPath = (path: string): ReadonlyArray<Segment> | undefined => {
  if (path.charCodeAt(0) !== 36 /* $ */) return undefined
  const segments: Array<Segment> = []
  let i = 1
  while (i < path.length) {
    const c = path[i]
    if (c === ".") {
      let j = i + 1
      while (j < path.length && path[j] !== "." && path[j] !== "[") j++
      if (j === i + 1) return undefined
      segments.push(path.slice(i + 1, j))
      i = j
    } else if (c === "[") {
      const close = path.indexOf("]", i)
      if (close === -1) return undefined
      const inner = path.slice(i + 1, close)
      if (/^\d+$/.test(inner)) segments.push(Number(inner))
      else if (inner.length >= 2 && (inner[0] === "'" || inner[0] === "\"") && inner[inner.length - 1] === inner[0]) {
        segments.push(inner.slice(1, -1))
      } else return undefined
      i = close + 1
    } else {
      return undefined
    }
  }
  return segments.length === 0 ? undefined : segments
}

type Container = { [key: string]: unknown } | Array<unknown>

const child = (node: Container, key: Segment): unknown =>
  Array.isArray(node) ? (typeof key === "number" ? node[key] : undefined) : typeof key === "string" ? node[key] : undefined

const assign = (node: Container, key: Segment, value: unknown): boolean => {
  if (Array.isArray(node)) {
    if (typeof key !== "number") return false
    while (node.length < key) node.push(null)
    node[key] = value
    return true
  }
  if (typeof key !== "string") return false
  node[key] = value
  return true
}

/** Sets the value at `path` in `root`, creating objects and arrays on the way; false when the path conflicts. */
const setAt = (root: { [key: string]: unknown }, path: ReadonlyArray<Segment>, update: (old: unknown) => unknown): boolean => {
  let node: Container = root
  for (let i = 0; i < path.length - 1; i++) {
    const next = child(node, path[i])
    if (Array.isArray(next) || (Predicate.isRecord(next) && typeof path[i + 1] === "string")) {
      node = next
      continue
    }
    if (next !== undefined && next !== null) return false
    const created: Container = typeof path[i + 1] === "number" ? [] : {}
    if (!assign(node, path[i], created)) return false
    node = created
  }
  const last = path[path.length - 1]
  return assign(node, last, update(child(node, last)))
}

interface PendingCall {
  readonly call: number
  readonly root: { [key: string]: unknown }
  /** JSON paths whose string value goes on in the next fragment. */
  readonly continuing: Set<string>
}

const decodeChunk = Schema.decodeUnknownEither(GeminiWire.GenerateContentResponse)

const randomId = (): string => globalThis.crypto.randomUUID().replace(/-/g, "").slice(0, 12)

/** Decodes the events of one Gemini response; one instance per response. */
export class GeminiStreamDecoder implements WireDecoder.WireDecoder {
  private toolCalls = 0
  private pending: PendingCall | undefined = undefined
  private readonly ending = new Finishing()
  private usage: StreamEvent.Usage | undefined = undefined
  private idPrefix: string | undefined = undefined
  /** A chunk that fits the schema but cannot be read (an unusable JSON path). */
  private unreadable: string | undefined = undefined

  constructor(readonly site: Site, private readonly makeRandomId: () => string = randomId) {}

  onEvent(event: Sse.Event, out: Array<StreamEvent.StreamEvent>): LlmError.LlmError | WireDecoder.End | undefined {
    const data = event.data
    const json = parseObject(data, "a chunk")
    return typeof json === "string" ? this.decodeError(json, data) : this.onJson(json, out, data)
  }

  /** Reads one parsed response: a streamed chunk, or the whole non-streamed answer. */
  onJson(json: unknown, out: Array<StreamEvent.StreamEvent>, data?: string): LlmError.LlmError | undefined {
    const text = data ?? ""
    if (!Predicate.isRecord(json)) return this.decodeError("a chunk is not a JSON object", text)
    if (isPresent(json.error)) return this.streamError(json, text)
    const mark = out.length
    const result = this.read(json, out)
    if (result === true && this.unreadable === undefined) return undefined
    out.length = mark
    if (result === false) return this.schemaError(json, text)
    if (result !== true) return result
    return this.decodeError(this.unreadable ?? "unreadable chunk", text)
  }

  /** Ends a non-streamed answer: a streamed call still open gets its arguments. */
  end(out: Array<StreamEvent.StreamEvent>): void {
    this.closePending(out)
  }

  /** Validates and emits in one pass; false when the chunk does not fit the wire schema, an error when the prompt was blocked. */
  private read(chunk: { readonly [key: string]: unknown }, out: Array<StreamEvent.StreamEvent>): boolean | LlmError.LlmError {
    const responseId = chunk.responseId
    if (!isOptString(responseId)) return false
    if (this.idPrefix === undefined && nonEmpty(responseId)) {
      const clean = responseId.replace(/[^A-Za-z0-9_-]/g, "")
      if (clean.length > 0) this.idPrefix = clean
    }
    let blocked: LlmError.LlmError | undefined
    const feedback = chunk.promptFeedback
    if (isPresent(feedback)) {
      if (!Predicate.isRecord(feedback)) return false
      const reason = feedback.blockReason
      const message = feedback.blockReasonMessage
      if (!isOptString(reason) || !isOptString(message)) return false
      if (nonEmpty(reason)) blocked = this.blockedError(reason, message)
    }
    let usage: StreamEvent.Usage | undefined
    if (isPresent(chunk.usageMetadata)) {
      usage = readUsage(chunk.usageMetadata)
      if (usage === undefined) return false
    }
    let finish: string | undefined
    const candidates = chunk.candidates
    if (isPresent(candidates)) {
      if (!Array.isArray(candidates)) return false
      for (let i = 0; i < candidates.length; i++) {
        const candidate: unknown = candidates[i]
        if (!Predicate.isRecord(candidate)) return false
        const index = candidate.index
        const reason = candidate.finishReason
        if (!isOptNumber(index) || !isOptString(reason)) return false
        // Only the first candidate is the answer (candidateCount > 1 is not supported); the others are still validated.
        const primary = index === undefined || index === null || index === 0
        const content = candidate.content
        if (isPresent(content)) {
          if (!Predicate.isRecord(content)) return false
          const parts = content.parts
          if (isPresent(parts)) {
            if (!Array.isArray(parts)) return false
            for (let j = 0; j < parts.length; j++) {
              if (!this.part(parts[j], primary ? out : undefined)) return false
            }
          }
        }
        if (primary && nonEmpty(reason)) finish = reason
      }
    }
    if (blocked !== undefined) return blocked
    if (usage !== undefined) this.usage = usage
    if (finish !== undefined && !this.ending.finished) {
      this.closePending(out)
      this.ending.finish(finishReasonOf(finish, this.toolCalls > 0), finish, out)
    }
    this.ending.usage(this.usage, out)
    return true
  }

  private part(part: unknown, out: Array<StreamEvent.StreamEvent> | undefined): boolean {
    if (!Predicate.isRecord(part)) return false
    const text = part.text
    const thought = part.thought
    if (!isOptString(text) || !isOptBoolean(thought)) return false
    if (out !== undefined && nonEmpty(text)) out.push(thought === true ? StreamEvent.reasoningDelta(text) : StreamEvent.textDelta(text))
    const call = part.functionCall
    return isPresent(call) ? this.functionCall(call, out) : true
  }

  private functionCall(fc: unknown, out: Array<StreamEvent.StreamEvent> | undefined): boolean {
    if (!Predicate.isRecord(fc)) return false
    const id = fc.id
    const name = fc.name
    const args = fc.args
    const partialArgs = fc.partialArgs
    const willContinue = fc.willContinue
    if (!isOptString(id) || !isOptString(name) || !isOptBoolean(willContinue)) return false
    if (isPresent(args) && !Predicate.isRecord(args)) return false
    const partials: Array<{ readonly [key: string]: unknown; readonly jsonPath: string }> = []
    if (isPresent(partialArgs)) {
      if (!Array.isArray(partialArgs)) return false
      for (const partial of partialArgs) {
        if (!isPartialArg(partial)) return false
        partials.push(partial)
      }
    }
    if (out === undefined) return true
    if (nonEmpty(name) || this.pending === undefined) {
      // A new call: whole, or the start of a streamed one.
      if (!nonEmpty(name) && !isPresent(args) && partials.length === 0) return true // an empty end marker with nothing open
      this.closePending(out)
      const call = this.toolCalls++
      const callId = nonEmpty(id) ? id : this.makeId(call)
      const root: { [key: string]: unknown } = isPresent(args) ? { ...args } : {}
      const pending: PendingCall = { call, root, continuing: new Set() }
      this.apply(pending, partials)
      if (willContinue === true) {
        this.pending = pending
        out.push(StreamEvent.toolCallDelta({ index: call, id: callId, ...(nonEmpty(name) ? { name } : {}), argumentsDelta: "" }))
      } else {
        out.push(
          StreamEvent.toolCallDelta({ index: call, id: callId, ...(nonEmpty(name) ? { name } : {}), argumentsDelta: JSON.stringify(root) })
        )
      }
      return true
    }
    // A continuation of the open call.
    const pending = this.pending
    if (isPresent(args)) Object.assign(pending.root, args)
    this.apply(pending, partials)
    if (willContinue !== true) this.closePending(out)
    return true
  }

  private apply(pending: PendingCall, partials: ReadonlyArray<{ readonly [key: string]: unknown; readonly jsonPath: string }>): void {
    for (const partial of partials) {
      const path = parseJsonPath(partial.jsonPath)
      if (path === undefined) {
        this.unreadable = `a functionCall's partialArgs has a JSON path Sluice cannot follow: ${JSON.stringify(partial.jsonPath)}`
        return
      }
      const stringValue = partial.stringValue
      const numberValue = partial.numberValue
      const boolValue = partial.boolValue
      let value: unknown
      let hasValue = true
      if (typeof stringValue === "string") value = stringValue
      else if (typeof numberValue === "number") value = numberValue
      else if (typeof boolValue === "boolean") value = boolValue
      else if (Object.hasOwn(partial, "nullValue")) value = null
      else hasValue = false
      if (hasValue) {
        const appends = pending.continuing.has(partial.jsonPath)
        const ok = setAt(pending.root, path, (old) => (appends && typeof old === "string" && typeof value === "string" ? old + value : value))
        if (!ok) {
          this.unreadable = `a functionCall's partialArgs conflict at ${JSON.stringify(partial.jsonPath)}`
          return
        }
      }
      if (partial.willContinue === true) pending.continuing.add(partial.jsonPath)
      else pending.continuing.delete(partial.jsonPath)
    }
  }

  private closePending(out: Array<StreamEvent.StreamEvent>): void {
    const pending = this.pending
    if (pending === undefined) return
    this.pending = undefined
    out.push(StreamEvent.toolCallDelta({ index: pending.call, argumentsDelta: JSON.stringify(pending.root) }))
  }

  /** Ids for calls that came without one: unique per response (Anthropic rejects repeated tool_use ids in a conversation). */
  private makeId(call: number): string {
    if (this.idPrefix === undefined) this.idPrefix = this.makeRandomId()
    return `call_${this.idPrefix}_${call}`
  }

  private blockedError(reason: string, message: string | null | undefined): LlmError.LlmError {
    const detail = nonEmpty(message) ? `: ${message}` : ""
    return new LlmError.InvalidRequest({
      provider: this.site.provider,
      model: this.site.model,
      code: reason,
      providerMessage: `the prompt was blocked (${reason})${detail}`
    })
  }

  private streamError(json: { readonly [key: string]: unknown }, data: string): LlmError.LlmError {
    const body = readErrorObject(json)
    return providerError(this.site, body, data.slice(0, 500), isTransient(body?.type, body?.code), body?.type ?? body?.code)
  }

  private schemaError(json: unknown, data: string): LlmError.LlmError {
    return this.decodeError(mismatch("a chunk does not match the GenerateContentResponse schema", decodeChunk(json)), data)
  }

  private decodeError(reason: string, data: string): LlmError.LlmError {
    // A non-streamed answer has no event text to show: the error carries no `data` then.
    return data === ""
      ? new LlmError.DecodeError({ provider: this.site.provider, model: this.site.model, reason })
      : decodeError(this.site, reason, data)
  }
}
