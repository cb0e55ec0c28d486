/**
 * What a renderer produces and what the connection writes: JSON values, wire events, and the plan
 * of one response (head, timed writes, and how it ends).
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
 * a tool-call fragment and are the ones faults count.
 */
export type EventKind = "preamble" | "content" | "finish" | "usage" | "done" | "error"

/** @internal One SSE event before encoding; `payload` is a JSON object, or raw data such as `[DONE]`. */
export interface WireEvent {
  readonly kind: EventKind
  readonly payload: JsonObject | string
}

/** @internal An error as a provider reports it. */
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

/** @internal One wire format. */
export interface Renderer {
  /** The provider name, for messages. */
  readonly name: string
  /** Decodes the JSON request body; a `Left` is the message of a 400. */
  readonly decodeRequest: (body: unknown) => Either.Either<Prompt, string>
  /** The events of a streamed answer, `[DONE]` (or the format's end) included. */
  readonly streamEvents: (answer: Answer, prompt: Prompt, options: RenderOptions) => ReadonlyArray<WireEvent>
  /** The SSE bytes of an event, with its data replaced by `data` when given. */
  readonly encodeEvent: (event: WireEvent, data?: string) => string
  /** The same payload made to violate the format's chunk schema. */
  readonly wrongSchema: (payload: JsonObject) => JsonObject
  /** An in-band error event. */
  readonly errorEvent: (error: ErrorSpec) => WireEvent
  /** The non-streamed answer. */
  readonly completion: (answer: Answer, prompt: Prompt, options: RenderOptions) => JsonObject
  /** The JSON body of an HTTP error. */
  readonly errorBody: (error: ErrorSpec) => JsonObject
  /** The default error for a status. */
  readonly defaultError: (status: number, model: string | undefined) => ErrorSpec
  /** The 401 that echoes the key it received. */
  readonly keyError: (token: string) => ErrorSpec
  /** Headers of a streamed response. */
  readonly streamHeaders: Readonly<Record<string, string>>
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
 * terminator), `rst` (TCP RST), `stall` (silent but open; keep-alive comments continue),
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
  /** Wait for the sum of the pauses, then write everything at once (a buffering gateway). */
  readonly buffered: boolean
  readonly keepAlive: { readonly intervalMs: number; readonly comment: string } | undefined
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
