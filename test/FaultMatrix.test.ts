/**
 * The fault matrix (issue 7, item 1): for each wire format and each fault the emulator can inject, the
 * exact typed error (its `_tag` and the fields a caller acts on: `ending`, `status`, `retryable`,
 * `phase`, `retryAfter`, …) and a `partial` that is exactly what the caller received — absent when
 * nothing was. The cases are generated from data; each group runs its cases concurrently.
 *
 * Besides the emulator's faults (which cut after content events), the wire bytes of a clean answer
 * are replayed from a raw server cut at every SSE event boundary and inside every event (mid-line
 * and inside each multi-byte UTF-8 character), so frames, finish, usage and end markers are cut too.
 */
import type * as HttpClient from "@effect/platform/HttpClient"
import { assert, layer } from "@effect/vitest"
import { ChatRequest, Completion, type LanguageModel, type LlmError, Policy, StreamEvent } from "@sluice/core"
import { Emulator, Fault, Scenario } from "@sluice/emulator"
import { Duration, Effect, Either, Schedule } from "effect"
import * as Http from "node:http"
import * as Adapters from "./support/adapters.js"
import { sendText } from "./support/emulatorClients.js"
import { serve } from "./support/loopback.js"
import { TestLayer } from "./support/onEmulator.js"

/**
 * The small answer every case starts from: reasoning, text with multi-byte characters (so default
 * mid-event cuts fall inside one), and a tool call whose arguments come in fragments. Content events:
 * 2 reasoning + 4 text + 1 call start + 3 argument fragments (OpenAI, Anthropic), or 2 + 4 + 1 whole call (Gemini).
 * The response id is fixed: Gemini's generated tool-call ids derive from it, so every case sees the same ids.
 */
const base: Scenario.Scenario = {
  reasoning: "Think first",
  text: "Héllo wörld, 你好 🌍",
  toolCalls: [{ name: "get_weather", arguments: "{\"city\":\"Zürich\"}" }],
  argumentsChunk: 7,
  responseId: "matrix"
}

/** What a case expects: a success (checked against the clean answer) or a typed failure. */
type Expect =
  | { readonly success: (completion: Completion.Completion, clean: Completion.Completion) => void }
  | {
    readonly error: LlmError.LlmError["_tag"]
    readonly retryable: boolean
    /** Fields of the error, compared with `deepStrictEqual`. */
    readonly fields?: Readonly<Record<string, unknown>>
  }

interface Case {
  readonly label: string
  readonly faults?: ReadonlyArray<Fault.Fault>
  /** Scenario fields over `base` (pacing, keep-alives). */
  readonly scenario?: Partial<Scenario.Scenario>
  readonly policy?: (model: LanguageModel.Service) => LanguageModel.Service
  /** `stream` (default) or the non-streaming `complete`. */
  readonly call?: "stream" | "complete"
  readonly expect: Expect
  /** Exactly this many content events (text, reasoning, tool-call deltas) reached the caller. */
  readonly tokens?: number
  /** At most this many (a TCP RST may drop data the client had not read yet). */
  readonly atMostTokens?: number
  /** How the emulator saw the request end. */
  readonly ending?: Emulator.Ending
  /** The answer differs from the clean one (a refusal): what arrived is not a prefix of the clean answer. */
  readonly otherAnswer?: true
}

/** What every case knows about its format: the clean answer, as the caller received it. */
interface Clean {
  readonly format: Adapters.Format
  readonly received: ReadonlyArray<StreamEvent.StreamEvent>
  readonly completion: Completion.Completion
  /** Content events of the clean answer. */
  readonly n: number
}

const requestFor = (format: Adapters.Format) =>
  ChatRequest.make({ model: format.model, messages: [ChatRequest.system("Be brief."), ChatRequest.user("What is the weather?")] })

const tokens = (events: ReadonlyArray<StreamEvent.StreamEvent>) => events.filter(StreamEvent.isToken).length

const lastWhere = <A>(items: ReadonlyArray<A>, f: (a: A) => boolean): A | undefined => {
  for (let i = items.length - 1; i >= 0; i--) if (f(items[i])) return items[i]
  return undefined
}

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i)

const fail = (tag: LlmError.LlmError["_tag"], retryable: boolean, fields?: Readonly<Record<string, unknown>>): Expect =>
  fields === undefined ? { error: tag, retryable } : { error: tag, retryable, fields }

