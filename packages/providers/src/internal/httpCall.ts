/**
 * Sending a provider request and turning the response into events or a typed failure.
 * @internal
 */
import * as Headers from "@effect/platform/Headers"
import * as HttpClient from "@effect/platform/HttpClient"
import type * as HttpClientError from "@effect/platform/HttpClientError"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import type * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as Clock from "effect/Clock"
import type * as Duration from "effect/Duration"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as Tracer from "effect/Tracer"
import { Adapter, Completion, LanguageModel, type LlmError, LlmError as Errors, type StreamEvent, WireDecoder } from "@sluice/core"
import { decompress } from "./decompress.js"
import { fromBodyError, fromClientError, fromStatus, type Site } from "./httpFailure.js"
import { scrubError, withScrubbedSpans } from "./secrets.js"

/** Decoding options shared by the adapters. */
export interface StreamOptions {
  readonly guard: boolean
  readonly maxEventSize: number | undefined
  /** Request headers to redact in traces besides @effect/platform's defaults (e.g. `x-goog-api-key`). */
  readonly redactHeaders?: ReadonlyArray<string> | undefined
  /**
   * The adapter's non-streamed mapping: the events a whole JSON answer stands for, in a stream's order. A
   * server that answers the streaming request with one (a gateway ignoring `stream: true`) is read with it.
   */
  readonly answer: (json: unknown) => Either.Either<ReadonlyArray<StreamEvent.StreamEvent>, LlmError.LlmError>
}

const isOk = (status: number): boolean => status >= 200 && status < 300

/**
 * Sends the request with `redactHeaders` added to the header names @effect/platform redacts in spans,
 * and the span's values scrubbed of the secrets (it records every response header a provider sent).
 */
const send = <R>(
  client: HttpClient.HttpClient.With<HttpClientError.HttpClientError, R>,
  request: HttpClientRequest.HttpClientRequest,
  redactHeaders: ReadonlyArray<string> | undefined,
  secrets: ReadonlyArray<string>
) =>
  withScrubbedSpans(
    redactHeaders === undefined || redactHeaders.length === 0
      ? client.execute(request)
      : Effect.locallyWith(client.execute(request), Headers.currentRedactedNames, (names) => [...names, ...redactHeaders]),
    secrets
  )

/** Every failure of an attempt, scrubbed of the secrets before it is recorded or handed on: the one place provider text is cleaned. */
const scrubbed = <A>(site: Site, attempt: Stream.Stream<A, LlmError.LlmError>): Stream.Stream<A, LlmError.LlmError> =>
  Stream.mapError(attempt, (error) => scrubError(error, site.secrets))

/** Executes the request; a non-2xx status becomes its typed error (the body read for the provider's message). */
export const execute = <R>(
  client: HttpClient.HttpClient.With<HttpClientError.HttpClientError, R>,
  site: Site,
  request: HttpClientRequest.HttpClientRequest,
  redactHeaders: ReadonlyArray<string> | undefined,
  connect: Duration.Duration | undefined
): Effect.Effect<HttpClientResponse.HttpClientResponse, LlmError.LlmError, R> => {
  // A compressing gateway buffers to compress: ask for the bytes as they are.
  const plain = request.headers["accept-encoding"] === undefined
    ? HttpClientRequest.setHeader(request, "accept-encoding", "identity")
    : request
  const headers = send(client, plain, redactHeaders, site.secrets).pipe(Effect.mapError((error) => fromClientError(site, error)))
  const bounded = connect === undefined ? headers : Effect.timeoutFail(headers, {
    duration: connect,
    onTimeout: () => new Errors.Timeout({ provider: site.provider, model: site.model, phase: "connect", after: connect })
  })
  return Effect.flatMap(bounded, (response) =>
    isOk(response.status)
      ? Effect.succeed(response)
      : Effect.flatMap(
        Effect.orElseSucceed(response.text, () => ""),
        (text) => Effect.flatMap(Clock.currentTimeMillis, (now) => Effect.fail(fromStatus(site, response.status, response.headers, text, now)))
      ))
}

/** The response body, decompressed when the server compressed it anyway; its failures as `LlmError`s. */
const body = (site: Site, response: HttpClientResponse.HttpClientResponse): Stream.Stream<Uint8Array, LlmError.LlmError> => {
  const raw = Stream.mapError(response.stream, (error) => fromBodyError(site, error))
  const encoding = (response.headers["content-encoding"] ?? "identity").trim().toLowerCase()
  if (encoding === "identity" || encoding === "") return raw
  return decompress(
    raw,
    encoding,
    (cause) =>
      Errors.isLlmError(cause)
        ? cause
        : new Errors.DecodeError({
          provider: site.provider,
          model: site.model,
          reason: `the ${encoding} body could not be decompressed: ${cause instanceof Error ? cause.message : String(cause)}`
        }),
    () =>
      new Errors.DecodeError({ provider: site.provider, model: site.model, reason: `the response uses content-encoding ${encoding}, which Sluice cannot decode` })
  )
}

