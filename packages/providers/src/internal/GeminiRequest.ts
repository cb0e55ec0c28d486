/**
 * The Gemini `generateContent` request body for a `ChatRequest`.
 *
 * - Roles: user → `user`, assistant → `model`, system messages (wherever they stand) → `systemInstruction`
 *   parts, in order.
 * - An assistant's tool calls → `functionCall` parts (`args` must be a JSON object; `""` counts as `{}`). The
 *   first carries `thoughtSignature: "skip_thought_signature_validator"`, the value Google documents for
 *   replayed calls whose signature was not kept: Gemini 3 rejects a function call in the history without a
 *   signature, and a `ChatRequest` has no field to carry the real one.
 * - Tool results → `functionResponse` parts of a user turn (consecutive results share one turn), named after
 *   the matching earlier call; `response` is the result when it is a JSON object, else `{ output: text }`
 *   (the key the API documents for a function's output). Call ids are not sent: Gemini matches responses by
 *   order and name, and ids from other providers (or generated ones) mean nothing to it.
 * - `tools` → one `functionDeclarations` tool with `parametersJsonSchema` (full JSON Schema, where the older
 *   `parameters` takes only an OpenAPI subset); `toolChoice` → `toolConfig.functionCallingConfig`
 *   (`AUTO`, `ANY`, `NONE`, `ANY` + `allowedFunctionNames`).
 * - `responseFormat` → `generationConfig.responseMimeType: "application/json"`, with `responseJsonSchema` for a
 *   schema (full JSON Schema, unlike the OpenAPI-subset `responseSchema`).
 * - `maxTokens` → `maxOutputTokens`; `temperature`, `topP`, `stop` → `stopSequences`.
 * @internal
 */
import * as Either from "effect/Either"
import * as Predicate from "effect/Predicate"
import type { ChatRequest } from "@sluice/core"
import { parseArguments } from "./toolArguments.js"

/** Per-deployment differences in the request body. */
export interface BodyOptions {
  /** Ask thinking models for thought summaries (`thinkingConfig.includeThoughts`). */
  readonly includeThoughts: boolean
  /** Extra top-level fields, merged last (`safetySettings`, `cachedContent`, …). */
  readonly extraBody: { readonly [key: string]: unknown } | undefined
}

/** The sentinel Google documents for function calls replayed without their thought signature. */
export const skipThoughtSignature = "skip_thought_signature_validator"

type Json = { readonly [key: string]: unknown }

const functionResponse = (content: string): Json => {
  try {
    const parsed: unknown = JSON.parse(content)
    if (Predicate.isRecord(parsed)) return parsed
  } catch {
    // Not JSON: the text is the output.
  }
  return { output: content }
}

const functionCallingConfig = (choice: ChatRequest.ToolChoice): Json => {
  if (typeof choice !== "string") return { mode: "ANY", allowedFunctionNames: [choice.tool] }
  switch (choice) {
    case "auto":
      return { mode: "AUTO" }
    case "required":
      return { mode: "ANY" }
    case "none":
      return { mode: "NONE" }
  }
}

/** Builds the JSON body, or says why the request cannot be expressed. */
export const body = (request: ChatRequest.ChatRequest, options: BodyOptions): Either.Either<Json, string> => {
  const system: Array<Json> = []
  const contents: Array<{ role: "user" | "model"; parts: Array<Json> }> = []
  /** Tool calls seen so far, by id, for naming their results. */
  const calls = new Map<string, string>()
  let results: Array<Json> | undefined
  for (const m of request.messages) {
    if (m.role !== "tool") results = undefined
    switch (m.role) {
      case "system":
        if (m.content !== "") system.push({ text: m.content })
        break
      case "user":
        if (m.content !== "") contents.push({ role: "user", parts: [{ text: m.content }] })
        break
      case "assistant": {
        const parts: Array<Json> = m.content === "" ? [] : [{ text: m.content }]
        for (const call of m.toolCalls ?? []) {
          const args = parseArguments(call.arguments)
          if (Either.isLeft(args)) return Either.left(`the arguments of tool call ${call.id} (${call.name}) ${args.left}`)
          calls.set(call.id, call.name)
          const first = parts.every((part) => part.functionCall === undefined)
          parts.push({
            functionCall: { name: call.name, args: args.right },
            ...(first ? { thoughtSignature: skipThoughtSignature } : {})
          })
        }
        if (parts.length > 0) contents.push({ role: "model", parts })
        break
      }
      case "tool": {
        const name = (m.toolCallId === undefined ? undefined : calls.get(m.toolCallId)) ?? m.name
        if (name === undefined) {
          return Either.left(`the tool result for ${m.toolCallId ?? "(no toolCallId)"} answers no earlier tool call, and has no name`)
        }
        const part = { functionResponse: { name, response: functionResponse(m.content) } }
        if (results === undefined) {
          results = [part]
          contents.push({ role: "user", parts: results })
        } else {
          results.push(part)
        }
        break
      }
    }
  }
  const out: { [key: string]: unknown } = { contents }
  if (system.length > 0) out.systemInstruction = { parts: system }
  if (request.tools !== undefined && request.tools.length > 0) {
    out.tools = [{
      functionDeclarations: request.tools.map((tool) => ({
        name: tool.name,
        ...(tool.description === undefined ? {} : { description: tool.description }),
        parametersJsonSchema: tool.parameters
      }))
    }]
  }
  if (request.toolChoice !== undefined) out.toolConfig = { functionCallingConfig: functionCallingConfig(request.toolChoice) }
  const config: { [key: string]: unknown } = {}
  if (request.maxTokens !== undefined) config.maxOutputTokens = request.maxTokens
  if (request.temperature !== undefined) config.temperature = request.temperature
  if (request.topP !== undefined) config.topP = request.topP
  if (request.stop !== undefined && request.stop.length > 0) config.stopSequences = request.stop
  const format = request.responseFormat
  if (format !== undefined && format.type !== "text") {
    config.responseMimeType = "application/json"
    if (format.type === "json-schema") config.responseJsonSchema = format.schema
  }
  if (options.includeThoughts) config.thinkingConfig = { includeThoughts: true }
  if (Object.keys(config).length > 0) out.generationConfig = config
  if (options.extraBody !== undefined) Object.assign(out, options.extraBody)
  return Either.right(out)
}
