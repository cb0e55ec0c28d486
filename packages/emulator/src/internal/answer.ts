/**
 * The format-independent answer: a scenario resolved against one request into deltas and usage.
 * Renderers (OpenAI, Anthropic, Gemini) turn an `Answer` into their wire format.
 *
 * @internal
 */
import * as Fault from "../Fault.js"
import * as Scenario from "../Scenario.js"

/** @internal A message of the request, reduced to what the emulator reads. */
export interface PromptMessage {
  readonly role: string
  readonly text: string
}

/** @internal The request, decoded by a renderer into a format-independent form. */
export interface Prompt {
  readonly model: string
  readonly messages: ReadonlyArray<PromptMessage>
  readonly stream: boolean
  readonly includeUsage: boolean
  readonly maxTokens: number | undefined
}

/** @internal One content delta: what counts as an "event" for faults. */
export type Delta =
  | { readonly _tag: "Reasoning"; readonly text: string }
  | { readonly _tag: "Text"; readonly text: string }
  | {
    readonly _tag: "ToolCallStart"
    readonly index: number
    /** The scenario's id, or undefined (each format then makes its own). */
    readonly id: string | undefined
    readonly name: string
  }
  | { readonly _tag: "ToolCallArguments"; readonly index: number; readonly text: string }

/** @internal Token usage. */
export interface Usage {
  readonly inputTokens: number
  readonly outputTokens: number
  readonly cachedInputTokens: number
  readonly reasoningTokens: number
}

/** @internal A complete tool call. */
export interface ToolCall {
  readonly index: number
  /** The scenario's id, or undefined (each format then makes its own). */
  readonly id: string | undefined
  readonly name: string
  readonly arguments: string
}

/** @internal Pacing and keep-alive. */
export interface Pacing {
  readonly firstTokenDelayMs: number
  readonly gapMs: number
  readonly keepAlive: { readonly intervalMs: number; readonly comment: string } | undefined
}

/**
 * @internal How a request asked to continue a partial answer: `prefill` (the last message is the
 * assistant's, holding a prefix of the scenario text) or `instruction` (an assistant message with a
 * prefix, then a user message asking to go on). `prefixLength` is the prefix's length in UTF-16 code units.
 */
export interface Continuation {
  readonly mode: "prefill" | "instruction"
  readonly prefixLength: number
}

/** @internal The scenario resolved against a request. */
export interface Answer {
  readonly id: string
  readonly created: number
  readonly model: string
  readonly deltas: ReadonlyArray<Delta>
  readonly text: string
  readonly reasoning: string
  readonly toolCalls: ReadonlyArray<ToolCall>
  /** The raw finish reason in OpenAI's words (or the scenario's own); renderers translate. */
  readonly finishReason: string
  /** The block reason when the `promptBlocked` fault refuses the prompt (then there are no deltas). */
  readonly blocked: string | undefined
  /** Set when the answer continues a prefix the client already has. */
  readonly continuation: Continuation | undefined
  readonly usage: Usage
  readonly usageStyle: Scenario.UsageStyle
  readonly reasoningField: Scenario.ReasoningField
  readonly azureFilterChunk: boolean
  readonly write: Scenario.WriteMode
  readonly pacing: Pacing
  readonly faults: ReadonlyArray<Fault.Fault>
}

const codePoints = (text: string): Array<string> => Array.from(text)

/** @internal Cuts text into deltas, deterministically; concatenating them gives the text back. */
export const chunk = (text: string, chunking: Scenario.Chunking): Array<string> => {
  if (text.length === 0) return []
  if (chunking === "word") {
    const words = text.match(/\s*\S+\s*/gu)
    return words === null ? [text] : words
  }
  const size = chunking === "char" ? 1 : chunking
  const points = codePoints(text)
  const out: Array<string> = []
  for (let i = 0; i < points.length; i += size) out.push(points.slice(i, i + size).join(""))
  return out
}

const words = (text: string): number => {
  const found = text.match(/\S+/gu)
  return found === null ? 0 : found.length
}

