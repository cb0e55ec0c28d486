/**
 * Mapping HTTP failures (status, headers, error body) to Sluice's typed errors.
 * @internal
 */
import type * as Headers from "@effect/platform/Headers"
import type * as HttpClientError from "@effect/platform/HttpClientError"
import * as Duration from "effect/Duration"
import * as Option from "effect/Option"
import * as Predicate from "effect/Predicate"
import { LlmError } from "@sluice/core"

/** Where an error happened: the provider and model it names, and the secrets every failure is scrubbed of (`secrets.ts`). */
export interface Site {
  readonly provider: string
  readonly model: string
  readonly secrets: ReadonlyArray<string>
}

/** The wait a 429 or 503 asks for: `retry-after-ms`, then `Retry-After` as seconds or an HTTP date. */
export const retryAfter = (headers: Headers.Headers, now: number): Duration.Duration | undefined => {
  const ms = headers["retry-after-ms"]
  if (ms !== undefined && /^\s*\d+(\.\d+)?\s*$/.test(ms)) return Duration.millis(Number(ms))
  const value = headers["retry-after"]
  if (value === undefined) return undefined
  if (/^\s*\d+(\.\d+)?\s*$/.test(value)) return Duration.seconds(Number(value))
  const date = Date.parse(value)
  if (Number.isNaN(date)) return undefined
  return Duration.millis(Math.max(0, date - now))
}

/** What a provider's error body says, in the shapes the providers use. */
export interface ErrorBody {
  readonly message: string | undefined
  readonly type: string | undefined
  readonly code: string | undefined
}

const str = (u: unknown): string | undefined =>
  typeof u === "string" ? u : typeof u === "number" ? String(u) : undefined

/** Reads `{error:{message,type,code}}` (OpenAI, Gemini), `{type:"error",error:{type,message}}` (Anthropic), `{error:"…"}` (Ollama), `{message}`. */
export const readErrorObject = (u: unknown): ErrorBody | undefined => {
  if (!Predicate.isRecord(u)) return undefined
  const error = u.error
  if (typeof error === "string") return { message: error, type: undefined, code: undefined }
  if (Predicate.isRecord(error)) {
    return {
      message: str(error.message),
      type: str(error.type) ?? str(error.status),
      code: str(error.code)
    }
  }
  if (typeof u.message === "string") return { message: u.message, type: str(u.type), code: str(u.code) }
  return undefined
}

/** Parses an error body's text; falls back to the raw text (trimmed, bounded). */
export const readErrorBody = (text: string): ErrorBody => {
  try {
    const parsed: unknown = JSON.parse(text)
    const body = readErrorObject(Array.isArray(parsed) ? parsed[0] : parsed)
    if (body !== undefined) return body
  } catch {
    // Not JSON: keep the text itself.
  }
  const trimmed = text.trim()
  return { message: trimmed === "" ? undefined : trimmed.slice(0, 500), type: undefined, code: undefined }
}

const contextLengthPattern =
  /context[_ ]length|context window|context limit|maximum context|prompt is too long|input is too long|too many (input )?tokens|exceeds? the (maximum|max) (number of )?tokens|token limit|input token count/i

/** True when a 400/413 says the prompt does not fit the model. */
export const isContextLength = (body: ErrorBody): boolean =>
  body.code === "context_length_exceeded" ||
  body.code === "string_above_max_length" ||
  (body.message !== undefined && contextLengthPattern.test(body.message))

/** The typed error for a non-2xx response. */
export const fromStatus = (site: Site, status: number, headers: Headers.Headers, bodyText: string, now: number): LlmError.LlmError => {
  const body = readErrorBody(bodyText)
  const providerMessage = body.message
  const base = { provider: site.provider, model: site.model }
  const withMessage = providerMessage === undefined ? base : { ...base, providerMessage }
  if (status === 429) {
    const after = retryAfter(headers, now)
    return new LlmError.RateLimited(after === undefined ? withMessage : { ...withMessage, retryAfter: after })
  }
  if (status === 401 || status === 403) return new LlmError.AuthenticationFailed({ ...withMessage, status })
  if ((status === 400 || status === 413) && isContextLength(body)) return new LlmError.ContextLengthExceeded(withMessage)
  if (status >= 500 || status === 408) return new LlmError.ServerError({ ...withMessage, status })
  // A numeric code (Gemini's `code: 400`) only repeats the status: prefer the named type (`INVALID_ARGUMENT`).
  const code = body.code !== undefined && !/^\d+$/.test(body.code) ? body.code : body.type ?? body.code
  return new LlmError.InvalidRequest(code === undefined ? { ...withMessage, status } : { ...withMessage, status, code })
}

const describe = (cause: unknown): string => {
  if (cause instanceof Error) {
    const inner = Predicate.hasProperty(cause, "cause") ? cause.cause : undefined
    const code = Predicate.hasProperty(inner, "code") && typeof inner.code === "string" ? ` (${inner.code})` : ""
    const innerMessage = inner instanceof Error && inner.message !== cause.message ? `: ${inner.message}` : ""
    return `${cause.message}${innerMessage}${code}`
  }
  return String(cause)
}

/** A failure to send the request or to read the response. */
export const fromClientError = (site: Site, error: HttpClientError.HttpClientError): LlmError.LlmError => {
  const what = error._tag === "RequestError" ? "the request could not be sent" : "the response could not be read"
  const cause = Option.getOrUndefined(Option.fromNullable(error.cause))
  const detail = cause === undefined ? error.reason : describe(cause)
  return new LlmError.TransportError({
    provider: site.provider,
    model: site.model,
    reason: `${what}: ${detail}`
  })
}

/** A failure of the response body while streaming: the body was cut off. */
export const fromBodyError = (site: Site, error: HttpClientError.ResponseError): LlmError.LlmError => {
  const cause = Option.getOrUndefined(Option.fromNullable(error.cause))
  return new LlmError.TransportError({
    provider: site.provider,
    model: site.model,
    reason: `the response body was cut off: ${cause === undefined ? error.reason : describe(cause)}`
  })
}

/**
 * A provider's error object (an `error` event in a stream, or a whole answer that is one) as a
 * `ProviderStreamError`; `fallback` is its message when it has none.
 */
export const providerError = (
  site: Site,
  body: ErrorBody | undefined,
  fallback: string,
  retryable: boolean,
  errorType: string | undefined
): LlmError.LlmError =>
  new LlmError.ProviderStreamError({
    provider: site.provider,
    model: site.model,
    providerMessage: body?.message ?? fallback,
    retryable,
    ...(errorType === undefined ? {} : { errorType })
  })

/** Whether a provider's in-stream error type or code suggests a transient failure. */
export const isTransient = (type: string | undefined, code: string | undefined): boolean => {
  const numeric = code === undefined ? NaN : Number(code)
  if (!Number.isNaN(numeric)) return numeric === 429 || numeric === 408 || numeric >= 500
  const words = `${type ?? ""} ${code ?? ""}`.toLowerCase()
  if (/invalid|auth|permission|not_found|content|policy|safety|context_length/.test(words)) return false
  // Mid-stream errors are overwhelmingly transient (overload, timeouts, upstream resets).
  return true
}
