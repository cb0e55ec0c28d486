/**
 * A provider that echoes the key it received in every field it can: a `node:http` server on 127.0.0.1
 * answering each wire format (OpenAI-compatible, Anthropic, Gemini), streamed and not, with HTTP error
 * bodies, in-stream errors, malformed and off-schema chunks and response headers that all carry the key.
 * The emulator's faults put a test's text in a few fields only; this server puts it everywhere.
 *
 * The case is the first path segment, so that a base URL selects it for the library and the CLI alike:
 * `${url}/${case}/v1` (OpenAI's convention) or `${url}/${case}` (Anthropic's and Gemini's).
 */
import { Effect, type Scope } from "effect"
import * as Http from "node:http"
import { serve } from "./loopback.js"

export type Format = "openai" | "anthropic" | "gemini"

/** What the server answers. */
interface Reply {
  readonly status: number
  readonly headers?: Readonly<Record<string, string>>
  readonly body: string
}

/** A case: the reply to a request in `format`, streamed or not, that carried `key`. */
type Case = (format: Format, streamed: boolean, key: string) => Reply

const json = (status: number, body: unknown, headers: Readonly<Record<string, string>> = {}): Reply => ({
  status,
  headers: { "content-type": "application/json", ...headers },
  body: typeof body === "string" ? body : JSON.stringify(body)
})

const eventStream = (body: string, headers: Readonly<Record<string, string>> = {}): Reply => ({
  status: 200,
  headers: { "content-type": "text/event-stream", ...headers },
  body
})

/** SSE events: `[event, data]` pairs for Anthropic, bare data for the others. */
const sse = (events: ReadonlyArray<string | readonly [string, string]>): string =>
  events.map((e) => (typeof e === "string" ? `data: ${e}\n\n` : `event: ${e[0]}\ndata: ${e[1]}\n\n`)).join("")

/** The events before the failure: one text delta, so the failure carries a partial. */
const preface = (format: Format): Array<string | readonly [string, string]> => {
  switch (format) {
    case "openai":
      return [JSON.stringify({ id: "c1", object: "chat.completion.chunk", created: 1, model: "m", choices: [{ index: 0, delta: { role: "assistant", content: "Hel" }, finish_reason: null }] })]
    case "anthropic":
      return [
        ["message_start", JSON.stringify({ type: "message_start", message: { id: "msg_1", type: "message", role: "assistant", model: "m", content: [], stop_reason: null, usage: { input_tokens: 1, output_tokens: 0 } } })],
        ["content_block_start", JSON.stringify({ type: "content_block_start", index: 0, content_block: { type: "text", text: "" } })],
        ["content_block_delta", JSON.stringify({ type: "content_block_delta", index: 0, delta: { type: "text_delta", text: "Hel" } })]
      ]
    case "gemini":
      return [JSON.stringify({ candidates: [{ content: { role: "model", parts: [{ text: "Hel" }] }, index: 0 }] })]
  }
}

/** A stream that sends the preface, then `data` as its next event (Anthropic: under `event`). */
const streamThen = (format: Format, data: string, event = "content_block_delta", headers: Readonly<Record<string, string>> = {}): Reply =>
  eventStream(sse([...preface(format), format === "anthropic" ? [event, data] : data]), headers)

/** An error object with the key in every field the format has, and in nested ones it does not read. */
const errorObject = (format: Format, key: string, status: number): unknown => {
  switch (format) {
    case "openai":
      return { error: { message: `bad request for ${key}`, type: key, param: key, code: key, details: { key, list: [key, { deeper: key }] } } }
    case "anthropic":
      return { type: "error", error: { type: key, message: `bad request for ${key}`, details: { key } }, request_id: key }
    case "gemini":
      return {
        error: {
          code: status,
          message: `bad request for ${key}`,
          status: key,
          details: [{ "@type": "type.googleapis.com/google.rpc.ErrorInfo", reason: key, domain: key, metadata: { key } }]
        }
      }
  }
}

