/**
 * What a renderer produces and what the connection writes: JSON values, wire events, the renderer
 * interface every format implements, and the plan of one response (head, timed writes, and how it ends).
 *
 * @internal
 */
import type * as Either from "effect/Either"
import type * as Scenario from "../Scenario.js"
import type { Answer, Prompt, Usage } from "./answer.js"

/** @internal */
export type Json = null | boolean | number | string | ReadonlyArray<Json> | JsonObject

/** @internal */
export interface JsonObject {
  readonly [key: string]: Json
}

/**
 * @internal The role of an event in a streamed answer: `content` events carry text, reasoning or
 * a tool-call fragment and are the ones faults count; `preamble` events come before the first of
 * them (OpenAI's role chunk, Anthropic's `message_start`); `frame` events are structure between
 * and around them that carries no content (Anthropic's `content_block_start`/`stop` of text and
 * thinking blocks, `ping`, `signature_delta`).
 */
export type EventKind = "preamble" | "frame" | "content" | "finish" | "usage" | "done" | "error"

/** @internal One SSE event before encoding; `payload` is a JSON object, or raw data such as `[DONE]`. */
export interface WireEvent {
  readonly kind: EventKind
  readonly payload: JsonObject | string
}

/**
 * @internal An error as a provider reports it: `type` is OpenAI's `type`, Anthropic's `error.type`
 * or Gemini's `status` (`INVALID_ARGUMENT`); `code` is OpenAI's string code (unused by the others).
 */
export interface ErrorSpec {
  readonly status: number
  readonly message: string
  readonly type: string
  readonly code: string | null
}

/** @internal What the renderer is asked to include. */
export interface RenderOptions {
  /** The usage to report, or none (the `omitUsage` fault). */
  readonly usage: Usage | undefined
  /** Whether to send the finish reason (false with the `dropFinish` fault). */
  readonly finish: boolean
}

/** @internal What the route says about the request besides its body (Gemini puts model and mode in the URL). */
export interface Target {
  readonly model: string | undefined
  readonly stream: boolean | undefined
}

/** @internal The request's headers (lower-case names) and query parameters. */
export interface Incoming {
  readonly headers: Readonly<Record<string, string | undefined>>
  readonly query: URLSearchParams
}

/** @internal One wire format. */
export interface Renderer {
  /** The provider name, for messages. */
  readonly name: string
  /** The response id when the scenario sets none. */
  readonly defaultId: (requestNumber: number) => string
  /** The credential the request carried (for `echoKey`). */
  readonly token: (incoming: Incoming) => string
  /** Checks the headers the provider requires; an error to answer with, or undefined. */
  readonly authenticate: (incoming: Incoming) => ErrorSpec | undefined
  /** Decodes the JSON request body; a `Left` is the message of a 400. */
  readonly decodeRequest: (body: unknown, target: Target) => Either.Either<Prompt, string>
  /** The events of a streamed answer, the format's end marker (if any) included. */
  readonly streamEvents: (answer: Answer, prompt: Prompt, options: RenderOptions) => ReadonlyArray<WireEvent>
  /** The JSON text of an event's data. */
  readonly serialize: (payload: JsonObject) => string
  /** The SSE bytes of an event, with its data replaced by `data` when given. */
  readonly encodeEvent: (event: WireEvent, data?: string) => string
  /** The bytes of a whole JSON body (a non-streamed answer or an HTTP error). */
  readonly encodeBody: (body: JsonObject) => string
  /** An SSE keep-alive written while the server waits (a comment, or Anthropic's `ping`). */
  readonly keepAlive: (comment: string) => string
  /** The same payload made to violate the format's schema. */
  readonly wrongSchema: (payload: JsonObject) => JsonObject
  /** An in-band error event. */
  readonly errorEvent: (error: ErrorSpec) => WireEvent
  /** The in-band error sent when the `errorEvent` fault names none. */
  readonly streamError: (model: string | undefined) => ErrorSpec
  /** The non-streamed answer. */
  readonly completion: (answer: Answer, prompt: Prompt, options: RenderOptions) => JsonObject
  /** The JSON body of an HTTP error. */
  readonly errorBody: (error: ErrorSpec) => JsonObject
  /** The default error for a status (and OpenAI-style code, e.g. `context_length_exceeded`). */
  readonly defaultError: (status: number, model: string | undefined, code?: string | null) => ErrorSpec
  /** A 400 for a request the emulator cannot read. */
  readonly invalidRequest: (message: string) => ErrorSpec
  /** The message of the 400 for a body that is not JSON. */
  readonly invalidJsonMessage: string
  /** The 404 for an unknown route. */
  readonly notFound: (method: string, path: string) => ErrorSpec
  /** The error that echoes the key it received. */
  readonly keyError: (token: string) => ErrorSpec
  /** How the format refuses a blocked prompt with an HTTP error, when it does (else it answers 200). */
  readonly blockedError: ((reason: string) => ErrorSpec) | undefined
  /** Headers of a streamed response. */
  readonly streamHeaders: Readonly<Record<string, string>>
  /** Headers of a JSON response (answer or error). */
  readonly jsonHeaders: Readonly<Record<string, string>>
  /**
   * The provider's own request-id header, sent besides `x-request-id` with the same id (Anthropic's
   * `request-id`, which its SDK reads into `_request_id` and errors' `requestID`), or undefined.
   */
  readonly requestIdHeader: string | undefined
}

