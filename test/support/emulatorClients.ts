/**
 * Raw `fetch` clients for the emulator's three wire formats, for the emulator's own tests: they send
 * a request the way each provider's SDK would and read the body back as text, without Sluice's
 * adapters in between.
 */
import type { Emulator } from "@sluice/emulator"
import { Scenario } from "@sluice/emulator"
import { Effect } from "effect"
import * as Json from "./json.js"

/** A chat message as the tests write it; each format's client translates it. */
export interface Message {
  readonly role: "system" | "user" | "assistant"
  readonly content: string
  /** DeepSeek's prefix flag (OpenAI format only). */
  readonly prefix?: boolean
}

export interface Options {
  readonly scenario?: Scenario.Scenario | string
  readonly stream?: boolean
  readonly messages?: ReadonlyArray<Message>
  readonly maxTokens?: number
  readonly model?: string
  readonly headers?: Record<string, string>
  /** Leave out the credentials the format needs. */
  readonly noKey?: boolean
  readonly signal?: AbortSignal
}

export type FormatName = "openai" | "anthropic" | "gemini"

const defaultMessages: ReadonlyArray<Message> = [{ role: "user", content: "Say hi" }]

const scenarioHeaders = (options: Options) => (options.scenario === undefined ? {} : Scenario.headers(options.scenario))

const init = (headers: Record<string, string>, body: unknown, options: Options): RequestInit => ({
  method: "POST",
  headers: { "content-type": "application/json", ...headers, ...scenarioHeaders(options), ...options.headers },
  body: JSON.stringify(body),
  ...(options.signal === undefined ? {} : { signal: options.signal })
})

/** The URL and request of one call in a format. */
export const requestOf = (
  format: FormatName,
  emulator: Emulator.Service,
  options: Options = {}
): { readonly url: string; readonly init: RequestInit } => {
  const messages = options.messages ?? defaultMessages
  const stream = options.stream !== false
  switch (format) {
    case "openai":
      return {
        url: `${emulator.openAiBaseUrl}/chat/completions`,
        init: init(options.noKey === true ? {} : { authorization: "Bearer sk-test-123" }, {
          model: options.model ?? "gpt-test",
          messages: messages.map((m) => (m.prefix === undefined ? { role: m.role, content: m.content } : m)),
          ...(stream ? { stream: true, stream_options: { include_usage: true } } : {}),
          ...(options.maxTokens === undefined ? {} : { max_tokens: options.maxTokens })
        }, options)
      }
    case "anthropic": {
      const system = messages.filter((m) => m.role === "system").map((m) => m.content).join("\n\n")
      return {
        url: `${emulator.anthropicBaseUrl}/v1/messages`,
        init: init(options.noKey === true ? {} : { "x-api-key": "sk-ant-test-123", "anthropic-version": "2023-06-01" }, {
          model: options.model ?? "claude-test",
          max_tokens: options.maxTokens ?? 4096,
          ...(system === "" ? {} : { system }),
          messages: messages.filter((m) => m.role !== "system").map((m) => ({ role: m.role, content: m.content })),
          ...(stream ? { stream: true } : {})
        }, options)
      }
    }
    case "gemini": {
      const system = messages.filter((m) => m.role === "system")
      const model = options.model ?? "gemini-test"
      return {
        url: `${emulator.geminiBaseUrl}/v1beta/models/${model}:${
          stream ? "streamGenerateContent?alt=sse" : "generateContent"
        }`,
        init: init(options.noKey === true ? {} : { "x-goog-api-key": "AIza-test-123" }, {
          contents: messages.filter((m) => m.role !== "system").map((m) => ({
            role: m.role === "assistant" ? "model" : "user",
            parts: [{ text: m.content }]
          })),
          ...(system.length === 0 ? {} : { systemInstruction: { parts: system.map((m) => ({ text: m.content })) } }),
          ...(options.maxTokens === undefined ? {} : { generationConfig: { maxOutputTokens: options.maxTokens } })
        }, options)
      }
    }
  }
}

/** Sends one request; the response as fetch gives it. */
export const send = (format: FormatName, emulator: Emulator.Service, options: Options = {}) =>
  Effect.promise(() => {
    const { init, url } = requestOf(format, emulator, options)
    return fetch(url, init)
  })