/** The body as text (decoded as UTF-8 across reads); `onRead` is called with each read. */
const readText = (
  site: Site,
  response: HttpClientResponse.HttpClientResponse,
  onRead?: ((bytes: number) => void) | undefined
): Effect.Effect<string, LlmError.LlmError> =>
  Effect.suspend(() => {
    const decoder = new TextDecoder()
    const pieces: Array<string> = []
    return Stream.runForEachChunk(body(site, response), (chunk) =>
      Effect.sync(() => {
        for (const bytes of chunk) {
          if (onRead !== undefined) onRead(bytes.length)
          pieces.push(decoder.decode(bytes, { stream: true }))
        }
      })).pipe(Effect.map(() => {
        pieces.push(decoder.decode())
        return pieces.join("")
      }))
  })

/** The first characters of the body (for an error's `data`), or "" when it cannot be read; stops reading there. */
const readStart = (site: Site, response: HttpClientResponse.HttpClientResponse, chars: number): Effect.Effect<string> =>
  Effect.suspend(() => {
    const decoder = new TextDecoder()
    return Stream.runFoldWhile(body(site, response), "", (text) => text.length < chars, (text, bytes) => text + decoder.decode(bytes, { stream: true }))
  }).pipe(Effect.map((text) => text.slice(0, chars)), Effect.orElseSucceed(() => ""))

/** Parses a JSON body; a body that is not JSON is a `DecodeError` with its start. */
const parseJson = (site: Site, text: string): Either.Either<unknown, LlmError.LlmError> =>
  Either.try({
    try: (): unknown => JSON.parse(text),
    catch: (e) =>
      new Errors.DecodeError({
        provider: site.provider,
        model: site.model,
        reason: `malformed JSON response (${e instanceof Error ? e.message : String(e)})`,
        data: text.slice(0, 200)
      })
  })

/** The media type of a `content-type` header, lower-case, without parameters ("" when there is none). */
const mediaType = (contentType: string | undefined): string => {
  if (contentType === undefined) return ""
  const semicolon = contentType.indexOf(";")
  return (semicolon === -1 ? contentType : contentType.slice(0, semicolon)).trim().toLowerCase()
}

/**
 * How a `200` to a streaming request is read, by its content type: as SSE (`text/event-stream`, and the
 * sloppy servers' missing type or `text/plain`), as a whole JSON answer (`application/json`, `…+json`), or
 * not at all (an HTML portal page, anything else).
 */
const replyKind = (contentType: string | undefined): "sse" | "json" | "other" => {
  const type = mediaType(contentType)
  if (type === "text/event-stream" || type === "" || type === "text/plain") return "sse"
  if (type === "application/json" || type.endsWith("+json")) return "json"
  return "other"
}

/**
 * Streams a response body through a provider's wire decoder, with the policy context the caller passed:
 * the connect bound, the attempt log, the span, where to report the events decoded, and the deadline's
 * abort, which this request registers with so a deadline aborts it (in flight or mid-read) directly.
 */
