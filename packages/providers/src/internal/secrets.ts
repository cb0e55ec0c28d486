/**
 * Keeping the API key out of what Sluice reports. Every failure an adapter hands on, and every attempt it
 * records, passes through `scrubError` (in `httpCall.ts`), which walks all the error's fields through its
 * own schema: whatever field carries provider text, now or added later, is scrubbed there, on the
 * failure path only. `withScrubbedSpans` does the same for the HTTP client's span, which records every
 * response header's value.
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import type * as Exit from "effect/Exit"
import * as Predicate from "effect/Predicate"
import * as Schema from "effect/Schema"
import type * as SchemaAST from "effect/SchemaAST"
import * as Tracer from "effect/Tracer"
import { LlmError } from "@sluice/core"

const marker = "[REDACTED]"

/**
 * The shortest run of a secret's characters removed where the secret appears only in part: provider
 * text cut at a bound (the 200 characters a `DecodeError` keeps), or quoted in part (`JSON.parse` shows
 * the text around a syntax error).
 */
const piece = 8

/** The secrets worth looking for: a shorter one would match ordinary text. */
const usable = (secrets: ReadonlyArray<string>): boolean => secrets.some((secret) => secret.length >= 4)

/**
 * Replaces `secret`, and every run of text made of its `piece`-character pieces, in any case (a server
 * may lower-case what it echoes), with the marker.
 */
const scrubOne = (text: string, secret: string): string => {
  const lower = text.toLowerCase()
  // Lower-casing that changes the length (a few non-ASCII letters) would shift the positions: keep the case then.
  const same = lower.length === text.length
  const hay = same ? lower : text
  const needle = same ? secret.toLowerCase() : secret
  const size = Math.min(piece, needle.length)
  const pieces = new Set<string>()
  for (let i = 0; i + size <= needle.length; i++) pieces.add(needle.slice(i, i + size))
  let out = ""
  let kept = 0
  let i = 0
  while (i + size <= hay.length) {
    if (!pieces.has(hay.slice(i, i + size))) {
      i++
      continue
    }
    let end = i + size
    while (end < hay.length && pieces.has(hay.slice(end + 1 - size, end + 1))) end++
    out += text.slice(kept, i) + marker
    kept = end
    i = end
  }
  return kept === 0 ? text : out + text.slice(kept)
}

/** Replaces every occurrence of a secret, and every run of at least 8 of its characters, in any case, with a marker. */
export const scrub = (text: string, secrets: ReadonlyArray<string>): string => {
  let out = text
  for (const secret of secrets) if (secret.length >= 4) out = scrubOne(out, secret)
  return out
}

/** The string literals of a schema: its tags and literal fields. */
const literalsOf = (ast: SchemaAST.AST, out: Set<string> = new Set(), seen: Set<SchemaAST.AST> = new Set()): Set<string> => {
  if (seen.has(ast)) return out
  seen.add(ast)
  switch (ast._tag) {
    case "Literal":
      if (typeof ast.literal === "string") out.add(ast.literal)
      break
    case "Union":
      for (const member of ast.types) literalsOf(member, out, seen)
      break
    case "TypeLiteral":
      for (const property of ast.propertySignatures) literalsOf(property.type, out, seen)
      for (const index of ast.indexSignatures) literalsOf(index.type, out, seen)
      break
    case "TupleType":
      for (const element of ast.elements) literalsOf(element.type, out, seen)
      for (const rest of ast.rest) literalsOf(rest.type, out, seen)
      break
    case "Refinement":
      literalsOf(ast.from, out, seen)
      break
    case "Transformation":
      literalsOf(ast.from, out, seen)
      literalsOf(ast.to, out, seen)
      break
    case "Declaration":
      for (const parameter of ast.typeParameters) literalsOf(parameter, out, seen)
      break
    case "Suspend":
      literalsOf(ast.f(), out, seen)
      break
  }
  return out
}

/** Sluice's own words in an error (tags, `phase`, `ending`): never provider text, and kept as they are so the error still decodes. */
const vocabulary: ReadonlySet<string> = literalsOf(LlmError.LlmError.ast)

const encode = Schema.encodeEither(LlmError.LlmError)
const decode = Schema.decodeUnknownEither(LlmError.LlmError)