/** Sends one request and reads the whole body as text. */
export const sendText = (format: FormatName, emulator: Emulator.Service, options: Options = {}) =>
  Effect.flatMap(send(format, emulator, options), (response) => Effect.promise(() => response.text()))

/** `send` and `sendText` in one format: a streamed request's response, its body, and a non-streamed request's body. */
export const clientFor = (format: FormatName) => ({
  stream: (emulator: Emulator.Service, options: Options = {}) => send(format, emulator, options),
  streamText: (emulator: Emulator.Service, options: Options = {}) => sendText(format, emulator, options),
  plainText: (emulator: Emulator.Service, options: Options = {}) => sendText(format, emulator, { ...options, stream: false })
})

// ---------------------------------------------------------------------------------------------
// reading bodies

/** One Anthropic SSE event: its `event:` name and its parsed data. */
export interface AnthropicEvent {
  readonly event: string
  readonly data: Json.Json | undefined
  readonly raw: string
}

/** The complete events of an Anthropic body, data as JSON (undefined where it does not parse). */
const parseAnthropicEvents = (
  body: string
): Array<{ readonly event: string; readonly data: Json.Json | undefined; readonly raw: string }> =>
  body.split("\n\n").slice(0, -1).filter((block) => block.startsWith("event: ")).map((block) => {
    const match = /^event: ([^\n]*)\ndata: (.*)$/s.exec(block)
    if (match === null) throw new Error(`not an Anthropic event: ${JSON.stringify(block)}`)
    let data: Json.Json | undefined
    try {
      data = Json.parse(match[2])
    } catch {
      data = undefined
    }
    return { event: match[1], data, raw: match[2] }
  })

/** The complete events of an Anthropic body (`event: NAME\ndata: JSON\n\n`); a partial last event is left out. */
export const anthropicEvents = (body: string): Array<AnthropicEvent> => parseAnthropicEvents(body)

/** The data texts of a Gemini body (`data: JSON\r\n\r\n`); a partial last event is left out. */
export const geminiData = (body: string): Array<string> =>
  body.split("\r\n\r\n").slice(0, -1).map((block) => {
    if (!block.startsWith("data: ")) throw new Error(`not a Gemini event: ${JSON.stringify(block)}`)
    return block.slice("data: ".length)
  })

/** The parsed chunks of a Gemini body. */
export const geminiChunks = (body: string): Array<Json.Json> => geminiData(body).map(Json.parse)

/** The data of an OpenAI body's events, `[DONE]` included. */
export const openAiData = (body: string): Array<string> =>
  body.split("\n\n").slice(0, -1).filter((block) => block.startsWith("data: ")).map((block) =>
    block.slice("data: ".length)
  )

/** What a streamed body says, read the way a client would: text, reasoning, tool calls, usage, finish. */
export interface Read {
  readonly text: string
  readonly reasoning: string
  readonly toolCalls: ReadonlyArray<{ readonly name: string; readonly arguments: unknown }>
  /** Sluice's figures: all prompt tokens, all output tokens (reasoning included). */
  readonly usage: { readonly input: number; readonly output: number; readonly cached: number } | undefined
  readonly finish: string | null
  /** Content events, as faults count them. */
  readonly contentEvents: number
}

const argsOf = (text: string): unknown => (text === "" ? {} : JSON.parse(text))

/**
 * A token count the body must carry. NaN when it is missing, not 0: NaN matches no expected figure and
 * stays NaN through sums, so no test passes on a count the body never sent.
 */
const count = (value: unknown): number => Json.number(value) ?? NaN

/** A string from the body; empty when it is missing. */
const textOr = (value: unknown): string => Json.text(value) ?? ""

/** Sluice's usage from an OpenAI `usage` object. */
const openAiUsage = (usage: unknown): NonNullable<Read["usage"]> => ({
  input: count(Json.field(usage, "prompt_tokens")),
  output: count(Json.field(usage, "completion_tokens")),
  cached: count(Json.at(usage, "prompt_tokens_details", "cached_tokens"))
})

/** Sluice's usage from an Anthropic `usage` object: input counts cache reads and writes too. */
const anthropicInput = (usage: unknown): number =>
  count(Json.field(usage, "input_tokens")) + count(Json.field(usage, "cache_read_input_tokens")) +
  count(Json.field(usage, "cache_creation_input_tokens"))

