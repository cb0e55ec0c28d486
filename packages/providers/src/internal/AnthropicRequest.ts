/**
 * The Anthropic Messages request body for a `ChatRequest`.
 *
 * - System messages (wherever they stand) are joined, in order, into the top-level `system`.
 * - An assistant message's tool calls become `tool_use` blocks (after its text, if any); the arguments
 *   must be a JSON object (`""` counts as `{}`), or the request is refused before it is sent.
 * - `tool` messages become `tool_result` blocks of a user message; consecutive results share one message,
 *   as the API requires all results of one assistant turn to come back together.
 * - `toolChoice`: `auto` → `{type:"auto"}`, `required` → `{type:"any"}`, `none` → `{type:"none"}`,
 *   `{tool}` → `{type:"tool", name}`.
 * - `responseFormat`: a JSON schema uses the native structured outputs (`output_config.format`, generally
 *   available for Claude 4.5 and later; older models answer HTTP 400). Plain JSON, which the API has no
 *   mode for, becomes a system instruction. Option `jsonMode: "instruction"` uses the instruction for a
 *   schema too (for older models).
 * - `max_tokens` is required by the API: the request's `maxTokens`, else the adapter's default.
 * @internal
 */
import * as Either from "effect/Either"
import type { ChatRequest } from "@sluice/core"
import { parseArguments } from "./toolArguments.js"

/** Per-deployment differences in the request body. */
export interface BodyOptions {
  readonly stream: boolean
  /** `max_tokens` when the request has none. */
  readonly defaultMaxTokens: number
  /** How a JSON-schema response format is asked for. */
  readonly jsonMode: "native" | "instruction"
  /** Extra top-level fields, merged last. */
  readonly extraBody: { readonly [key: string]: unknown } | undefined
}

type Json = { readonly [key: string]: unknown }

/** The system instruction that asks for JSON where the API has no mode for it. */
export const jsonInstruction = (format: ChatRequest.ResponseFormat): string | undefined => {
  switch (format.type) {
    case "text":
      return undefined
    case "json":
      return "Respond with a single valid JSON value and nothing else: no prose, no code fences."
    case "json-schema":
      return `Respond with a single JSON value that matches the JSON Schema "${format.name}" below, and nothing else: no prose, no code fences.\n${
        JSON.stringify(format.schema)
      }`
  }
}

const toolChoice = (choice: ChatRequest.ToolChoice): Json => {
  if (typeof choice !== "string") return { type: "tool", name: choice.tool }
  switch (choice) {
    case "auto":
      return { type: "auto" }
    case "required":
      return { type: "any" }
    case "none":
      return { type: "none" }
  }
}

/** Builds the JSON body, or says why the request cannot be expressed. */
export const body = (request: ChatRequest.ChatRequest, options: BodyOptions): Either.Either<Json, string> => {
  const system: Array<string> = []
  const messages: Array<{ role: "user" | "assistant"; content: string | Array<Json> }> = []
  let results: Array<Json> | undefined
  for (const m of request.messages) {
    if (m.role !== "tool") results = undefined
    switch (m.role) {
      case "system":
        system.push(m.content)
        break
      case "user":
        messages.push({ role: "user", content: m.content })
        break
      case "assistant": {
        const calls = m.toolCalls ?? []
        if (calls.length === 0) {
          // A prefill (the answer to continue) may not end in whitespace: the API refuses it.
          messages.push({ role: "assistant", content: m.prefix === true ? m.content.trimEnd() : m.content })
          break
        }
        const content: Array<Json> = m.content === "" ? [] : [{ type: "text", text: m.content }]
        for (const call of calls) {
          const input = parseArguments(call.arguments)
          if (Either.isLeft(input)) return Either.left(`the arguments of tool call ${call.id} (${call.name}) ${input.left}`)
          content.push({ type: "tool_use", id: call.id, name: call.name, input: input.right })
        }
        messages.push({ role: "assistant", content })
        break
      }
      case "tool": {
        if (m.toolCallId === undefined) return Either.left("a tool message has no toolCallId")
        const result = { type: "tool_result", tool_use_id: m.toolCallId, content: m.content }
        if (results === undefined) {
          results = [result]
          messages.push({ role: "user", content: results })
        } else {
          results.push(result)
        }
        break
      }
    }
  }
  const out: { [key: string]: unknown } = {
    model: request.model,
    max_tokens: request.maxTokens ?? options.defaultMaxTokens,
    messages
  }
  const format = request.responseFormat
  if (format !== undefined) {
    if (format.type === "json-schema" && options.jsonMode === "native") {
      out.output_config = { format: { type: "json_schema", schema: format.schema } }
    } else {
      const instruction = jsonInstruction(format)
      if (instruction !== undefined) system.push(instruction)
    }
  }
  if (system.length > 0) out.system = system.join("\n\n")
  if (options.stream) out.stream = true
  if (request.temperature !== undefined) out.temperature = request.temperature
  if (request.topP !== undefined) out.top_p = request.topP
  if (request.stop !== undefined && request.stop.length > 0) out.stop_sequences = request.stop
  if (request.tools !== undefined && request.tools.length > 0) {
    out.tools = request.tools.map((tool) => ({
      name: tool.name,
      ...(tool.description === undefined ? {} : { description: tool.description }),
      input_schema: tool.parameters
    }))
  }
  if (request.toolChoice !== undefined) out.tool_choice = toolChoice(request.toolChoice)
  if (options.extraBody !== undefined) Object.assign(out, options.extraBody)
  return Either.right(out)
}
