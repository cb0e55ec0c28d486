/**
 * Slow and hostile servers (issue 7, item 3): raw `node:http` / `node:net` servers on 127.0.0.1 that
 * misbehave at the transport level, each ending in the right typed error within its timeout.
 *
 * What bounds a hung request: `@effect/platform-node`'s undici client passes `headersTimeout: 1 hour`
 * and `bodyTimeout: 0` (disabled) to every request ("leave timeouts to Effect"), and undici's own
 * connect timeout (10 s) bounds only the TCP handshake. So a server that accepts the connection and
 * then stays silent, before or after the headers, holds a stream for an hour or for ever, unless a
 * `Policy.timeout` bounds it: the tests below show both.
 *
 * These run in the OpenAI-compatible format: what they exercise (the HTTP client, body streaming, the
 * SSE stage, timeouts) is shared by every adapter.
 */
import { NodeHttpClient } from "@effect/platform-node"
import { assert, layer } from "@effect/vitest"
import { ChatRequest, type LanguageModel, LlmError, Policy } from "@sluice/core"
import { Chunk, Deferred, Duration, Effect, Either, Fiber, Option, Stream } from "effect"
import * as Http from "node:http"
import * as Net from "node:net"
import * as Zlib from "node:zlib"
import * as Adapters from "./support/adapters.js"
import { listen, serve } from "./support/loopback.js"

const format = Adapters.openai
const where = { provider: format.name, model: format.model }
const request = ChatRequest.make({ model: format.model, messages: [ChatRequest.user("Hello?")] })

/** A server on loopback for the life of the scope; `clientGone` completes when the client closes its connection. */
interface Hostile {
  readonly url: string
  readonly clientGone: Deferred.Deferred<number>
}

/** An HTTP server answering every request with `handler` (after the request body was read). */
const httpServer = (handler: (res: Http.ServerResponse, req: Http.IncomingMessage, gone: () => void) => void) =>
  Effect.gen(function*() {
    const clientGone = yield* Deferred.make<number>()
    const started = performance.now()
    const gone = () => Deferred.unsafeDone(clientGone, Effect.succeed(performance.now() - started))
    const server = Http.createServer((req, res) => {
      req.resume()
      req.on("end", () => handler(res, req, gone))
      res.on("close", gone)
    })
    return { url: yield* serve(server), clientGone } satisfies Hostile
  })

/** A TCP server: `onRequest` gets each accepted socket once its first bytes (the request) arrived. */
const tcpServer = (onRequest: (socket: Net.Socket) => void) =>
  Effect.gen(function*() {
    const clientGone = yield* Deferred.make<number>()
    const started = performance.now()
    const sockets = new Set<Net.Socket>()
    const server = Net.createServer((socket) => {
      sockets.add(socket)
      socket.once("data", () => onRequest(socket))
      socket.on("error", () => {})
      socket.on("close", () => {
        sockets.delete(socket)
        Deferred.unsafeDone(clientGone, Effect.succeed(performance.now() - started))
      })
    })
    const url = yield* listen(server, () => {
      for (const socket of sockets) socket.destroy()
    })
    return { url, clientGone } satisfies Hostile
  })

const sseHeaders = { "content-type": "text/event-stream", "cache-control": "no-cache" }

/** Streams from the server with an adapter wrapped in `policy`. */
const streamFrom = (
  server: Hostile,
  policy: (m: LanguageModel.Service) => LanguageModel.Service = (m) => m,
  options: Adapters.AdapterOptions = {}
) => Effect.flatMap(format.make(server.url, undefined, options), (m) => Adapters.consume(policy(m).stream(request)))

/** The client closed its connection within `ms` of the server starting (the request was aborted, nothing left open). */
const assertClientGone = (server: Hostile, ms: number) =>
  Effect.gen(function*() {
    const at = yield* Deferred.await(server.clientGone).pipe(
      Effect.timeoutFail({ duration: Duration.millis(ms), onTimeout: () => new Error(`the client did not close its connection within ${ms} ms`) })
    )
    assert.isBelow(at, ms)
  })