/**
 * @internal Input tokens: per message 4 + its words, plus 3 for the reply's priming (OpenAI's
 * accounting shape, with words standing in for tokens).
 */
export const inputTokens = (messages: ReadonlyArray<PromptMessage>): number =>
  messages.reduce((sum, m) => sum + 4 + words(m.text), 3)

const toolDeltas = (
  calls: ReadonlyArray<ToolCall>,
  argumentsChunk: number,
  interleave: boolean
): Array<Delta> => {
  const perCall: Array<Array<Delta>> = calls.map((call) => [
    { _tag: "ToolCallStart", index: call.index, id: call.id, name: call.name },
    ...chunk(call.arguments, argumentsChunk).map((text): Delta => ({
      _tag: "ToolCallArguments",
      index: call.index,
      text
    }))
  ])
  if (!interleave) return perCall.flat()
  const out: Array<Delta> = []
  const rounds = Math.max(0, ...perCall.map((d) => d.length))
  for (let r = 0; r < rounds; r++) {
    for (const deltas of perCall) {
      if (r < deltas.length) out.push(deltas[r])
    }
  }
  return out
}

/** @internal Everything `resolve` needs besides the scenario and the prompt. */
export interface Context {
  /** The request's number on this server, for default ids. */
  readonly requestNumber: number
  /** Now, in seconds. */
  readonly nowSeconds: number
  /** The faults active for this request (after `times` counting). */
  readonly faults: ReadonlyArray<Fault.Fault>
  /** The response id when the scenario sets none (each format has its own shape). */
  readonly defaultId: string
}

/**
 * @internal Whether the request continues a partial answer, and from where: the prefix must be a
 * non-empty prefix of `text`; in the instruction form (assistant prefix, then the user's request to
 * go on) it must also be shorter than the text, so an ordinary next turn after a complete answer is
 * answered anew.
 */
export const continuationOf = (messages: ReadonlyArray<PromptMessage>, text: string): Continuation | undefined => {
  const n = messages.length
  if (n === 0) return undefined
  const last = messages[n - 1]
  if (last.role === "assistant") {
    return last.text.length > 0 && text.startsWith(last.text)
      ? { mode: "prefill", prefixLength: last.text.length }
      : undefined
  }
  if (n >= 2 && last.role === "user") {
    const before = messages[n - 2]
    if (
      before.role === "assistant" && before.text.length > 0 && before.text.length < text.length &&
      text.startsWith(before.text)
    ) return { mode: "instruction", prefixLength: before.text.length }
  }
  return undefined
}

/**
 * @internal Resolves a scenario against a request. A continuation (see {@link continuationOf})
 * answers the rest of the text, without reasoning. `max_tokens` cuts the deltas and makes the finish
 * reason `length`. The `promptBlocked` fault leaves no deltas at all.
 */
