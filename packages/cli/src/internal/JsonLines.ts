/**
 * The `--json` lines of docs/contract.md ("`--json` lines"): one object per event, then always a last `summary` line.
 * @internal
 */
import type { Completion, Policy, StreamEvent } from "@sluice/core"
import { errorText } from "./errorText.js"

/**
 * What `JSON.stringify` leaves raw but a terminal showing the line would act on or reorder: DEL, C1,
 * the line separators and the bidi controls. Written as `\uXXXX`, the JSON means the same.
 */
const unsafe = /[\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g

/** A JSON text with every character a terminal could act on escaped. */
export const jsonSafe = (json: string): string =>
  json.replace(unsafe, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`)

/** An error as the lines report it: `_tag`, the one-line `message`, and `detail` (the whole message) when that line is shorter. */
export const errorJson = (error: { readonly _tag: string; readonly message: string }) => {
  const { detail, message } = errorText(error.message)
  return { _tag: error._tag, message, ...(detail === undefined ? {} : { detail }) }
}

/** `{inputTokens, outputTokens, totalTokens}`: the usage shape of every line. */
export interface UsageJson {
  readonly inputTokens: number
  readonly outputTokens: number
  readonly totalTokens: number
}

/** The usage figures the lines carry. */
export const usageJson = (usage: Completion.Usage): UsageJson => ({
  inputTokens: usage.inputTokens,
  outputTokens: usage.outputTokens,
  totalTokens: usage.totalTokens
})

/** The line of one event (without its newline). */
export const eventLine = (event: StreamEvent.StreamEvent): string => jsonSafe(eventJson(event))

const eventJson = (event: StreamEvent.StreamEvent): string => {
  switch (event._tag) {
    case "TextDelta":
      return JSON.stringify({ type: "text", text: event.text })
    case "ReasoningDelta":
      return JSON.stringify({ type: "reasoning", text: event.text })
    case "ToolCallDelta":
      return JSON.stringify({
        type: "tool-call-delta",
        index: event.index,
        id: event.id ?? null,
        name: event.name ?? null,
        argumentsDelta: event.argumentsDelta
      })
    case "Usage":
      return JSON.stringify({ type: "usage", ...usageJson(event) })
    case "Finish":
      return JSON.stringify({ type: "finish", reason: event.reason })
  }
}

/** The events a non-streamed completion stands for, so `--no-stream --json` prints the same kinds of line. */
export const eventsOf = (completion: Completion.Completion): Array<StreamEvent.StreamEvent> => {
  const events: Array<StreamEvent.StreamEvent> = []
  if (completion.reasoning !== "") events.push({ _tag: "ReasoningDelta", text: completion.reasoning })
  if (completion.text !== "") events.push({ _tag: "TextDelta", text: completion.text })
  completion.toolCalls.forEach((call, index) =>
    events.push({ _tag: "ToolCallDelta", index, id: call.id, name: call.name, argumentsDelta: call.arguments })
  )
  if (completion.usage !== null) events.push({ _tag: "Usage", ...completion.usage })
  if (completion.finishReason !== null) events.push({ _tag: "Finish", reason: completion.finishReason, rawReason: completion.finishReason })
  return events
}

/** An attempt as the summary lists it. */
export const attemptJson = (attempt: Policy.Attempt) => ({
  provider: attempt.provider,
  model: attempt.model,
  kind: attempt.kind,
  startedAt: attempt.startedAt,
  endedAt: attempt.endedAt,
  durationMs: attempt.endedAt - attempt.startedAt,
  events: attempt.events,
  ...(attempt.error === undefined ? {} : { error: errorJson(attempt.error) }),
  ...(attempt.usage === undefined ? {} : { usage: usageJson(attempt.usage) }),
  ...(attempt.spliceAt === undefined ? {} : { spliceAt: attempt.spliceAt }),
  ...(attempt.interrupted === true ? { interrupted: true } : {}),
  // The server answered the streaming request with a whole JSON completion (it ignored `stream: true`).
  ...(attempt.streamed === false ? { streamed: false } : {})
})

/** What the summary line reports. */
export interface Summary {
  readonly completion: Completion.Completion
  readonly ttftMs: number | null
  readonly durationMs: number
  readonly attempts: ReadonlyArray<Policy.Attempt>
  /** The failure, when there was one (an interruption included). */
  readonly error?: { readonly _tag: string; readonly message: string } | undefined
}

const ms = (value: number): number => Math.round(value)

/** The last line (without its newline); `error` only when `ok` is false. */
export const summaryLine = (summary: Summary): string =>
  jsonSafe(JSON.stringify({
    type: "summary",
    ok: summary.error === undefined,
    text: summary.completion.text,
    toolCalls: summary.completion.toolCalls.map((call) => ({ id: call.id, name: call.name, arguments: call.arguments })),
    usage: summary.completion.usage === null ? null : usageJson(summary.completion.usage),
    finishReason: summary.completion.finishReason,
    ttftMs: summary.ttftMs === null ? null : ms(summary.ttftMs),
    durationMs: ms(summary.durationMs),
    attempts: summary.attempts.map(attemptJson),
    ...(summary.error === undefined ? {} : { error: errorJson(summary.error) })
  }))