const same: Expect = { success: (completion, clean) => assert.deepStrictEqual(completion, clean) }

/** The in-band error types each format uses: its default (transient) and a permanent one. */
const streamErrorTypes: Record<Adapters.FormatName, { readonly transient: string; readonly permanent: string }> = {
  openai: { transient: "server_error", permanent: "invalid_request_error" },
  anthropic: { transient: "overloaded_error", permanent: "invalid_request_error" },
  gemini: { transient: "INTERNAL", permanent: "INVALID_ARGUMENT" }
}

/** How a missing finish reason shows: OpenAI and Anthropic still send their end marker, Gemini has none. */
const dropFinishEnding: Record<Adapters.FormatName, string> = {
  openai: "done-without-finish",
  anthropic: "done-without-finish",
  gemini: "eof"
}

const groups: ReadonlyArray<readonly [name: string, cases: (clean: Clean) => ReadonlyArray<Case>]> = [
  [
    "truncation after every content event (0..N, and past N)",
    ({ n }) =>
      range(0, n + 1).map((after) => ({
        label: `truncate(${after})`,
        faults: [Fault.truncate(after)],
        expect: fail("IncompleteStream", true, { ending: "eof" }),
        tokens: Math.min(after, n)
      }))
  ],
  [
    "truncation inside the next event: mid-line and mid-UTF-8, several byte counts",
    ({ n }) =>
      [...new Set([0, 1, Math.floor(n / 2), n])].flatMap((after) =>
        [1, 6, 17, 40, undefined].map((bytes) => ({
          label: `truncateMidEvent(${after}, ${bytes ?? "inside a UTF-8 character, else mid-line"})`,
          faults: [Fault.truncateMidEvent(after, bytes === undefined ? {} : { bytes })],
          expect: fail("IncompleteStream", true, { ending: "ended-mid-event" }),
          tokens: Math.min(after, n)
        }))
      )
  ],
  [
    "missing end marker ([DONE], message_stop) and missing finish reason",
    ({ format, n }) => [
      { label: "dropDone", faults: [Fault.dropDone()], expect: same },
      {
        label: "dropFinish",
        faults: [Fault.dropFinish()],
        expect: fail("IncompleteStream", true, { ending: dropFinishEnding[format.name] }),
        tokens: n
      },
      {
        label: "dropFinish + dropDone",
        faults: [Fault.dropFinish(), Fault.dropDone()],
        expect: fail("IncompleteStream", true, { ending: "eof" }),
        tokens: n
      },
      { label: "dropDone (complete)", faults: [Fault.dropDone()], call: "complete", expect: same },
      {
        label: "dropFinish (complete)",
        faults: [Fault.dropFinish()],
        call: "complete",
        expect: fail("IncompleteStream", true, { ending: "eof" })
      }
    ]
  ],
  [
    "an error event in the stream, retryable by its type or not",
    ({ format, n }) =>
      [0, 2, n].flatMap((after) =>
        (["transient", "permanent"] as const).map((kind) => {
          const errorType = streamErrorTypes[format.name][kind]
          return {
            label: `errorEvent(${after}, ${errorType})`,
            faults: [Fault.errorEvent(after, { errorType, message: "The model failed mid-answer." })],
            expect: fail("ProviderStreamError", kind === "transient", {
              retryable: kind === "transient",
              errorType,
              providerMessage: "The model failed mid-answer."
            }),
            tokens: after
          }
        })
      )
  ],
  [
    "every HTTP status, streamed and with complete",
    () => {
      const statuses: ReadonlyArray<readonly [string, Fault.Status, Expect]> = [
        ["400", Fault.status({ status: 400 }), fail("InvalidRequest", false, { status: 400 })],
        ["400 context length", Fault.contextLengthExceeded(), fail("ContextLengthExceeded", false)],
        ["401", Fault.status({ status: 401 }), fail("AuthenticationFailed", false, { status: 401 })],
        ["403", Fault.status({ status: 403 }), fail("AuthenticationFailed", false, { status: 403 })],
        ["404", Fault.status({ status: 404 }), fail("InvalidRequest", false, { status: 404 })],
        ["408", Fault.status({ status: 408 }), fail("ServerError", true, { status: 408 })],
        ["413", Fault.status({ status: 413 }), fail("InvalidRequest", false, { status: 413 })],
        ["422", Fault.status({ status: 422 }), fail("InvalidRequest", false, { status: 422 })],
        ["429", Fault.status({ status: 429 }), fail("RateLimited", true, { retryAfter: undefined })],
        ["429 Retry-After: 2", Fault.status({ status: 429, retryAfter: 2 }), fail("RateLimited", true, { retryAfter: Duration.seconds(2) })],
        ["429 retry-after-ms: 1500", Fault.status({ status: 429, retryAfterMs: 1500 }), fail("RateLimited", true, { retryAfter: Duration.millis(1500) })],
        ["500", Fault.status({ status: 500 }), fail("ServerError", true, { status: 500 })],
        ["502", Fault.status({ status: 502 }), fail("ServerError", true, { status: 502 })],
        ["503", Fault.status({ status: 503, retryAfter: 1 }), fail("ServerError", true, { status: 503 })],
        ["504", Fault.status({ status: 504 }), fail("ServerError", true, { status: 504 })],
        ["529", Fault.status({ status: 529 }), fail("ServerError", true, { status: 529 })]
      ]
      return statuses.flatMap(([label, fault, expect]) =>
        (["stream", "complete"] as const).map((call) => ({ label: `${label} (${call})`, faults: [fault], call, expect, tokens: 0 }))
      )
    }
  ],
  [
    "stall (idle timeout) and headers only (first-token timeout)",
    () => {
      // Bounds are short but not tight. `idle` alone also bounds the wait for the first token, and under
      // load (another test run in parallel on two cores) the first events may themselves come later than
      // that: then fewer events arrived before the timeout, which is as legitimate, so a stall after 2
      // events asserts at most 2 (and, as always, a partial that is exactly what arrived).
      const idle = (ms: number) => (m: LanguageModel.Service) => m.pipe(Policy.timeout({ idle: Duration.millis(ms) }))
      const firstToken = (ms: number) => (m: LanguageModel.Service) => m.pipe(Policy.timeout({ firstToken: Duration.millis(ms) }))
      const timeout = (phase: LlmError.TimeoutPhase, ms: number) => fail("Timeout", true, { phase, after: Duration.millis(ms) })
      return [
        { label: "stall(0) with idle 400 ms", faults: [Fault.stall(0)], policy: idle(400), expect: timeout("idle", 400), tokens: 0, ending: "client-closed" },
        { label: "stall(2) with idle 600 ms", faults: [Fault.stall(2)], policy: idle(600), expect: timeout("idle", 600), atMostTokens: 2, ending: "client-closed" },
        {
          label: "stall(2) with keep-alives every 30 ms: keep-alives are not events",
          faults: [Fault.stall(2)],
          scenario: { keepAlive: 30 },
          policy: idle(600),
          expect: timeout("idle", 600),
          atMostTokens: 2,
          ending: "client-closed"
        },
        { label: "stall(0) with first-token 400 ms", faults: [Fault.stall(0)], policy: firstToken(400), expect: timeout("first-token", 400), tokens: 0, ending: "client-closed" },
        { label: "headersOnly with first-token 400 ms", faults: [Fault.headersOnly()], policy: firstToken(400), expect: timeout("first-token", 400), tokens: 0, ending: "client-closed" },
        { label: "headersOnly with idle 400 ms", faults: [Fault.headersOnly()], policy: idle(400), expect: timeout("idle", 400), tokens: 0, ending: "client-closed" }
      ]
    }
  ],
  [
    "connection reset mid-body (FIN without the chunked terminator, and TCP RST)",
    ({ n }) =>
      [0, 1, n].flatMap((after) => [
        {
          label: `reset(${after})`,
          faults: [Fault.reset(after)],
          expect: fail("TransportError", true),
          // everything sent before a FIN is delivered
          tokens: after,
          ending: "reset" as const
        },
        {
          label: `reset(${after}, rst)`,
          faults: [Fault.reset(after, { rst: true })],
          expect: fail("TransportError", true),
          // an RST may discard what the client had not read yet: less, never more, and never reordered
          atMostTokens: after,
          ending: "reset" as const
        }
      ])
  ],
  [
    "malformed JSON and wrong schema at every position (finish included)",
    ({ n }) =>
      [...new Set([1, 2, Math.ceil(n / 2), n, n + 1])].flatMap((at): Array<Case> => [
        {
          label: `malformedJson(${at})`,
          faults: [Fault.malformedJson(at)],
          expect: fail("DecodeError", false),
          tokens: Math.min(at - 1, n)
        },
        {
          label: `wrongSchema(${at})`,
          faults: [Fault.wrongSchema(at)],
          expect: fail("DecodeError", false),
          tokens: Math.min(at - 1, n)
        }
      ]).concat([
        { label: "malformedJson (complete)", faults: [Fault.malformedJson(1)], call: "complete", expect: fail("DecodeError", false) },
        { label: "wrongSchema (complete)", faults: [Fault.wrongSchema(1)], call: "complete", expect: fail("DecodeError", false) }
      ])
  ],
  [
    "usage omitted or inflated, buffered replay: complete answers",
    (): Array<Case> => [
      {
        label: "omitUsage",
        faults: [Fault.omitUsage()],
        expect: { success: (completion, clean) => assert.deepStrictEqual(completion, { ...clean, usage: null }) }
      },
      {
        label: "omitUsage (complete)",
        faults: [Fault.omitUsage()],
        call: "complete",
        expect: { success: (completion, clean) => assert.deepStrictEqual(completion, { ...clean, usage: null }) }
      },
      {
        label: "omitUsage with usage required",
        faults: [Fault.omitUsage()],
        policy: (m) => m.pipe(Policy.guard({ requireUsage: true })),
        expect: fail("MissingUsage", false)
      },
      {
        label: "inflateUsage(3)",
        faults: [Fault.inflateUsage(3)],
        otherAnswer: true,
        expect: {
          success: (completion, clean) => {
            const u = clean.usage
            assert.isNotNull(u)
            if (u === null) return
            const times3 = (x: number | undefined) => (x === undefined ? undefined : x * 3)
            assert.deepStrictEqual(completion, {
              ...clean,
              usage: Completion.usageFromEvent(StreamEvent.usage({
                inputTokens: u.inputTokens * 3,
                outputTokens: u.outputTokens * 3,
                totalTokens: u.totalTokens * 3,
                ...(u.cachedInputTokens === undefined ? {} : { cachedInputTokens: times3(u.cachedInputTokens) ?? 0 }),
                ...(u.reasoningTokens === undefined ? {} : { reasoningTokens: times3(u.reasoningTokens) ?? 0 })
              }))
            })
          }
        }
      },
      { label: "bufferedReplay", faults: [Fault.bufferedReplay()], scenario: { gapMs: 5 }, expect: same }
    ]
  ],
  [
    "a provider echoing the key, a blocked prompt",
    ({ format }) => {
      const echo: Expect = {
        error: "AuthenticationFailed",
        retryable: false,
        fields: { status: format.name === "gemini" ? 403 : 401 }
      }
      const blocked: ReadonlyArray<Case> = format.name === "openai"
        ? [
          // Azure's prompt filter: HTTP 400 with code content_filter
          { label: "promptBlocked", faults: [Fault.promptBlocked()], expect: fail("InvalidRequest", false, { status: 400, code: "content_filter" }), tokens: 0 },
          { label: "promptBlocked (complete)", faults: [Fault.promptBlocked()], call: "complete", expect: fail("InvalidRequest", false, { status: 400, code: "content_filter" }) }
        ]
        : format.name === "gemini"
        ? [
          // promptFeedback.blockReason: a typed failure, not an empty success
          { label: "promptBlocked", faults: [Fault.promptBlocked()], expect: fail("InvalidRequest", false, { code: "SAFETY" }), tokens: 0 },
          { label: "promptBlocked(PROHIBITED_CONTENT)", faults: [Fault.promptBlocked({ reason: "PROHIBITED_CONTENT" })], expect: fail("InvalidRequest", false, { code: "PROHIBITED_CONTENT" }), tokens: 0 },
          { label: "promptBlocked (complete)", faults: [Fault.promptBlocked()], call: "complete", expect: fail("InvalidRequest", false, { code: "SAFETY" }) }
        ]
        : [
          // Anthropic answers a refused prompt with stop_reason "refusal": an answer that says so
          {
            label: "promptBlocked",
            faults: [Fault.promptBlocked()],
            otherAnswer: true,
            expect: {
              success: (completion) => {
                assert.deepStrictEqual({ ...completion, usage: null }, { text: "", reasoning: "", toolCalls: [], usage: null, finishReason: "content-filter" })
                assert.strictEqual(completion.usage?.outputTokens, 0)
              }
            },
            tokens: 0
          },
          {
            label: "promptBlocked with failOn content-filter",
            faults: [Fault.promptBlocked()],
            otherAnswer: true,
            policy: (m) => m.pipe(Policy.guard({ failOn: ["content-filter"] })),
            expect: fail("InvalidRequest", false, { code: "content-filter" }),
            tokens: 0
          }
        ]
      return [
        { label: "echoKey", faults: [Fault.echoKey()], expect: echo, tokens: 0 },
        { label: "echoKey (complete)", faults: [Fault.echoKey()], call: "complete", expect: echo },
        ...blocked
      ]
    }
  ]
]