export const stream = (
  client: HttpClient.HttpClient,
  site: Site,
  request: HttpClientRequest.HttpClientRequest,
  decoder: WireDecoder.WireDecoder,
  options: StreamOptions,
  context: Adapter.PolicyContext
): Stream.Stream<StreamEvent.StreamEvent, LlmError.LlmError> =>
  Stream.suspend(() => {
    const { abort: registry, connect, progress: onEvents, span: parent } = context
    // The decoder's own fold, read at the end to record the attempt (no stage of its own).
    const fold = new Completion.Accumulator()
    // The deadline's failure, once it aborted this request: what the aborted read fails with.
    let aborted: LlmError.LlmError | undefined
    // Read when the attempt is recorded: false once the server answered with a whole JSON completion.
    const reply = { streamed: true }
    const decodeSse = (response: HttpClientResponse.HttpClientResponse) =>
      WireDecoder.decodeBody(body(site, response), {
        provider: site.provider,
        model: site.model,
        decoder,
        mapBodyError: (error) => aborted ?? error,
        guard: options.guard,
        fold,
        onEvents,
        ...(options.maxEventSize === undefined ? {} : { maxEventSize: options.maxEventSize })
      })
    // A whole JSON answer: the events it stands for, handed on at once, under the same guard as a stream.
    const decodeWhole = (response: HttpClientResponse.HttpClientResponse) =>
      LanguageModel.unwrap(Effect.map(Effect.mapError(readText(site, response), (error) => aborted ?? error), (text) => {
        reply.streamed = false
        const events = Either.flatMap(parseJson(site, text), options.answer)
        if (Either.isLeft(events)) return Stream.fail(events.left)
        for (const event of events.right) fold.add(event)
        if (events.right.length > 0 && onEvents !== undefined) onEvents(events.right)
        const handed = Stream.fromChunk(Chunk.unsafeFromArray(events.right))
        if (!options.guard || fold.finishReason !== null) return handed
        const incomplete = new Errors.IncompleteStream({ provider: site.provider, model: site.model, ending: "eof" })
        return Stream.concat(handed, Stream.fail(fold.events === 0 ? incomplete : Errors.withPartial(incomplete, fold.snapshot())))
      }))
    const decode = (response: HttpClientResponse.HttpClientResponse): Stream.Stream<StreamEvent.StreamEvent, LlmError.LlmError> => {
      const contentType = response.headers["content-type"]
      switch (replyKind(contentType)) {
        case "sse":
          return decodeSse(response)
        case "json":
          return decodeWhole(response)
        case "other":
          // Not an answer at all (a captive portal, a login page): the same again would be no better.
          return LanguageModel.unwrap(Effect.map(readStart(site, response, 200), (start) =>
            Stream.fail(
              new Errors.DecodeError({
                provider: site.provider,
                model: site.model,
                reason: `the response to a streaming request is ${mediaType(contentType)}, not an event stream (text/event-stream)`,
                data: start
              })
            )))
      }
    }
    if (registry === undefined) {
      const plain = Effect.map(underParent(execute(client, site, request, options.redactHeaders, connect), parent), decode)
      // Every request is an attempt that request-level policies can count and cost.
      return Adapter.recordAttempt(scrubbed(site, LanguageModel.unwrap(plain)), site, context, { fold, reply })
    }
    const abortable = Effect.gen(function*() {
      // The request lives in a scope of its own, closed with the stream's (acquired with it, so no
      // interruption can leave it open) or when the deadline aborts it: closing it aborts the request,
      // whatever it waits for.
      const scope = yield* Effect.acquireRelease(Scope.make(), (scope, exit) => Scope.close(scope, exit))
      yield* Scope.extend(
        registry.register((reason) =>
          Effect.suspend(() => {
            aborted = reason
            return Scope.close(scope, Exit.void)
          })
        ),
        scope
      )
      const response = yield* underParent(execute(HttpClient.withScope(client), site, request, options.redactHeaders, connect), parent).pipe(
        Effect.provideService(Scope.Scope, scope),
        Effect.mapError((error) => aborted ?? error)
      )
      return decode(response)
    })
    return Adapter.recordAttempt(scrubbed(site, Stream.unwrapScoped(abortable)), site, context, { fold, reply })
  })

/** The client's span goes under the caller's (a `metrics` span passed down in the policy context). */
const underParent = <A, E, R>(effect: Effect.Effect<A, E, R>, parent: Tracer.AnySpan | undefined) =>
  parent === undefined ? effect : Effect.provideService(effect, Tracer.ParentSpan, parent)

/**
 * Executes a non-streaming request and parses its JSON body, reporting each read of the body to the policy
 * context's `bodyProgress` (so `timeout`'s first-token and idle bounds apply to it).
 */
export const json = (
  client: HttpClient.HttpClient,
  site: Site,
  request: HttpClientRequest.HttpClientRequest,
  context: Adapter.PolicyContext,
  redactHeaders?: ReadonlyArray<string>
): Effect.Effect<unknown, LlmError.LlmError> =>
  Effect.gen(function*() {
    const response = yield* underParent(execute(client, site, request, redactHeaders, context.connect), context.span)
    const text = yield* readText(site, response, context.bodyProgress)
    return yield* parseJson(site, text)
  })

/** Makes a non-streaming call and decodes its JSON into a completion, recorded as an attempt (its failure scrubbed of the secrets). */
export const completion = (
  client: HttpClient.HttpClient,
  site: Site,
  request: HttpClientRequest.HttpClientRequest,
  decode: (json: unknown) => Effect.Effect<Completion.Completion, LlmError.LlmError>,
  context: Adapter.PolicyContext,
  redactHeaders?: ReadonlyArray<string>
): Effect.Effect<Completion.Completion, LlmError.LlmError> =>
  Adapter.recordCall(
    Effect.mapError(Effect.flatMap(json(client, site, request, context, redactHeaders), decode), (error) => scrubError(error, site.secrets)),
    site,
    context
  )