/** An in-stream error (and a non-streamed error answered with status 200) with the key in every field. */
const streamErrorObject = (format: Format, key: string): unknown => {
  switch (format) {
    case "openai":
      return { error: { message: `overloaded for ${key}`, type: key, code: key, param: key, details: { key } } }
    case "anthropic":
      return { type: "error", error: { type: key, message: `Overloaded for ${key}`, details: { key } } }
    case "gemini":
      return { error: { code: key, message: `overloaded for ${key}`, status: key, details: [{ reason: key }] } }
  }
}

/** The same without a message: the type and code (and the raw event) are all the error has. */
const bareStreamErrorObject = (format: Format, key: string): unknown =>
  format === "anthropic" ? { type: "error", error: { type: key } } : format === "gemini" ? { error: { status: key, code: key } } : { error: { type: key, code: key } }

/** Valid JSON of the wrong shape, the key where the format expects an array or an object. */
const wrongShape = (format: Format, streamed: boolean, key: string): string => {
  switch (format) {
    case "openai":
      return JSON.stringify({ id: "c1", object: streamed ? "chat.completion.chunk" : "chat.completion", choices: key })
    case "anthropic":
      return JSON.stringify(streamed ? { type: "content_block_delta", index: 0, delta: key } : { type: "message", id: "msg_1", role: "assistant", model: "m", content: key })
    case "gemini":
      return JSON.stringify({ candidates: key })
  }
}

/** A chunk whose JSON breaks off: the key in the text the error shows. */
const brokenChunk = (format: Format, key: string): string => {
  switch (format) {
    case "openai":
      return `{"choices":[{"index":0,"delta":{"content":"${key}"}}]`
    case "anthropic":
      return `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"${key}"}`
    case "gemini":
      return `{"candidates":[{"content":{"parts":[{"text":"${key}"}]}}]`
  }
}

/** The answer to a streamed request is `streamed`; to a non-streamed one, the same JSON as the whole body. */
const chunkOrBody = (format: Format, streamed: boolean, data: string, event?: string): Reply =>
  streamed ? streamThen(format, data, event) : json(200, data)

const statuses = [400, 401, 403, 404, 413, 422, 429, 500, 503, 529] as const

const statusCases = Object.fromEntries(
  statuses.map((status): [string, Case] => [
    `status-${status}`,
    (format, _streamed, key) =>
      json(status, errorObject(format, key, status), {
        ...(status === 429 ? { "retry-after": key } : {}),
        ...(status === 401 ? { "www-authenticate": `Bearer error="invalid_token", error_description="${key}"` } : {})
      })
  ])
)