/** Sluice's usage from a Gemini `usageMetadata` object: output counts thoughts; Gemini leaves zero counts out. */
const geminiUsage = (usage: unknown): NonNullable<Read["usage"]> => ({
  input: count(Json.field(usage, "promptTokenCount")),
  output: (Json.number(Json.field(usage, "candidatesTokenCount")) ?? 0) +
    (Json.number(Json.field(usage, "thoughtsTokenCount")) ?? 0),
  cached: Json.number(Json.field(usage, "cachedContentTokenCount")) ?? 0
})

export const readStream = (format: FormatName, body: string): Read => {
  let text = ""
  let reasoning = ""
  let finish: string | null = null
  let usage: Read["usage"]
  let contentEvents = 0
  const calls: Array<{ name: string; args: string }> = []
  switch (format) {
    case "openai": {
      for (const d of openAiData(body)) {
        if (d === "[DONE]") continue
        const chunk = Json.parse(d)
        const delta = Json.at(chunk, "choices", 0, "delta")
        if (delta !== undefined) {
          const content = Json.text(Json.field(delta, "content"))
          if (content !== undefined && content !== "") {
            text += content
            contentEvents++
          }
          const thought = Json.text(Json.field(delta, "reasoning_content"))
          if (thought !== undefined) {
            reasoning += thought
            contentEvents++
          }
          for (const call of Json.items(Json.field(delta, "tool_calls"))) {
            contentEvents++
            const index = Json.number(Json.field(call, "index"))
            if (index === undefined) continue
            const name = Json.text(Json.at(call, "function", "name"))
            if (name !== undefined) calls[index] = { name, args: "" }
            calls[index].args += textOr(Json.at(call, "function", "arguments"))
          }
        }
        const reason = Json.text(Json.at(chunk, "choices", 0, "finish_reason"))
        if (reason !== undefined) finish = reason
        // `usage: null` on the chunks before the last when usage is asked for
        const u = Json.field(chunk, "usage")
        if (u !== undefined && u !== null) usage = openAiUsage(u)
      }
      break
    }
    case "anthropic": {
      let input = 0
      let cached = 0
      let output: number | undefined
      // keyed by the event's `index` as sent, whatever it is
      const blockCall = new Map<unknown, number>()
      for (const { data } of parseAnthropicEvents(body)) {
        const delta = Json.field(data, "delta")
        switch (Json.field(data, "type")) {
          case "message_start": {
            const u = Json.at(data, "message", "usage")
            if (u !== undefined) {
              input = anthropicInput(u)
              cached = count(Json.field(u, "cache_read_input_tokens"))
              output = Json.number(Json.field(u, "output_tokens"))
            }
            break
          }
          case "content_block_start": {
            const block = Json.field(data, "content_block")
            if (Json.field(block, "type") === "tool_use") {
              contentEvents++
              blockCall.set(Json.field(data, "index"), calls.length)
              calls.push({ name: textOr(Json.field(block, "name")), args: "" })
            }
            break
          }
          case "content_block_delta":
            switch (Json.field(delta, "type")) {
              case "text_delta":
                text += textOr(Json.field(delta, "text"))
                contentEvents++
                break
              case "thinking_delta":
                reasoning += textOr(Json.field(delta, "thinking"))
                contentEvents++
                break
              case "input_json_delta": {
                const partial = textOr(Json.field(delta, "partial_json"))
                if (partial !== "") {
                  contentEvents++
                  calls[blockCall.get(Json.field(data, "index")) ?? -1].args += partial
                }
                break
              }
            }
            break
          case "message_delta": {
            const reason = Json.text(Json.field(delta, "stop_reason"))
            if (reason !== undefined) finish = reason
            const u = Json.field(data, "usage")
            if (u !== undefined) output = Json.number(Json.field(u, "output_tokens"))
            break
          }
        }
      }
      if (output !== undefined) usage = { input, output, cached }
      break
    }
    case "gemini": {
      for (const d of geminiData(body)) {
        const chunk = Json.parse(d)
        const candidate = Json.at(chunk, "candidates", 0)
        for (const part of Json.items(Json.at(candidate, "content", "parts"))) {
          const call = Json.field(part, "functionCall")
          const partText = Json.text(Json.field(part, "text"))
          if (call !== undefined) {
            contentEvents++
            calls.push({ name: textOr(Json.field(call, "name")), args: JSON.stringify(Json.field(call, "args")) })
          } else if (Json.field(part, "thought") === true) {
            reasoning += partText ?? ""
            contentEvents++
          } else if (partText !== undefined && partText !== "") {
            text += partText
            contentEvents++
          }
        }
        const reason = Json.text(Json.field(candidate, "finishReason"))
        if (reason !== undefined) finish = reason
        const u = Json.field(chunk, "usageMetadata")
        if (u !== undefined) usage = geminiUsage(u)
      }
      break
    }
  }
  return {
    text,
    reasoning,
    toolCalls: calls.map((c) => ({ name: c.name, arguments: argsOf(c.args) })),
    usage,
    finish,
    contentEvents
  }
}

