/**
 * Sending a provider request and turning the response into events or a typed failure.
 * @internal
 */
import * as Headers from "@effect/platform/Headers"
import type * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import type * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as NodeStream from "node:stream"
import * as Zlib from "node:zlib"
import { ChatRequest, type Completion, type LlmError, LlmError as Errors, Policy, type StreamEvent, WireDecoder } from "@sluice/core"
import { fromBodyError, fromClientError, fromStatus, scrub, type Site } from "./httpFailure.js"

/** Decoding options shared by the adapters. */
export interface StreamOptions {
  readonly guard: boolean
  readonly maxEventSize: number | undefined
  /** Request headers to redact in traces besides @effect/platform's defaults (e.g. `x-goog-api-key`). */
  readonly redactHeaders?: ReadonlyArray<string> | undefined
}

const isOk = (status: number): boolean => status >= 200 && status < 300

/** Sends the request with `redactHeaders` added to the header names @effect/platform redacts in spans. */
const send = (
  client: HttpClient.HttpClient,
  request: HttpClientRequest.HttpClientRequest,
  redactHeaders: ReadonlyArray<string> | undefined
) =>
  redactHeaders === undefined || redactHeaders.length === 0
    ? client.execute(request)
    : Effect.locallyWith(client.execute(request), Headers.currentRedactedNames, (names) => [...names, ...redactHeaders])

/** Executes the request; a non-2xx status becomes its typed error (the body read for the provider's message). */
export const execute = (
  client: HttpClient.HttpClient,
  site: Site,
  request: HttpClientRequest.HttpClientRequest,
  redactHeaders?: ReadonlyArray<string>
): Effect.Effect<HttpClientResponse.HttpClientResponse, LlmError.LlmError> =>
  Effect.flatMap(Effect.serviceOption(Policy.ConnectTimeout), (connect) => {
    // A compressing gateway buffers to compress: ask for the bytes as they are.
    const plain = request.headers["accept-encoding"] === undefined
      ? HttpClientRequest.setHeader(request, "accept-encoding", "identity")
      : request
    const headers = send(client, plain, redactHeaders).pipe(Effect.mapError((error) => fromClientError(site, error)))
    const bounded = Option.isNone(connect) ? headers : Effect.timeoutFail(headers, {
      duration: connect.value.after,
      onTimeout: () => new Errors.Timeout({ provider: site.provider, model: site.model, phase: "connect", after: connect.value.after })
    })
    return Effect.flatMap(bounded, (response) =>
      isOk(response.status)
        ? Effect.succeed(response)
        : Effect.flatMap(
          Effect.orElseSucceed(response.text, () => ""),
          (text) => Effect.flatMap(Clock.currentTimeMillis, (now) => Effect.fail(fromStatus(site, response.status, response.headers, text, now)))
        ))
  })

/** The zlib decompressor for a `content-encoding` a server sent despite `identity`. */
const decompressor = (encoding: string): Zlib.Gunzip | Zlib.Inflate | Zlib.BrotliDecompress | undefined => {
  switch (encoding) {
    case "gzip":
    case "x-gzip":
      return Zlib.createGunzip()
    case "deflate":
      return Zlib.createInflate()
    case "br":
      return Zlib.createBrotliDecompress()
    default:
      return undefined
  }
}