/** Runs one case; gives its problems (empty when it passed). */
const runCase = (
  emulator: Emulator.Service,
  clean: Clean,
  c: Case
): Effect.Effect<ReadonlyArray<string>, never, HttpClient.HttpClient> => {
  const format = clean.format
  const where = { provider: format.name, model: format.model }
  const label = `${format.name} ${c.label}`
  const scenario: Scenario.Scenario = { ...base, ...c.scenario, faults: c.faults ?? [] }
  const call = c.call ?? "stream"
  return Effect.gen(function*() {
    const m = yield* format.make(emulator.url, scenario)
    const model = c.policy === undefined ? m : c.policy(m)
    const request = requestFor(format)
    const outcome: Adapters.Outcome = call === "stream"
      ? yield* Adapters.consume(model.stream(request))
      : yield* Effect.map(Effect.either(model.complete(request)), (result) => ({
        received: [],
        completion: Either.isRight(result) ? result.right : Completion.empty,
        error: Either.isLeft(result) ? result.left : undefined,
        elapsedMs: 0
      }))
    const expect = c.expect
    if ("success" in expect) {
      expect.success(Adapters.expectSuccess(outcome, label), clean.completion)
    } else {
      const error = outcome.error
      if (error === undefined || error._tag !== expect.error) {
        assert.fail(`expected ${expect.error}, got ${error === undefined ? `success ${JSON.stringify(outcome.completion)}` : `${error._tag}: ${error.message}`}`)
      }
      if (call === "stream") {
        Adapters.assertHonest(outcome, error, where, label)
      } else {
        // `complete` received nothing: only a guard failure carries the (whole) non-streamed answer
        if (error._tag !== "IncompleteStream") assert.isUndefined(error.partial, "partial of complete")
        assert.notInclude(JSON.stringify(error), Adapters.KEY)
      }
      assert.strictEqual(Adapters.retryable(error), expect.retryable, "retryable")
      for (const [key, value] of Object.entries(expect.fields ?? {})) {
        assert.deepStrictEqual((error as unknown as Record<string, unknown>)[key], value, key)
      }
      if (error._tag === "Timeout") {
        // deadlines are kept: not early, and not much late (generous: loaded CI machines)
        const ms = Duration.toMillis(error.after)
        assert.isAtLeast(outcome.elapsedMs, ms - 20, "timed out early")
        assert.isBelow(outcome.elapsedMs, ms + 3000, "timed out late")
      }
    }
    if (call === "stream" && c.otherAnswer !== true) {
      // nothing is lost, reordered or invented: what arrived is the clean answer's beginning
      assert.deepStrictEqual(outcome.received, clean.received.slice(0, outcome.received.length), "received is a prefix of the clean answer")
      if (c.tokens !== undefined) assert.strictEqual(tokens(outcome.received), c.tokens, "tokens received")
      if (c.atMostTokens !== undefined) assert.isAtMost(tokens(outcome.received), c.atMostTokens, "tokens received")
    }
    if (c.ending !== undefined) {
      const key = Scenario.encodeHeader(scenario)
      // a request aborted by a timeout may reach the emulator after the caller saw the failure
      const record = yield* emulator.awaitRequests(1).pipe(
        Effect.zipRight(emulator.requests),
        Effect.map((records) => lastWhere(records, (r) => r.scenarioKey === key && r.path.startsWith(format.streamPath))),
        Effect.flatMap((found) => (found === undefined ? Effect.fail("not yet") : Effect.succeed(found))),
        Effect.retry({ schedule: Schedule.spaced("20 millis"), times: 150 }),
        Effect.orElseSucceed(() => undefined)
      )
      assert.isDefined(record, "the emulator logged the request")
      if (record === undefined) return
      const ended = yield* emulator.awaitEnded(record.id).pipe(
        Effect.timeoutFail({ duration: "5 seconds", onTimeout: () => new Error("the emulator never saw the request end") })
      )
      assert.strictEqual(ended.ending, c.ending, "how the emulator saw it end")
    }
  }).pipe(
    Effect.as<ReadonlyArray<string>>([]),
    Effect.catchAllCause((cause) => Effect.succeed([`${label}: ${cause.toString().split("\n")[0]}`]))
  )
}

