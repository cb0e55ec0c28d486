/**
 * Decompressing a body a server compressed although Sluice asked for `identity`, without tying the package
 * to Node: gzip and deflate with the web `DecompressionStream`; brotli with it where the runtime has it, else
 * with Node's zlib when the runtime is Node (looked up at run time, so the package needs no Node import or
 * types), else not at all.
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Predicate from "effect/Predicate"
import * as Stream from "effect/Stream"

/** A `DecompressionStream` format, by the spec's names (`content-encoding: br` is `"brotli"`). */
type Format = "gzip" | "deflate" | "brotli"

/** The format of a `content-encoding`, or undefined for one Sluice does not know. */
const formatOf = (encoding: string): Format | undefined => {
  switch (encoding) {
    case "gzip":
    case "x-gzip":
      return "gzip"
    case "deflate":
      return "deflate"
    case "br":
      return "brotli"
    default:
      return undefined
  }
}

/** A decompressor: compressed bytes in, decompressed chunks out. */
type Pair = ReadableWritablePair<unknown, Uint8Array<ArrayBuffer>>

/** A function-valued property `key` of `u`, when `u` has one. */
const hasFunction = <K extends string>(u: unknown, key: K): u is { readonly [P in K]: (...args: ReadonlyArray<unknown>) => unknown } =>
  Predicate.hasProperty(u, key) && typeof u[key] === "function"

/** A readable/writable pair, as `Duplex.toWeb` returns. */
const isPair = (u: unknown): u is Pair =>
  Predicate.hasProperty(u, "readable") && u.readable instanceof ReadableStream &&
  Predicate.hasProperty(u, "writable") && u.writable instanceof WritableStream

/** A built-in module of the runtime (`process.getBuiltinModule`, Node 20.16 and later), or undefined. */
const builtin = (id: string): unknown => {
  const global: unknown = globalThis
  const runtime = Predicate.hasProperty(global, "process") ? global.process : undefined
  return hasFunction(runtime, "getBuiltinModule") ? runtime.getBuiltinModule(id) : undefined
}

/** Node's brotli decompressor as a web pair (what Node's own `DecompressionStream` is made of), or undefined off Node. */
const nodeBrotli = (): Pair | undefined => {
  const zlib = builtin("node:zlib")
  const stream = builtin("node:stream")
  const duplex = Predicate.hasProperty(stream, "Duplex") ? stream.Duplex : undefined
  if (!hasFunction(zlib, "createBrotliDecompress") || !hasFunction(duplex, "toWeb")) return undefined
  const pair = duplex.toWeb(zlib.createBrotliDecompress())
  return isPair(pair) ? pair : undefined
}

/** The decompressor for a `content-encoding`, or undefined when Sluice cannot decode it on this runtime. */
const decompressor = (encoding: string): Pair | undefined => {
  const format = formatOf(encoding)
  if (format === undefined) return undefined
  const web = typeof DecompressionStream === "function"
  if (format !== "brotli") return web ? new DecompressionStream(format) : undefined
  if (web) {
    try {
      // Constructed by reflection: the DOM typings do not list "brotli" yet.
      const pair: unknown = Reflect.construct(DecompressionStream, [format])
      if (isPair(pair)) return pair
    } catch {
      // This runtime's DecompressionStream has no brotli (Node 20 and 22): Node's zlib has.
    }
  }
  return nodeBrotli()
}

const isUnshared = (bytes: Uint8Array): bytes is Uint8Array<ArrayBuffer> => bytes.buffer instanceof ArrayBuffer

/** The bytes over an `ArrayBuffer`, as a decompressor takes them (a body's reads always are; others are copied). */
const unshared = (bytes: Uint8Array): Uint8Array<ArrayBuffer> => (isUnshared(bytes) ? bytes : new Uint8Array(bytes))

/**
 * Reads a web stream's chunks. Unlike `Stream.fromReadableStream`, cancelling a stream that already failed
 * (its reader rejects then) is no defect: the failure was handed on by the read.
 */
const fromWeb = <E>(readable: ReadableStream<unknown>, onError: (cause: unknown) => E): Stream.Stream<Uint8Array, E> =>
  Stream.unwrapScoped(Effect.map(
    Effect.acquireRelease(
      Effect.sync(() => readable.getReader()),
      (reader) => Effect.promise(() => reader.cancel().catch(() => undefined))
    ),
    (reader) =>
      Stream.repeatEffectOption(Effect.flatMap(
        Effect.tryPromise({ try: () => reader.read(), catch: (cause) => Option.some(onError(cause)) }),
        (read) => (read.done ? Effect.fail(Option.none()) : Effect.succeed(read.value))
      )).pipe(Stream.filter((chunk): chunk is Uint8Array => chunk instanceof Uint8Array))
  ))

/**
 * The body decompressed. A failure of the body itself passes through as it is (`onError` hands back an `E`
 * it is given), a failure to decompress is `onError`'s, an encoding Sluice cannot decode here `unsupported`.
 * Closing the result cancels the decompressor, which cancels the body (and so aborts the request).
 */
export const decompress = <E>(
  body: Stream.Stream<Uint8Array, E>,
  encoding: string,
  onError: (cause: unknown) => E,
  unsupported: () => E
): Stream.Stream<Uint8Array, E> =>
  Stream.suspend(() => {
    const pair = decompressor(encoding)
    if (pair === undefined) return Stream.fail(unsupported())
    return fromWeb(Stream.toReadableStream(Stream.map(body, unshared)).pipeThrough(pair), onError)
  })