/** The response body, decompressed when the server compressed it anyway; its failures as `LlmError`s. */
const body = (site: Site, response: HttpClientResponse.HttpClientResponse): Stream.Stream<Uint8Array, LlmError.LlmError> => {
  const raw = Stream.mapError(response.stream, (error) => fromBodyError(site, error))
  const encoding = (response.headers["content-encoding"] ?? "identity").trim().toLowerCase()
  if (encoding === "identity" || encoding === "") return raw
  return Stream.suspend(() => {
    const unzip = decompressor(encoding)
    if (unzip === undefined) {
      return Stream.fail(
        new Errors.DecodeError({ provider: site.provider, model: site.model, reason: `the response uses content-encoding ${encoding}, which Sluice cannot decode` })
      )
    }
    // Closing the decompressor (the consumer went away) closes the source, which aborts the request.
    NodeStream.pipeline(NodeStream.Readable.from(Stream.toAsyncIterable(raw)), unzip, () => {})
    return Stream.fromAsyncIterable<unknown, LlmError.LlmError>(unzip, (cause) =>
      Errors.isLlmError(cause)
        ? cause
        : new Errors.DecodeError({
          provider: site.provider,
          model: site.model,
          reason: `the ${encoding} body could not be decompressed: ${cause instanceof Error ? cause.message : String(cause)}`
        })).pipe(Stream.filter((chunk): chunk is Uint8Array => chunk instanceof Uint8Array))
  })
}

/** Streams a response body through a provider's wire decoder. */
export const stream = (
  client: HttpClient.HttpClient,
  site: Site,
  request: HttpClientRequest.HttpClientRequest,
  decoder: WireDecoder.WireDecoder,
  options: StreamOptions
): Stream.Stream<StreamEvent.StreamEvent, LlmError.LlmError> =>
  // Every request is an attempt that request-level policies can count and cost.
  Policy.recordAttempt(Stream.unwrap(
    Effect.map(execute(client, site, request, options.redactHeaders), (response) =>
      WireDecoder.decodeBody(body(site, response), {
        provider: site.provider,
        model: site.model,
        decoder,
        mapBodyError: (error) => error,
        guard: options.guard,
        ...(options.maxEventSize === undefined ? {} : { maxEventSize: options.maxEventSize })
      }))
  ), site)

/** Executes a non-streaming request and parses its JSON body. */
export const json = (
  client: HttpClient.HttpClient,
  site: Site,
  request: HttpClientRequest.HttpClientRequest,
  redactHeaders?: ReadonlyArray<string>
): Effect.Effect<unknown, LlmError.LlmError> =>
  Effect.flatMap(execute(client, site, request, redactHeaders), (response) =>
    Effect.flatMap(
      Effect.mapError(response.text, (error) => fromBodyError(site, error)),
      (text) =>
        Effect.try({
          try: (): unknown => JSON.parse(text),
          catch: (e) =>
            new Errors.DecodeError({
              provider: site.provider,
              model: site.model,
              reason: `malformed JSON response (${e instanceof Error ? e.message : String(e)})`,
              data: scrub(text.slice(0, 200), site.secrets)
            })
        })
    ))

/** Makes a non-streaming call and decodes its JSON into a completion, recorded as an attempt. */
export const completion = (
  client: HttpClient.HttpClient,
  site: Site,
  request: HttpClientRequest.HttpClientRequest,
  decode: (json: unknown) => Effect.Effect<Completion.Completion, LlmError.LlmError>,
  redactHeaders?: ReadonlyArray<string>
): Effect.Effect<Completion.Completion, LlmError.LlmError> =>
  Policy.recordCall(Effect.flatMap(json(client, site, request, redactHeaders), decode), site)

/** A request Sluice refuses to send (empty conversation, non-finite temperature, …), as `InvalidRequest`; undefined when it is fine. */
export const invalid = (site: Site, request: ChatRequest.ChatRequest): LlmError.LlmError | undefined => {
  const problem = ChatRequest.problem(request)
  return problem === undefined
    ? undefined
    : new Errors.InvalidRequest({ provider: site.provider, model: site.model, code: "invalid-request", providerMessage: problem })
}

/** The finish-reason guard for a non-streamed answer: one without a finish reason is `IncompleteStream`. */
export const guarded = (site: Site, completion: Completion.Completion, guard: boolean): Effect.Effect<Completion.Completion, LlmError.LlmError> =>
  guard && completion.finishReason === null
    ? Effect.fail(new Errors.IncompleteStream({ provider: site.provider, model: site.model, ending: "eof", partial: completion }))
    : Effect.succeed(completion)