/** The clean answer of `base` in a format, as the caller receives it. */
const cleanRun = (emulator: Emulator.Service, format: Adapters.Format) =>
  Effect.gen(function*() {
    const m = yield* format.make(emulator.url, base)
    const outcome = yield* Adapters.consume(m.stream(requestFor(format)))
    const completion = Adapters.expectSuccess(outcome, `${format.name} clean`)
    const key = Scenario.encodeHeader(base)
    const records = yield* emulator.requests
    const record = lastWhere(records, (r) => r.scenarioKey === key && r.stream)
    // the emulator's count of content events and the caller's count of tokens agree
    assert.strictEqual(tokens(outcome.received), record?.events)
    return { format, received: outcome.received, completion, n: tokens(outcome.received) } satisfies Clean
  })

/** The number of cases run, by format (checked at the end: the matrix is as large as intended). */
const counted: Record<string, number> = {}

// ---------------------------------------------------------------------------------------------
// replaying the wire bytes, cut anywhere

/** A server that answers every request with the first `x-replay-cut` bytes of `x-replay-body`'s body, then ends cleanly. */
const replayServer = (bodies: ReadonlyMap<string, Uint8Array>) =>
  Effect.suspend(() => {
    const server = Http.createServer((req, res) => {
      req.resume()
      req.on("end", () => {
        const body = bodies.get(String(req.headers["x-replay-body"]))
        const cut = Number(req.headers["x-replay-cut"])
        if (body === undefined || !Number.isInteger(cut)) {
          res.writeHead(500).end()
          return
        }
        res.writeHead(200, { "content-type": "text/event-stream" })
        res.end(body.subarray(0, cut))
      })
    })
    return Effect.as(serve(server), server)
  })

