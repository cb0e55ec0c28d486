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
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as Tracer from "effect/Tracer"
import * as NodeStream from "node:stream"
import * as Zlib from "node:zlib"
import { ChatRequest, Completion, LanguageModel, type LlmError, LlmError as Errors, Policy, type StreamEvent, WireDecoder } from "@sluice/core"
import { fromBodyError, fromClientError, fromStatus, type Site } from "./httpFailure.js"
import { scrubError, withScrubbedSpans } from "./secrets.js"

/** Decoding options shared by the adapters. */
export interface StreamOptions {
  readonly guard: boolean
  readonly maxEventSize: number | undefined
  /** Request headers to redact in traces besides @effect/platform's defaults (e.g. `x-goog-api-key`). */
  readonly redactHeaders?: ReadonlyArray<string> | undefined
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
  connect: Option.Option<Context.Tag.Service<Policy.ConnectTimeout>>
): Effect.Effect<HttpClientResponse.HttpClientResponse, LlmError.LlmError, R> => {
  // A compressing gateway buffers to compress: ask for the bytes as they are.
  const plain = request.headers["accept-encoding"] === undefined
    ? HttpClientRequest.setHeader(request, "accept-encoding", "identity")
    : request
  const headers = send(client, plain, redactHeaders, site.secrets).pipe(Effect.mapError((error) => fromClientError(site, error)))
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
}

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

/**
 * Streams a response body through a provider's wire decoder, with the policy context the caller passed:
 * the connect bound, the attempt log, and the deadline's `Abort`, which this request registers with so a
 * deadline aborts it (in flight or mid-read) directly.
 */
export const stream = (
  client: HttpClient.HttpClient,
  site: Site,
  request: HttpClientRequest.HttpClientRequest,
  decoder: WireDecoder.WireDecoder,
  options: StreamOptions,
  context: Context.Context<never>
): Stream.Stream<StreamEvent.StreamEvent, LlmError.LlmError> =>
  Stream.suspend(() => {
    const connect = Context.getOption(context, Policy.ConnectTimeout)
    const parent = Context.getOption(context, Tracer.ParentSpan)
    const registry = Context.getOption(context, Policy.Abort)
    const progress = Context.getOption(context, Policy.Progress)
    // The decoder's own fold, read at the end to record the attempt (no stage of its own).
    const fold = new Completion.Accumulator()
    // The deadline's failure, once it aborted this request: what the aborted read fails with.
    let aborted: LlmError.LlmError | undefined
    const decode = (response: HttpClientResponse.HttpClientResponse) =>
      WireDecoder.decodeBody(body(site, response), {
        provider: site.provider,
        model: site.model,
        decoder,
        mapBodyError: (error) => aborted ?? error,
        guard: options.guard,
        fold,
        onEvents: Option.isNone(progress) ? undefined : progress.value.onEvents,
        ...(options.maxEventSize === undefined ? {} : { maxEventSize: options.maxEventSize })
      })
    // The client's span goes under the caller's (a `metrics` span passed down in the context).
    const underParent = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
      Option.isNone(parent) ? effect : Effect.provideService(effect, Tracer.ParentSpan, parent.value)
    if (Option.isNone(registry)) {
      const plain = Effect.map(underParent(execute(client, site, request, options.redactHeaders, connect)), decode)
      // Every request is an attempt that request-level policies can count and cost.
      return Policy.recordAttempt(scrubbed(site, LanguageModel.unwrap(plain)), site, context, fold)
    }
    const abortable = Effect.gen(function*() {
      // The request lives in a scope of its own, closed with the stream's (acquired with it, so no
      // interruption can leave it open) or when the deadline aborts it: closing it aborts the request,
      // whatever it waits for.
      const scope = yield* Effect.acquireRelease(Scope.make(), (scope, exit) => Scope.close(scope, exit))
      yield* Scope.extend(
        registry.value.register((reason) =>
          Effect.suspend(() => {
            aborted = reason
            return Scope.close(scope, Exit.void)
          })
        ),
        scope
      )
      const response = yield* underParent(execute(HttpClient.withScope(client), site, request, options.redactHeaders, connect)).pipe(
        Effect.provideService(Scope.Scope, scope),
        Effect.mapError((error) => aborted ?? error)
      )
      return decode(response)
    })
    return Policy.recordAttempt(scrubbed(site, Stream.unwrapScoped(abortable)), site, context, fold)
  })

/** Executes a non-streaming request and parses its JSON body. */
export const json = (
  client: HttpClient.HttpClient,
  site: Site,
  request: HttpClientRequest.HttpClientRequest,
  redactHeaders?: ReadonlyArray<string>
): Effect.Effect<unknown, LlmError.LlmError> =>
  Effect.flatMap(Effect.flatMap(Effect.serviceOption(Policy.ConnectTimeout), (connect) => execute(client, site, request, redactHeaders, connect)), (response) =>
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
              data: text.slice(0, 200)
            })
        })
    ))

/** Makes a non-streaming call and decodes its JSON into a completion, recorded as an attempt (its failure scrubbed of the secrets). */
export const completion = (
  client: HttpClient.HttpClient,
  site: Site,
  request: HttpClientRequest.HttpClientRequest,
  decode: (json: unknown) => Effect.Effect<Completion.Completion, LlmError.LlmError>,
  redactHeaders?: ReadonlyArray<string>
): Effect.Effect<Completion.Completion, LlmError.LlmError> =>
  Policy.recordCall(Effect.mapError(Effect.flatMap(json(client, site, request, redactHeaders), decode), (error) => scrubError(error, site.secrets)), site)

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
