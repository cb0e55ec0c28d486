import { assert, describe, it } from "@effect/vitest"
import { Completion, LlmError } from "@sluice/core"
import { Duration, Schema } from "effect"

const where = { provider: "p", model: "m" }
const received: Completion.Completion = { ...Completion.empty, text: "ab" }
const whole: Completion.Completion = { ...Completion.empty, text: "abcd", reasoning: "r", finishReason: "stop" }

/** One error of every class, with every field it can carry set. */
const every: ReadonlyArray<LlmError.LlmError> = [
  new LlmError.RateLimited({ ...where, retryAfter: Duration.seconds(2), providerMessage: "slow down" }),
  new LlmError.AuthenticationFailed({ ...where, status: 401, providerMessage: "bad key" }),
  new LlmError.ContextLengthExceeded({ ...where, providerMessage: "too long" }),
  new LlmError.InvalidRequest({ ...where, status: 400, code: "bad_param", providerMessage: "no" }),
  new LlmError.ServerError({ ...where, status: 503, providerMessage: "down" }),
  new LlmError.Timeout({ ...where, phase: "idle", after: Duration.millis(30) }),
  new LlmError.TransportError({ ...where, reason: "reset", cause: new Error("ECONNRESET") }),
  new LlmError.IncompleteStream({ ...where, ending: "eof" }),
  new LlmError.ProviderStreamError({ ...where, errorType: "overloaded_error", providerMessage: "busy", retryable: true }),
  new LlmError.DecodeError({ ...where, reason: "not JSON", data: "{" }),
  new LlmError.MissingUsage({ ...where }),
  new LlmError.CircuitOpen({ ...where, reopensAt: 1_700_000_000_000 }),
  new LlmError.BufferedStream({ ...where, spreadMs: 3, firstTokenMs: 900, heldMs: 400, replayedChars: 12 })
]

const encode = Schema.encodeSync(LlmError.LlmError)

describe("LlmError", () => {
  it("the cases below cover every error class", () => {
    assert.deepStrictEqual(every.map((e) => e._tag), LlmError.LlmError.members.map((member) => member._tag))
  })

  it("replacePartial keeps the class and every other field, and replaces only partial", () => {
    for (const error of every) {
      const replaced = LlmError.replacePartial(LlmError.replacePartial(error, received), whole)
      assert.strictEqual(Object.getPrototypeOf(replaced), Object.getPrototypeOf(error), error._tag)
      assert.deepStrictEqual(replaced.partial, whole, error._tag)
      assert.deepStrictEqual(encode(replaced), { ...encode(error), partial: whole }, error._tag)
      assert.isTrue(LlmError.isLlmError(replaced), error._tag)
    }
  })

  it("replacePartial keeps a BufferedStream's held text, and so its message", () => {
    const held = new LlmError.BufferedStream({ ...where, spreadMs: 3, firstTokenMs: 900, heldMs: 400, replayedChars: 12 })
    const replaced = LlmError.replacePartial(held, whole)
    assert.strictEqual(replaced._tag === "BufferedStream" ? replaced.heldMs : undefined, 400)
    assert.strictEqual(replaced.message, held.message)
  })

  it("replacePartial keeps a TransportError's cause itself", () => {
    const cause = new Error("ECONNRESET")
    const replaced = LlmError.replacePartial(new LlmError.TransportError({ ...where, reason: "reset", cause }), whole)
    assert.strictEqual(replaced._tag === "TransportError" ? replaced.cause : undefined, cause)
  })

  it("withPartial sets partial only on an error that has none", () => {
    for (const error of every) {
      const set = LlmError.withPartial(error, received)
      assert.deepStrictEqual(set.partial, received, error._tag)
      assert.strictEqual(LlmError.withPartial(set, whole), set, error._tag)
    }
  })

  it("isRetryable: rate limits, server errors, timeouts, transport failures and cut streams; a stream error as the provider said", () => {
    const expected: Record<LlmError.LlmError["_tag"], boolean> = {
      RateLimited: true,
      AuthenticationFailed: false,
      ContextLengthExceeded: false,
      InvalidRequest: false,
      ServerError: true,
      Timeout: true,
      TransportError: true,
      IncompleteStream: true,
      ProviderStreamError: true,
      DecodeError: false,
      MissingUsage: false,
      CircuitOpen: false,
      BufferedStream: false
    }
    for (const error of every) assert.strictEqual(LlmError.isRetryable(error), expected[error._tag], error._tag)
    const notRetryable = new LlmError.ProviderStreamError({ ...where, providerMessage: "invalid", retryable: false })
    assert.isFalse(LlmError.isRetryable(notRetryable))
  })

  it("isLlmError: a known tag with provider and model", () => {
    for (const error of every) assert.isTrue(LlmError.isLlmError(error), error._tag)
    assert.isTrue(LlmError.isLlmError({ _tag: "Timeout", provider: "p", model: "m" }))
    assert.isFalse(LlmError.isLlmError({ _tag: "Timeout", provider: "p" }))
    assert.isFalse(LlmError.isLlmError({ _tag: "Unknown", provider: "p", model: "m" }))
    assert.isFalse(LlmError.isLlmError(new Error("Timeout")))
    assert.isFalse(LlmError.isLlmError(null))
  })
})