/** Byte offsets where each SSE event of a body ends (the format's blank-line separator included). */
const eventEnds = (body: Uint8Array, separator: string): Array<number> => {
  const text = Buffer.from(body)
  const sep = Buffer.from(separator)
  const ends: Array<number> = []
  let at = 0
  for (;;) {
    const i = text.indexOf(sep, at)
    if (i === -1) break
    ends.push(i + sep.length)
    at = i + sep.length
  }
  assert.strictEqual(ends[ends.length - 1], body.length, "the body ends with a whole event")
  return ends
}

/** Cuts strictly inside the event [start, end): one byte in, mid-line near its end, and inside each multi-byte character. */
const insideCuts = (body: Uint8Array, start: number, end: number): Array<number> => {
  const cuts = new Set<number>([start + 1, end - 2])
  // right after an event's first line when it is not the last (Anthropic's `event:` line)
  const firstLineEnd = body.indexOf(10, start)
  if (firstLineEnd > start && firstLineEnd < end - 2) cuts.add(firstLineEnd + 1)
  for (let i = start; i < end - 2; i++) {
    if (body[i] >= 0xc0) cuts.add(i + 1) // right after a lead byte
    if (body[i] >= 0xf0) cuts.add(i + 3) // and before the last byte of a 4-byte character
  }
  return [...cuts].filter((cut) => cut > start && cut < end - 1).sort((a, b) => a - b)
}