/**
 * The same error with every string in it scrubbed of the secrets (the error itself when none held
 * any), found through the error's schema: its encoded form is walked whole, nested objects and arrays
 * included, and decoded back into the same class. `partial` is left alone: it is the answer the caller
 * already received, and must stay exactly that (see `LlmError`).
 */
export const scrubError = (error: LlmError.LlmError, secrets: ReadonlyArray<string>): LlmError.LlmError => {
  if (!usable(secrets)) return error
  const encoded = encode(error)
  if (Either.isLeft(encoded)) return unreadable(error)
  let changed = false
  const clean = (u: unknown): unknown => {
    if (typeof u === "string") {
      if (vocabulary.has(u)) return u
      const out = scrub(u, secrets)
      if (out !== u) changed = true
      return out
    }
    if (Array.isArray(u)) return u.map(clean)
    // Plain objects only: a Duration or a Date is Sluice's own value, decoded as it was encoded.
    if (Predicate.isRecord(u) && (Object.getPrototypeOf(u) === Object.prototype || Object.getPrototypeOf(u) === null)) {
      const out: Record<string, unknown> = {}
      for (const [key, value] of Object.entries(u)) out[key] = clean(value)
      return out
    }
    return u
  }
  const fields: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(encoded.right)) fields[key] = key === "partial" ? value : clean(value)
  if (!changed) return error
  const decoded = decode(fields)
  return Either.isRight(decoded) ? decoded.right : unreadable(error)
}

/**
 * What a failure becomes when it cannot be rebuilt scrubbed (it cannot today: only free-text fields
 * change, and Sluice's own words are kept): an error that shows none of the provider's text.
 */
const unreadable = (error: LlmError.LlmError): LlmError.LlmError =>
  new LlmError.DecodeError({
    provider: error.provider,
    model: error.model,
    reason: `the provider's ${error._tag} could not be shown without its secrets`,
    ...(error.partial === undefined ? {} : { partial: error.partial })
  })

const scrubValue = (value: unknown, secrets: ReadonlyArray<string>): unknown =>
  typeof value === "string" ? scrub(value, secrets) : Array.isArray(value) ? value.map((v) => scrubValue(v, secrets)) : value

/** A span that scrubs every string attribute (and event attribute) before the tracer's own span sees it. */
class ScrubbedSpan implements Tracer.Span {
  readonly _tag = "Span"
  constructor(private readonly span: Tracer.Span, private readonly secrets: ReadonlyArray<string>) {}
  get name() {
    return this.span.name
  }
  get spanId() {
    return this.span.spanId
  }
  get traceId() {
    return this.span.traceId
  }
  get parent() {
    return this.span.parent
  }
  get context() {
    return this.span.context
  }
  get status() {
    return this.span.status
  }
  get attributes() {
    return this.span.attributes
  }
  get links() {
    return this.span.links
  }
  get sampled() {
    return this.span.sampled
  }
  get kind() {
    return this.span.kind
  }
  end(endTime: bigint, exit: Exit.Exit<unknown, unknown>): void {
    this.span.end(endTime, exit)
  }
  attribute(key: string, value: unknown): void {
    this.span.attribute(key, scrubValue(value, this.secrets))
  }
  event(name: string, startTime: bigint, attributes?: Record<string, unknown>): void {
    if (attributes === undefined) return this.span.event(name, startTime)
    const clean: Record<string, unknown> = {}
    for (const [key, value] of Object.entries(attributes)) clean[key] = scrubValue(value, this.secrets)
    this.span.event(name, startTime, clean)
  }
  addLinks(links: ReadonlyArray<Tracer.SpanLink>): void {
    this.span.addLinks(links)
  }
}

/**
 * Runs `effect` with the current tracer's spans scrubbing their attributes: @effect/platform's HTTP
 * client span records every response header's value (it redacts by header name only), and a provider
 * may echo the key in any header.
 */
export const withScrubbedSpans = <A, E, R>(effect: Effect.Effect<A, E, R>, secrets: ReadonlyArray<string>): Effect.Effect<A, E, R> =>
  usable(secrets)
    ? Effect.tracerWith((tracer) =>
      Effect.withTracer(
        effect,
        Tracer.make({
          span: (name, parent, context, links, startTime, kind, options) =>
            new ScrubbedSpan(tracer.span(name, parent, context, links, startTime, kind, options), secrets),
          context: (f, fiber) => tracer.context(f, fiber)
        })
      )
    )
    : effect