/** @internal One step of a response body. */
export type Step =
  | {
    readonly _tag: "Write"
    readonly bytes: Uint8Array
    /** A content event (counted by faults and in the request log's `events`). */
    readonly content: boolean
    /** A complete SSE event (counted in the request log's `sseEvents`). */
    readonly event: boolean
  }
  | { readonly _tag: "Pause"; readonly ms: number }

/**
 * @internal How a response ends: `end` (clean), `reset` (socket destroyed: FIN without the chunked
 * terminator), `rst` (TCP RST), `stall` (silent but open; keep-alives continue),
 * `hang` (silent and open, nothing at all).
 */
export type Ending = "end" | "reset" | "rst" | "stall" | "hang"

/** @internal The whole response. */
export interface Plan {
  /** The status line and headers, or none (nothing is sent before the ending). */
  readonly head: { readonly status: number; readonly headers: Readonly<Record<string, string>> } | undefined
  readonly steps: ReadonlyArray<Step>
  readonly ending: Ending
  readonly write: Scenario.WriteMode
  /**
   * A buffering gateway: the content events sent paced before the hold (0: none), after which the
   * server waits for the sum of the remaining pauses and writes the rest at once; undefined when not buffered.
   */
  readonly buffered: number | undefined
  /** Keep-alive bytes written every `intervalMs` while the server waits. */
  readonly keepAlive: { readonly intervalMs: number; readonly bytes: Uint8Array } | undefined
  /** The fault types that shaped this response, for the request log. */
  readonly faults: ReadonlyArray<string>
}

const encoder = new TextEncoder()

/** @internal UTF-8 bytes of a string. */
export const utf8 = (text: string): Uint8Array => encoder.encode(text)

/**
 * @internal An awkward place to cut bytes in two: right after the first lead byte of a multi-byte
 * UTF-8 character (so the cut falls inside it), else the middle.
 */
export const awkwardCut = (bytes: Uint8Array): number => {
  for (let i = 1; i < bytes.length - 1; i++) {
    if (bytes[i] >= 0xc0) return i + 1
  }
  return Math.max(1, Math.floor(bytes.length / 2))
}

/** @internal JSON text with its last closing brace removed (the `malformedJson` fault). */
export const breakJson = (text: string): string => {
  const at = text.lastIndexOf("}")
  return at === -1 ? text.slice(0, -1) : text.slice(0, at) + text.slice(at + 1)
}

/** @internal A header value by lower-case name (Node joins repeated headers with ", "). */
export const header = (incoming: Incoming, name: string): string | undefined => {
  const value = incoming.headers[name]
  return value === undefined || value === "" ? undefined : value
}

/**
 * @internal The token of an `Authorization: Bearer <token>` header, or undefined (no header, another
 * scheme, or an empty token). Every format takes it: OpenAI only so, Anthropic besides `x-api-key`
 * (the official SDK sends its key so), Gemini besides `x-goog-api-key` and `?key=` (OAuth tokens).
 */
export const bearerToken = (incoming: Incoming): string | undefined => {
  const authorization = header(incoming, "authorization")
  if (authorization === undefined) return undefined
  const match = /^\s*Bearer\s+(\S.*?)\s*$/i.exec(authorization)
  return match === null ? undefined : match[1]
}

/** @internal Parses JSON text, or undefined. */
export const parseJsonObject = (text: string): JsonObject | undefined => {
  try {
    const value: unknown = JSON.parse(text)
    return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as JsonObject) : undefined
  } catch {
    return undefined
  }
}

/**
 * @internal The finish reasons every format maps: the scenario's raw reason, OpenAI's words
 * (`stop`, `length`, `tool_calls`, `content_filter`), translated by `table`; anything else passes through.
 */
export const mapFinishReason = (raw: string, table: Readonly<Record<string, string>>): string =>
  Object.prototype.hasOwnProperty.call(table, raw) ? table[raw] : raw