const replayRun = (url: string, format: Adapters.Format, cut: number) =>
  Effect.flatMap(
    format.make(url, undefined, { headers: { "x-replay-body": format.name, "x-replay-cut": String(cut) } }),
    (m) => Adapters.consume(m.stream(requestFor(format)))
  )

for (const format of Adapters.formats) {
  const where = { provider: format.name, model: format.model }

  layer(TestLayer, { excludeTestServices: true })(`Fault matrix: ${format.name}`, (it) => {
    for (const [group, generate] of groups) {
      it.effect(group, () =>
        Effect.gen(function*() {
          const emulator = yield* Emulator.Emulator
          const clean = yield* cleanRun(emulator, format)
          const cases = generate(clean)
          assert.isAbove(cases.length, 0)
          assert.strictEqual(new Set(cases.map((c) => c.label)).size, cases.length, "labels are unique")
          const problems = yield* Effect.forEach(cases, (c) => runCase(emulator, clean, c), { concurrency: 8 })
          counted[format.name] = (counted[format.name] ?? 0) + cases.length
          assert.deepStrictEqual(problems.flat(), [])
        }))
    }

    it.scoped("the wire bytes cut at every SSE event boundary and inside every event", () =>
      Effect.gen(function*() {
        const emulator = yield* Emulator.Emulator
        // the clean answer's exact bytes, as the emulator writes them
        const body = new TextEncoder().encode(yield* sendText(format.name, emulator, { scenario: base }))
        const server = yield* replayServer(new Map([[format.name, body]]))
        const address = server.address()
        const url = `http://127.0.0.1:${typeof address === "object" && address !== null ? address.port : 0}`
        const ends = eventEnds(body, format.name === "gemini" ? "\r\n\r\n" : "\n\n")
        const boundaries = [0, ...ends]
        // at each boundary: what the caller received from the whole events before it
        const atBoundary = yield* Effect.forEach(boundaries, (cut) => replayRun(url, format, cut), { concurrency: 8 })
        const whole = atBoundary[atBoundary.length - 1]
        Adapters.expectSuccess(whole, "the whole body")
        const problems: Array<string> = []
        const check = (label: string, f: () => void) => {
          try {
            f()
          } catch (e) {
            problems.push(`${format.name} ${label}: ${e instanceof Error ? e.message : String(e)}`)
          }
        }
        const finished = (received: ReadonlyArray<StreamEvent.StreamEvent>) => received.some((e) => e._tag === "Finish")
        atBoundary.forEach((outcome, k) =>
          check(`cut after ${k} events (byte ${boundaries[k]})`, () => {
            // each boundary adds to what the one before gave: nothing lost, nothing reordered
            assert.deepStrictEqual(outcome.received, whole.received.slice(0, outcome.received.length), "a prefix of the whole")
            if (k > 0) assert.deepStrictEqual(outcome.received.slice(0, atBoundary[k - 1].received.length), atBoundary[k - 1].received)
            // once the finish arrived the answer is complete (a missing usage chunk or end marker is tolerated)
            if (finished(outcome.received)) Adapters.expectSuccess(outcome, "after the finish")
            else assert.strictEqual(Adapters.expectFailure(outcome, "IncompleteStream", where).ending, "eof")
          })
        )
        // inside event k: exactly what the boundary before it gave (an unfinished event is never dispatched)
        const inside = ends.flatMap((end, k) => insideCuts(body, boundaries[k], end).map((cut) => ({ k, cut })))
        const outcomes = yield* Effect.forEach(inside, ({ cut }) => replayRun(url, format, cut), { concurrency: 8 })
        outcomes.forEach((outcome, i) => {
          const { cut, k } = inside[i]
          check(`cut inside event ${k + 1} at byte ${cut}`, () => {
            assert.deepStrictEqual(outcome.received, atBoundary[k].received, "the same as the boundary before")
            if (finished(outcome.received)) Adapters.expectSuccess(outcome, "after the finish")
            else assert.strictEqual(Adapters.expectFailure(outcome, "IncompleteStream", where).ending, "ended-mid-event")
          })
        })
        counted[format.name] = (counted[format.name] ?? 0) + boundaries.length + inside.length
        assert.deepStrictEqual(problems, [])
        assert.isAbove(inside.length, ends.length * 2, "cuts inside every event")
      }))

    it.effect("the matrix is as large as intended", () =>
      Effect.sync(() => {
        // every group above ran (vitest runs a file's tests in order)
        assert.isAbove(counted[format.name] ?? 0, 100)
      }))
  })
}

layer(TestLayer, { excludeTestServices: true })("Fault matrix: timeouts", (it) => {
  // A regression guard: the watchdog once slept until the first-token deadline and missed a stall right after the first token.
  it.effect("a stall after the first token is an idle Timeout within `idle`, even with a longer firstToken bound", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator.Emulator
      const m = yield* Adapters.openai.make(emulator.url, { text: "one two three four", faults: [Fault.stall(2)] })
      const outcome = yield* Adapters.consume(m.pipe(Policy.timeout({ firstToken: "2 seconds", idle: "200 millis" })).stream(requestFor(Adapters.openai)))
      const error = Adapters.expectFailure(outcome, "Timeout", { provider: "openai", model: Adapters.openai.model })
      assert.strictEqual(error.phase, "idle")
      assert.strictEqual(tokens(outcome.received), 2)
      assert.isBelow(outcome.elapsedMs, 1500)
    }))
})