/** What a non-streamed body says, with the same reading as {@link readStream}. */
export const readJson = (format: FormatName, body: string): Omit<Read, "contentEvents"> => {
  const json = Json.parse(body)
  switch (format) {
    case "openai": {
      const message = Json.at(json, "choices", 0, "message")
      const u = Json.field(json, "usage")
      return {
        text: textOr(Json.field(message, "content")),
        reasoning: textOr(Json.field(message, "reasoning_content")),
        toolCalls: Json.items(Json.field(message, "tool_calls")).map((c) => ({
          name: textOr(Json.at(c, "function", "name")),
          arguments: argsOf(textOr(Json.at(c, "function", "arguments")))
        })),
        usage: u === undefined ? undefined : openAiUsage(u),
        finish: Json.text(Json.at(json, "choices", 0, "finish_reason")) ?? null
      }
    }
    case "anthropic": {
      const blocks = Json.items(Json.field(json, "content"))
      const u = Json.field(json, "usage")
      const ofType = (type: string) => blocks.filter((b) => Json.field(b, "type") === type)
      return {
        text: ofType("text").map((b) => textOr(Json.field(b, "text"))).join(""),
        reasoning: ofType("thinking").map((b) => textOr(Json.field(b, "thinking"))).join(""),
        toolCalls: ofType("tool_use").map((b) => ({ name: textOr(Json.field(b, "name")), arguments: Json.field(b, "input") })),
        usage: u === undefined ? undefined : {
          input: anthropicInput(u),
          output: count(Json.field(u, "output_tokens")),
          cached: count(Json.field(u, "cache_read_input_tokens"))
        },
        finish: Json.text(Json.field(json, "stop_reason")) ?? null
      }
    }
    case "gemini": {
      const candidate = Json.at(json, "candidates", 0)
      const parts = Json.items(Json.at(candidate, "content", "parts"))
      const thought = (p: unknown) => Json.field(p, "thought") === true
      const u = Json.field(json, "usageMetadata")
      return {
        text: parts.filter((p) => !thought(p)).map((p) => textOr(Json.field(p, "text"))).join(""),
        reasoning: parts.filter(thought).map((p) => textOr(Json.field(p, "text"))).join(""),
        toolCalls: parts.flatMap((p) => {
          const call = Json.field(p, "functionCall")
          return call === undefined ? [] : [{ name: textOr(Json.field(call, "name")), arguments: Json.field(call, "args") }]
        }),
        usage: u === undefined ? undefined : geminiUsage(u),
        finish: Json.text(Json.field(candidate, "finishReason")) ?? null
      }
    }
  }
}

/** Reads a streamed body incrementally, with the time each read arrived. */
export const reader = (response: Response) => {
  const body = response.body
  if (body === null) throw new Error("no body")
  const r = body.getReader()
  const decoder = new TextDecoder()
  let text = ""
  const reads: Array<{ readonly at: number; readonly upTo: string }> = []
  const readOnce = Effect.promise(() => r.read()).pipe(
    Effect.map((result) => {
      if (result.done) return false
      text += decoder.decode(result.value, { stream: true })
      reads.push({ at: performance.now(), upTo: text })
      return true
    })
  )
  return {
    get text() {
      return text
    },
    reads,
    readOnce,
    readUntil: (predicate: (text: string) => boolean) =>
      Effect.gen(function*() {
        while (!predicate(text)) {
          if (!(yield* readOnce)) return false
        }
        return true
      }),
    readAll: Effect.gen(function*() {
      while (yield* readOnce) {
        // keep reading
      }
      return text
    })
  }
}

/** The request id a response carries. */
export const requestId = (response: Response): string => response.headers.get("x-request-id") ?? ""