/** Asserts a Timeout of `phase` after `after` ms: not early, and not much late. */
const assertTimeout = (outcome: Adapters.Outcome, phase: LlmError.TimeoutPhase, after: number) => {
  const error = Adapters.expectFailure(outcome, "Timeout", where)
  assert.strictEqual(error.phase, phase)
  assert.deepStrictEqual(error.after, Duration.millis(after))
  assert.isTrue(LlmError.isRetryable(error))
  assert.isAtLeast(outcome.elapsedMs, after - 20)
  assert.isBelow(outcome.elapsedMs, after + 5000)
  return error
}

// One event holding a two-byte character, the text and the finish: 71 bytes, 7 s at a byte per 100 ms.
const trickled = `data:{"choices":[{"delta":{"content":"é!"},"finish_reason":"stop"}]}\n\n`

/** Writes `body` one byte every `everyMs`, then ends; stops when the client goes away. */
const trickle = (body: string, everyMs: number) => (res: Http.ServerResponse) => {
  const bytes = Buffer.from(body, "utf8")
  res.writeHead(200, sseHeaders)
  res.flushHeaders()
  let i = 0
  const timer = setInterval(() => {
    if (res.destroyed) {
      clearInterval(timer)
      return
    }
    res.write(bytes.subarray(i, i + 1))
    i++
    if (i === bytes.length) {
      clearInterval(timer)
      res.end()
    }
  }, everyMs)
  res.on("close", () => clearInterval(timer))
}

/** One OpenAI event whose text is `size` bytes of "a", written in 64 KiB pieces as the socket drains; stops when the client goes away. */
const bigEvent = (size: number) => (res: Http.ServerResponse) => {
  res.writeHead(200, sseHeaders)
  res.write(`data: {"choices":[{"delta":{"content":"`)
  const chunk = Buffer.alloc(64 * 1024, "a")
  let written = 0
  const pump = () => {
    while (written < size) {
      if (res.destroyed) return
      written += chunk.length
      if (!res.write(chunk)) {
        res.once("drain", pump)
        return
      }
    }
    res.end(`"},"finish_reason":"stop"}]}\n\n`)
  }
  pump()
}

const MiB = 1024 * 1024

