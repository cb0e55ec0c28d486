/**
 * Raw `fetch` clients for the emulator's three wire formats, for the emulator's own tests: they send
 * a request the way each provider's SDK would and read the body back as text, without Sluice's
 * adapters in between.
 */
import type { Emulator } from "@sluice/emulator"
import { Scenario } from "@sluice/emulator"
import { Effect } from "effect"

/**
 * JSON read loosely: these helpers look at a few fields of bodies whose exact bytes the tests check
 * elsewhere, so a schema per shape would only repeat those checks.
 */
type Loose = any

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

// ---------------------------------------------------------------------------------------------
// reading bodies

/** One Anthropic SSE event: its `event:` name and its parsed data. */
export interface AnthropicEvent {
  readonly event: string
  readonly data: Loose
  readonly raw: string
}

/** The complete events of an Anthropic body (`event: NAME\ndata: JSON\n\n`); a partial last event is left out. */
export const anthropicEvents = (body: string): Array<AnthropicEvent> =>
  body.split("\n\n").slice(0, -1).filter((block) => block.startsWith("event: ")).map((block) => {
    const match = /^event: ([^\n]*)\ndata: (.*)$/s.exec(block)
    if (match === null) throw new Error(`not an Anthropic event: ${JSON.stringify(block)}`)
    let data: unknown
    try {
      data = JSON.parse(match[2])
    } catch {
      data = undefined
    }
    return { event: match[1], data, raw: match[2] }
  })

/** The data texts of a Gemini body (`data: JSON\r\n\r\n`); a partial last event is left out. */
export const geminiData = (body: string): Array<string> =>
  body.split("\r\n\r\n").slice(0, -1).map((block) => {
    if (!block.startsWith("data: ")) throw new Error(`not a Gemini event: ${JSON.stringify(block)}`)
    return block.slice("data: ".length)
  })

/** The parsed chunks of a Gemini body. */
export const geminiChunks = (body: string): Array<Loose> => geminiData(body).map((d) => JSON.parse(d))

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
        const chunk: Loose = JSON.parse(d)
        const delta = chunk.choices?.[0]?.delta
        if (delta !== undefined) {
          if (typeof delta.content === "string" && delta.content !== "") {
            text += delta.content
            contentEvents++
          }
          if (typeof delta.reasoning_content === "string") {
            reasoning += delta.reasoning_content
            contentEvents++
          }
          for (const call of delta.tool_calls ?? []) {
            contentEvents++
            if (call.function.name !== undefined) calls[call.index] = { name: call.function.name, args: "" }
            calls[call.index].args += call.function.arguments
          }
        }
        const reason = chunk.choices?.[0]?.finish_reason
        if (typeof reason === "string") finish = reason
        if (chunk.usage) {
          usage = {
            input: chunk.usage.prompt_tokens,
            output: chunk.usage.completion_tokens,
            cached: chunk.usage.prompt_tokens_details.cached_tokens
          }
        }
      }
      break
    }
    case "anthropic": {
      let input = 0
      let cached = 0
      let output: number | undefined
      const blockCall = new Map<number, number>()
      for (const { data } of anthropicEvents(body)) {
        switch (data.type) {
          case "message_start":
            if (data.message.usage !== undefined) {
              input = data.message.usage.input_tokens + data.message.usage.cache_read_input_tokens +
                data.message.usage.cache_creation_input_tokens
              cached = data.message.usage.cache_read_input_tokens
              output = data.message.usage.output_tokens
            }
            break
          case "content_block_start":
            if (data.content_block.type === "tool_use") {
              contentEvents++
              blockCall.set(data.index, calls.length)
              calls.push({ name: data.content_block.name, args: "" })
            }
            break
          case "content_block_delta":
            switch (data.delta.type) {
              case "text_delta":
                text += data.delta.text
                contentEvents++
                break
              case "thinking_delta":
                reasoning += data.delta.thinking
                contentEvents++
                break
              case "input_json_delta":
                if (data.delta.partial_json !== "") {
                  contentEvents++
                  calls[blockCall.get(data.index) ?? -1].args += data.delta.partial_json
                }
                break
            }
            break
          case "message_delta":
            if (data.delta.stop_reason !== null) finish = data.delta.stop_reason
            if (data.usage !== undefined) output = data.usage.output_tokens
            break
        }
      }
      if (output !== undefined) usage = { input, output, cached }
      break
    }
    case "gemini": {
      for (const chunk of geminiChunks(body)) {
        const candidate = chunk.candidates?.[0]
        for (const part of candidate?.content?.parts ?? []) {
          if (part.functionCall !== undefined) {
            contentEvents++
            calls.push({ name: part.functionCall.name, args: JSON.stringify(part.functionCall.args) })
          } else if (part.thought === true) {
            reasoning += part.text
            contentEvents++
          } else if (typeof part.text === "string" && part.text !== "") {
            text += part.text
            contentEvents++
          }
        }
        if (typeof candidate?.finishReason === "string") finish = candidate.finishReason
        const u = chunk.usageMetadata
        if (u !== undefined) {
          usage = {
            input: u.promptTokenCount,
            output: (u.candidatesTokenCount ?? 0) + (u.thoughtsTokenCount ?? 0),
            cached: u.cachedContentTokenCount ?? 0
          }
        }
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
  const json: Loose = JSON.parse(body)
  switch (format) {
    case "openai": {
      const message = json.choices[0].message
      return {
        text: message.content ?? "",
        reasoning: message.reasoning_content ?? "",
        toolCalls: (message.tool_calls ?? []).map((c: Loose) => ({ name: c.function.name, arguments: argsOf(c.function.arguments) })),
        usage: json.usage === undefined ? undefined : {
          input: json.usage.prompt_tokens,
          output: json.usage.completion_tokens,
          cached: json.usage.prompt_tokens_details.cached_tokens
        },
        finish: json.choices[0].finish_reason
      }
    }
    case "anthropic": {
      const blocks: Array<Loose> = json.content
      return {
        text: blocks.filter((b) => b.type === "text").map((b) => b.text).join(""),
        reasoning: blocks.filter((b) => b.type === "thinking").map((b) => b.thinking).join(""),
        toolCalls: blocks.filter((b) => b.type === "tool_use").map((b) => ({ name: b.name, arguments: b.input })),
        usage: json.usage === undefined ? undefined : {
          input: json.usage.input_tokens + json.usage.cache_read_input_tokens + json.usage.cache_creation_input_tokens,
          output: json.usage.output_tokens,
          cached: json.usage.cache_read_input_tokens
        },
        finish: json.stop_reason
      }
    }
    case "gemini": {
      const candidate = json.candidates?.[0]
      const parts: Array<Loose> = candidate?.content?.parts ?? []
      const u = json.usageMetadata
      return {
        text: parts.filter((p) => p.thought !== true && typeof p.text === "string").map((p) => p.text).join(""),
        reasoning: parts.filter((p) => p.thought === true).map((p) => p.text).join(""),
        toolCalls: parts.filter((p) => p.functionCall !== undefined).map((p) => ({
          name: p.functionCall.name,
          arguments: p.functionCall.args
        })),
        usage: u === undefined ? undefined : {
          input: u.promptTokenCount,
          output: (u.candidatesTokenCount ?? 0) + (u.thoughtsTokenCount ?? 0),
          cached: u.cachedContentTokenCount ?? 0
        },
        finish: candidate?.finishReason ?? null
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