/** Every case, by name. */
export const cases: Readonly<Record<string, Case>> = {
  ...statusCases,
  // The report that opened issue 11: the key in the code only (OpenAI), the type (Anthropic), the status (Gemini).
  "code-only": (format, _streamed, key) =>
    json(
      400,
      format === "openai"
        ? { error: { message: "bad request", code: key } }
        : format === "anthropic"
        ? { type: "error", error: { type: key, message: "bad request" } }
        : { error: { code: 400, message: "bad request", status: key } }
    ),
  "no-message": (format, _streamed, key) =>
    json(400, format === "anthropic" ? { type: "error", error: { type: key } } : { error: { type: key, code: key, status: key } }),
  "context-length": (format, _streamed, key) =>
    json(
      400,
      format === "openai"
        ? { error: { message: `maximum context length exceeded for ${key}`, type: "invalid_request_error", param: key, code: "context_length_exceeded" } }
        : format === "anthropic"
        ? { type: "error", error: { type: "invalid_request_error", message: `prompt is too long: ${key}` } }
        : { error: { code: 400, message: `The input token count exceeds the maximum number of tokens allowed for ${key}`, status: "INVALID_ARGUMENT" } }
    ),
  "content-filter": (format, streamed, key) =>
    format === "gemini"
      ? chunkOrBody(format, streamed, JSON.stringify({ promptFeedback: { blockReason: key, blockReasonMessage: `blocked for ${key}` } }))
      : json(400, {
        error: {
          message: `filtered for ${key}`,
          type: format === "anthropic" ? "invalid_request_error" : null,
          param: "prompt",
          code: "content_filter",
          innererror: { code: "ResponsibleAIPolicyViolation", content_filter_result: { jailbreak: { filtered: true, detected: key } } }
        }
      }),
  "array-body": (format, _streamed, key) => json(400, [errorObject(format, key, 400)]),
  "text-body": (_format, _streamed, key) => ({
    status: 502,
    headers: { "content-type": "text/html" },
    body: `<html><head><title>${key}</title></head><body>Bad gateway for ${key}</body></html>`
  }),
  // The key straddles the 500 characters an error keeps of a body that is not JSON.
  "text-body-cut": (_format, _streamed, key) => ({ status: 400, headers: { "content-type": "text/plain" }, body: `${"x".repeat(490)}${key} and more` }),
  "stream-error": (format, streamed, key) =>
    streamed
      ? streamThen(format, JSON.stringify(streamErrorObject(format, key)), "error")
      : json(200, streamErrorObject(format, key)),
  "stream-error-no-message": (format, streamed, key) =>
    streamed
      ? streamThen(format, JSON.stringify(bareStreamErrorObject(format, key)), "error")
      : json(200, bareStreamErrorObject(format, key)),
  malformed: (format, streamed, key) => chunkOrBody(format, streamed, brokenChunk(format, key)),
  // JSON.parse quotes the text around the fault in its message: a fragment of the key.
  "malformed-quoted": (format, streamed, key) => chunkOrBody(format, streamed, `{"x": x${key}}`),
  // The key straddles the 200 characters a DecodeError keeps of the offending data.
  "malformed-cut": (format, streamed, key) => chunkOrBody(format, streamed, `{"p":"${"x".repeat(184)}${key}"`),
  "wrong-schema": (format, streamed, key) => chunkOrBody(format, streamed, wrongShape(format, streamed, key)),
  // A header value in an error: the content encoding Sluice cannot decode (a non-streamed body is read as is).
  "content-encoding": (format, _streamed, key) => eventStream(sse([brokenChunk(format, key)]), { "content-encoding": key }),
  "content-type": (format, _streamed, key) => eventStream(sse([brokenChunk(format, key)]), { "content-type": `application/x-${key}` })
}

/** Every case name. */
export const caseNames: ReadonlyArray<string> = Object.keys(cases)

/** The credential a request carried, in whichever header its format uses. */
const credential = (req: Http.IncomingMessage): string => {
  const bearer = req.headers.authorization
  if (typeof bearer === "string" && bearer.startsWith("Bearer ")) return bearer.slice(7)
  const header = req.headers["x-api-key"] ?? req.headers["x-goog-api-key"]
  return typeof header === "string" ? header : ""
}

const formatOf = (path: string): Format =>
  path.includes("/chat/completions") ? "openai" : path.includes("/v1/messages") ? "anthropic" : "gemini"

const isStreamed = (format: Format, path: string, body: string): boolean => {
  if (format === "gemini") return path.includes(":streamGenerateContent")
  try {
    const parsed: unknown = JSON.parse(body)
    return typeof parsed === "object" && parsed !== null && "stream" in parsed && parsed.stream === true
  } catch {
    return false
  }
}

/** The base URL of `format` for `name`, as the adapter (and the CLI's `--base-url`) takes it. */
export const baseUrl = (url: string, format: Format, name: string): string => format === "openai" ? `${url}/${name}/v1` : `${url}/${name}`

/** The server, for the life of the scope; every reply also carries the key in two headers of its own. */
export const keyEchoServer: Effect.Effect<{ readonly url: string }, never, Scope.Scope> = Effect.gen(function*() {
  const server = Http.createServer((req, res) => {
    let body = ""
    req.setEncoding("utf8")
    req.on("data", (text: string) => (body += text))
    req.on("end", () => {
      const path = req.url ?? "/"
      const name = path.split("/")[1] ?? ""
      const make = cases[name]
      const key = credential(req)
      if (make === undefined) {
        res.writeHead(404, { "content-type": "text/plain" }).end(`no case ${name}`)
        return
      }
      const format = formatOf(path)
      const reply = make(format, isStreamed(format, path, body), key)
      res.writeHead(reply.status, { ...reply.headers, "x-echo-key": key, "x-request-id": `req_${key}` }).end(reply.body)
    })
  })
  return { url: yield* serve(server) }
})