layer(NodeHttpClient.layerUndici, { excludeTestServices: true })("Hostile servers", (it) => {
  it.scoped("a byte every 100 ms: with an idle bound longer than one event's trickle, the answer completes", () =>
    Effect.gen(function*() {
      const server = yield* httpServer(trickle(trickled, 100))
      // `idle` is the time between events, not bytes (docs/policies.md, timeout): the one event takes ~7 s to trickle in
      const outcome = yield* streamFrom(server, (m) => m.pipe(Policy.timeout({ idle: "20 seconds" })))
      const completion = Adapters.expectSuccess(outcome, "trickle")
      // the two bytes of "é" came in separate reads and were joined, not replaced
      assert.deepStrictEqual(completion, { text: "é!", reasoning: "", toolCalls: [], usage: null, finishReason: "stop" })
      assert.isAtLeast(outcome.elapsedMs, (Buffer.byteLength(trickled) - 2) * 100)
    }), 30_000)

  it.scoped("a byte every 100 ms: a first-token bound shorter than the time to the first token times out", () =>
    Effect.gen(function*() {
      const server = yield* httpServer(trickle(trickled, 100))
      const outcome = yield* streamFrom(server, (m) => m.pipe(Policy.timeout({ firstToken: "500 millis" })))
      assertTimeout(outcome, "first-token", 500)
      yield* assertClientGone(server, 5000)
    }))

  it.scoped("a byte every 100 ms: bytes are not events, so an idle bound of 300 ms (> 100 ms) still times out", () =>
    Effect.gen(function*() {
      const server = yield* httpServer(trickle(trickled, 100))
      const outcome = yield* streamFrom(server, (m) => m.pipe(Policy.timeout({ idle: "300 millis" })))
      assertTimeout(outcome, "idle", 300)
      yield* assertClientGone(server, 5000)
    }))

  it.scoped("headers and then nothing: a first-token (or idle) timeout; without one the stream just waits", () =>
    Effect.gen(function*() {
      const silent = (res: Http.ServerResponse) => {
        res.writeHead(200, sseHeaders)
        res.flushHeaders()
      }
      const first = yield* httpServer(silent)
      assertTimeout(yield* streamFrom(first, (m) => m.pipe(Policy.timeout({ firstToken: "200 millis" }))), "first-token", 200)
      yield* assertClientGone(first, 5000)
      const idle = yield* httpServer(silent)
      assertTimeout(yield* streamFrom(idle, (m) => m.pipe(Policy.timeout({ idle: "200 millis" }))), "idle", 200)
      // no bound: undici's body timeout is off, so nothing ends the stream, until the caller interrupts
      const unbounded = yield* httpServer(silent)
      const fiber = yield* Effect.fork(streamFrom(unbounded))
      yield* Effect.sleep("400 millis")
      assert.isTrue(Option.isNone(yield* Fiber.poll(fiber)), "still waiting")
      yield* Fiber.interrupt(fiber)
      yield* assertClientGone(unbounded, 5000)
    }))

  it.scoped("accepts the connection and never answers: a first-token timeout (undici's header timeout is an hour)", () =>
    Effect.gen(function*() {
      const server = yield* tcpServer(() => {
        // read the request, say nothing
      })
      const outcome = yield* streamFrom(server, (m) => m.pipe(Policy.timeout({ firstToken: "200 millis" })))
      assertTimeout(outcome, "first-token", 200)
      yield* assertClientGone(server, 5000)
      // a connect bound names the phase: no response headers in time
      const silent = yield* tcpServer(() => {})
      const connect = yield* streamFrom(silent, (m) => m.pipe(Policy.timeout({ connect: "200 millis", firstToken: "5 seconds" })))
      assertTimeout(connect, "connect", 200)
      yield* assertClientGone(silent, 5000)
      // without a bound the request is still pending well after a connect would have timed out
      const again = yield* tcpServer(() => {})
      const fiber = yield* Effect.fork(streamFrom(again))
      yield* Effect.sleep("400 millis")
      assert.isTrue(Option.isNone(yield* Fiber.poll(fiber)), "still waiting")
      yield* Fiber.interrupt(fiber)
      yield* assertClientGone(again, 5000)
    }))

  it.scoped("complete (--no-stream): a server that never answers times out at the first-token bound; the body's reads move the idle deadline", () =>
    Effect.gen(function*() {
      const completeFrom = (server: Hostile, policy: (m: LanguageModel.Service) => LanguageModel.Service) =>
        Effect.flatMap(format.make(server.url, undefined), (m) =>
          Effect.suspend(() => {
            const start = performance.now()
            return Effect.map(Effect.either(policy(m).complete(request)), (result) => ({ result, elapsedMs: performance.now() - start }))
          }))
      const timedOut = (outcome: { readonly result: Either.Either<unknown, LlmError.LlmError>; readonly elapsedMs: number }, phase: LlmError.TimeoutPhase, after: number) => {
        const error = Either.isLeft(outcome.result) ? outcome.result.left : undefined
        assert.strictEqual(error?._tag, "Timeout", error?.message)
        assert.strictEqual(error?._tag === "Timeout" && error.phase, phase)
        assert.isAtLeast(outcome.elapsedMs, after - 20)
        assert.isBelow(outcome.elapsedMs, after + 5000)
      }
      // accepts, reads the request, never answers
      const silent = yield* tcpServer(() => {})
      timedOut(yield* completeFrom(silent, (m) => m.pipe(Policy.timeout({ firstToken: "300 millis", idle: "1 minute" }))), "first-token", 300)
      yield* assertClientGone(silent, 5000)
      const answer = JSON.stringify({ choices: [{ index: 0, message: { role: "assistant", content: "Slow but whole." }, finish_reason: "stop" }] })
      const pieces = [answer.slice(0, 20), answer.slice(20, 40), answer.slice(40, 60), answer.slice(60)]
      // the headers, then the body in pieces 150 ms apart: each read moves the idle deadline (500 ms), so it completes
      const slow = yield* httpServer((res) => {
        res.writeHead(200, { "content-type": "application/json" })
        res.flushHeaders()
        pieces.forEach((piece, i) => setTimeout(() => (i === pieces.length - 1 ? res.end(piece) : res.write(piece)), 150 * (i + 1)))
      })
      const done = yield* completeFrom(slow, (m) => m.pipe(Policy.timeout({ idle: "500 millis" })))
      assert.isTrue(Either.isRight(done.result), Either.isLeft(done.result) ? done.result.left.message : "")
      // the first piece, then silence: idle after the last read, long before the first-token bound
      const stalled = yield* httpServer((res) => {
        res.writeHead(200, { "content-type": "application/json" })
        res.write(pieces[0])
      })
      timedOut(yield* completeFrom(stalled, (m) => m.pipe(Policy.timeout({ firstToken: "20 seconds", idle: "300 millis" }))), "idle", 300)
      yield* assertClientGone(stalled, 5000)
    }), 30_000)

  it.scoped("one 5 MiB event against a 1 MiB maxEventSize: DecodeError at the limit, memory bounded", () =>
    Effect.gen(function*() {
      const server = yield* httpServer(bigEvent(5 * MiB))
      const outcome = yield* streamFrom(server, (m) => m, { maxEventSize: MiB })
      const error = Adapters.expectFailure(outcome, "DecodeError", where)
      assert.isFalse(LlmError.isRetryable(error))
      // the decoder stopped as soon as the pending event passed the limit: it held at most one read more
      const match = /grew to (\d+) characters, past the limit of (\d+)/.exec(error.reason)
      assert.isNotNull(match, error.reason)
      const [size, limit] = [Number(match?.[1]), Number(match?.[2])]
      assert.strictEqual(limit, MiB)
      assert.isAbove(size, MiB)
      assert.isBelow(size, 2 * MiB)
      assert.isBelow(outcome.elapsedMs, 10_000)
      // the request was aborted rather than read to its end
      yield* assertClientGone(server, 5000)
    }))

  it.scoped("the same 5 MiB event is fine under the default 10 MiB limit (the limit decides, not the size)", () =>
    Effect.gen(function*() {
      const server = yield* httpServer(bigEvent(5 * MiB))
      const completion = Adapters.expectSuccess(yield* streamFrom(server), "5 MiB event")
      assert.strictEqual(completion.text.length, 5 * MiB)
      assert.strictEqual(completion.finishReason, "stop")
    }))

  it.scoped("a compressed body (gzip, deflate, br) is decompressed; an unknown coding is a DecodeError", () =>
    Effect.gen(function*() {
      const text = "Compressed hello."
      const body = `data: ${JSON.stringify({ choices: [{ index: 0, delta: { content: text } }] })}\n\n` +
        `data: ${JSON.stringify({ choices: [{ index: 0, delta: {}, finish_reason: "stop" }] })}\n\ndata: [DONE]\n\n`
      // Sluice asks for `accept-encoding: identity` (a compressing gateway buffers); a server that
      // compresses anyway is decoded, not passed off as garbage text or a truncation.
      const encoders: ReadonlyArray<readonly [string, (b: string) => Buffer]> = [
        ["gzip", (b) => Zlib.gzipSync(b)],
        ["deflate", (b) => Zlib.deflateSync(b)],
        ["br", (b) => Zlib.brotliCompressSync(b)]
      ]
      for (const [coding, encode] of encoders) {
        let asked: string | undefined
        const server = yield* httpServer((res, req) => {
          asked = req.headers["accept-encoding"]
          res.writeHead(200, { ...sseHeaders, "content-encoding": coding })
          res.end(encode(body))
        })
        const outcome = yield* streamFrom(server)
        assert.strictEqual(asked, "identity")
        assert.isUndefined(outcome.error, coding)
        assert.deepStrictEqual(outcome.completion, { text, reasoning: "", toolCalls: [], usage: null, finishReason: "stop" }, coding)
      }
      const odd = yield* httpServer((res) => {
        res.writeHead(200, { ...sseHeaders, "content-encoding": "zstd" })
        res.end("not really zstd")
      })
      const failed = Adapters.expectFailure(yield* streamFrom(odd), "DecodeError", where)
      assert.include(failed.reason, "zstd")
    }))

  it.scoped("a compressed stream the consumer leaves is aborted; a compressed body cut off is a TransportError, corrupt bytes a DecodeError", () =>
    Effect.gen(function*() {
      const tick = `data: ${JSON.stringify({ choices: [{ index: 0, delta: { content: "tick " } }] })}\n\n`
      const compressors: ReadonlyArray<readonly [string, () => Zlib.Gzip | Zlib.Deflate | Zlib.BrotliCompress]> = [
        ["gzip", () => Zlib.createGzip()],
        ["deflate", () => Zlib.createDeflate()],
        ["br", () => Zlib.createBrotliCompress()]
      ]
      for (const [coding, compressor] of compressors) {
        // an endless compressed stream, an event every 10 ms (flushed, so each one reaches the client)
        const endless = yield* httpServer((res) => {
          res.writeHead(200, { ...sseHeaders, "content-encoding": coding })
          const zip = compressor()
          zip.pipe(res)
          const timer = setInterval(() => zip.write(tick, () => zip.flush()), 10)
          res.on("close", () => clearInterval(timer))
        })
        const model = yield* format.make(endless.url, undefined)
        const events = yield* model.stream(request).pipe(Stream.take(3), Stream.runCollect)
        assert.deepStrictEqual(Chunk.toReadonlyArray(events).map((e) => e._tag), ["TextDelta", "TextDelta", "TextDelta"], coding)
        yield* assertClientGone(endless, 5000)
        // one event, then the connection drops mid-body: the body's own failure, not a decompression error
        const cut = yield* httpServer((res) => {
          res.writeHead(200, { ...sseHeaders, "content-encoding": coding })
          const zip = compressor()
          zip.pipe(res)
          zip.write(tick, () => zip.flush(() => setTimeout(() => res.socket?.destroy(), 50)))
        })
        const failed = Adapters.expectFailure(yield* streamFrom(cut), "TransportError", where)
        assert.strictEqual(failed.partial?.text, "tick ", coding)
        const corrupt = yield* httpServer((res) => {
          res.writeHead(200, { ...sseHeaders, "content-encoding": coding })
          res.end("this is not compressed at all")
        })
        const garbled = Adapters.expectFailure(yield* streamFrom(corrupt), "DecodeError", where)
        assert.include(garbled.reason, `the ${coding} body could not be decompressed`)
      }
    }))

  it.scoped("without Node's built-in modules (another runtime), gzip still decodes and a br body is a DecodeError naming it", () =>
    Effect.gen(function*() {
      const body = `data: ${JSON.stringify({ choices: [{ index: 0, delta: { content: "hi" }, finish_reason: "stop" }] })}\n\ndata: [DONE]\n\n`
      // Node 20's DecompressionStream has no brotli: off Node, nothing else decodes it.
      const original = process.getBuiltinModule
      yield* Effect.acquireRelease(
        Effect.sync(() => Reflect.set(process, "getBuiltinModule", undefined)),
        () => Effect.sync(() => Reflect.set(process, "getBuiltinModule", original))
      )
      const serve = (coding: string, bytes: Buffer) =>
        httpServer((res) => {
          res.writeHead(200, { ...sseHeaders, "content-encoding": coding })
          res.end(bytes)
        })
      const gzip = yield* streamFrom(yield* serve("gzip", Zlib.gzipSync(body)))
      assert.strictEqual(Adapters.expectSuccess(gzip, "gzip").text, "hi")
      const br = Adapters.expectFailure(yield* streamFrom(yield* serve("br", Zlib.brotliCompressSync(body))), "DecodeError", where)
      assert.include(br.reason, "content-encoding br")
    }))

  it.scoped("the socket closes right after the headers: TransportError when the framing says more was due, else IncompleteStream", () =>
    Effect.gen(function*() {
      // chunked (how SSE is served): the connection closed without the terminating chunk, so the
      // client knows the body was cut off: a transport failure
      const chunked = yield* httpServer((res) => {
        res.writeHead(200, sseHeaders)
        res.flushHeaders()
        setTimeout(() => res.socket?.destroy(), 20)
      })
      const cut = Adapters.expectFailure(yield* streamFrom(chunked), "TransportError", where)
      assert.include(cut.reason, "cut off")
      // a Content-Length that was not met: the same
      const short = yield* tcpServer((socket) => {
        socket.end("HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncontent-length: 100\r\n\r\n")
      })
      Adapters.expectFailure(yield* streamFrom(short), "TransportError", where)
      // no framing at all (read until close, as HTTP/1.0 does): the close IS the end of the body, so
      // the transport sees nothing wrong; the guard does: no finish reason, nothing received
      const unframed = yield* tcpServer((socket) => {
        socket.end("HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n")
      })
      const ended = Adapters.expectFailure(yield* streamFrom(unframed), "IncompleteStream", where)
      assert.strictEqual(ended.ending, "eof")
    }))
})