export const resolve = (scenario: Scenario.Scenario, prompt: Prompt, context: Context): Answer => {
  const blockedFault = findFault(context.faults, "promptBlocked")
  const blocked = blockedFault === undefined ? undefined : blockedFault.reason ?? "SAFETY"
  const toolCallsIn = blocked === undefined ? (scenario.toolCalls ?? []) : []
  let text = blocked === undefined ? scenario.text ?? (toolCallsIn.length > 0 ? "" : Scenario.defaultText) : ""
  let reasoning = blocked === undefined ? scenario.reasoning ?? "" : ""
  const continuation = blocked === undefined ? continuationOf(prompt.messages, text) : undefined
  if (continuation !== undefined) {
    text = text.slice(continuation.prefixLength)
    reasoning = ""
  }
  const chunking = scenario.chunking ?? "word"
  const toolCalls: Array<ToolCall> = toolCallsIn.map((call, index) => ({
    index,
    id: call.id,
    name: call.name,
    arguments: call.arguments
  }))
  let deltas: Array<Delta> = [
    ...chunk(reasoning, chunking).map((t): Delta => ({ _tag: "Reasoning", text: t })),
    ...chunk(text, chunking).map((t): Delta => ({ _tag: "Text", text: t })),
    ...toolDeltas(toolCalls, scenario.argumentsChunk ?? 8, scenario.interleaveToolCalls ?? false)
  ]
  let finishReason = blocked !== undefined
    ? "content_filter"
    : scenario.finishReason ?? (toolCalls.length > 0 ? "tool_calls" : "stop")
  let keptCalls: ReadonlyArray<ToolCall> = toolCalls
  if (prompt.maxTokens !== undefined && deltas.length > prompt.maxTokens) {
    deltas = deltas.slice(0, prompt.maxTokens)
    finishReason = "length"
    const kept = collect(deltas)
    text = kept.text
    reasoning = kept.reasoning
    keptCalls = toolCalls.flatMap((call) => {
      const args = kept.arguments.get(call.index)
      return args === undefined ? [] : [{ ...call, arguments: args }]
    })
  }
  const reasoningDeltas = deltas.filter((d) => d._tag === "Reasoning").length
  const override = scenario.usage ?? {}
  const usage: Usage = {
    inputTokens: override.inputTokens ?? inputTokens(prompt.messages),
    outputTokens: override.outputTokens ?? deltas.length,
    cachedInputTokens: override.cachedInputTokens ?? 0,
    reasoningTokens: override.reasoningTokens ?? reasoningDeltas
  }
  const keepAlive = scenario.keepAlive === undefined ? undefined : typeof scenario.keepAlive === "number"
    ? { intervalMs: scenario.keepAlive, comment: "keep-alive" }
    : { intervalMs: scenario.keepAlive.intervalMs, comment: scenario.keepAlive.comment ?? "keep-alive" }
  return {
    id: scenario.responseId ?? context.defaultId,
    created: scenario.created ?? context.nowSeconds,
    model: scenario.model ?? prompt.model,
    deltas,
    text,
    reasoning,
    toolCalls: keptCalls,
    finishReason,
    blocked,
    continuation,
    usage,
    usageStyle: scenario.usageStyle ?? "openai",
    reasoningField: scenario.reasoningField ?? "reasoning_content",
    azureFilterChunk: scenario.azureFilterChunk ?? false,
    write: scenario.write ?? "event",
    pacing: { firstTokenDelayMs: scenario.firstTokenDelayMs ?? 0, gapMs: scenario.gapMs ?? 0, keepAlive },
    faults: context.faults
  }
}

const collect = (deltas: ReadonlyArray<Delta>) => {
  let text = ""
  let reasoning = ""
  const args = new Map<number, string>()
  for (const d of deltas) {
    switch (d._tag) {
      case "Text":
        text += d.text
        break
      case "Reasoning":
        reasoning += d.text
        break
      case "ToolCallStart":
        args.set(d.index, "")
        break
      case "ToolCallArguments":
        args.set(d.index, (args.get(d.index) ?? "") + d.text)
        break
    }
  }
  return { text, reasoning, arguments: args }
}

/** @internal Usage scaled by a factor (the `inflateUsage` fault). */
export const inflate = (usage: Usage, factor: number): Usage => ({
  inputTokens: Math.round(usage.inputTokens * factor),
  outputTokens: Math.round(usage.outputTokens * factor),
  cachedInputTokens: Math.round(usage.cachedInputTokens * factor),
  reasoningTokens: Math.round(usage.reasoningTokens * factor)
})

/** @internal The total paced duration of a streamed answer: first-token delay plus one gap per delta. */
export const pacedDurationMs = (answer: Answer): number =>
  answer.pacing.firstTokenDelayMs + answer.pacing.gapMs * answer.deltas.length

/** @internal The first active fault of a type. */
export const findFault = <T extends Fault.Type>(
  faults: ReadonlyArray<Fault.Fault>,
  type: T
): Extract<Fault.Fault, { readonly type: T }> | undefined => {
  for (const fault of faults) {
    if (isType(fault, type)) return fault
  }
  return undefined
}

const isType = <T extends Fault.Type>(
  fault: Fault.Fault,
  type: T
): fault is Extract<Fault.Fault, { readonly type: T }> => fault.type === type
