/**
 * `Policy.metrics`: time to first token, inter-token gaps, tokens/s, attempts, as a summary, Effect
 * metrics and a tracing span.
 */
import { assert, describe, it, layer } from "@effect/vitest"
import { Adapter, ChatRequest, Completion, LanguageModel, LlmError, Policy, StreamEvent } from "@sluice/core"
import { Emulator, Fault, Scenario } from "@sluice/emulator"
import {
  Deferred,
  Duration,
  Effect,
  Either,
  Exit,
  Fiber,
  Metric,
  MetricLabel,
  Option,
  Schedule,
  Stream,
  TestClock,
  Tracer
} from "effect"
import { modelFor, request, TestLayer } from "./support/onEmulator.js"
import { timed } from "./support/timed.js"

// ---------------------------------------------------------------------------------------------
// helpers

const text = StreamEvent.textDelta
const usage = StreamEvent.usage({ inputTokens: 3, outputTokens: 7, totalTokens: 10 })
const finish = StreamEvent.finish("stop", "stop")

/** Runs a stream to its end under the TestClock, advancing it by `totalMs`; gives the summary and the outcome. */
const runMeasured = (
  stream: Stream.Stream<StreamEvent.StreamEvent, LlmError.LlmError>,
  totalMs: number,
  options: Policy.MetricsOptions = {}
) =>
  Effect.gen(function*() {
    const summaries: Array<Policy.Summary> = []
    const measured = Policy.metrics({ ...options, onSummary: (s) => Effect.sync(() => summaries.push(s)) })(stream)
    const fiber = yield* Effect.fork(Effect.either(Stream.runCollect(measured)))
    yield* TestClock.adjust(Duration.millis(totalMs))
    const result = yield* Fiber.join(fiber)
    assert.strictEqual(summaries.length, 1)
    return { summary: summaries[0], result }
  })

const labels = (provider: string, model: string, ...more: ReadonlyArray<readonly [string, string]>) => [
  MetricLabel.make("provider", provider),
  MetricLabel.make("model", model),
  ...more.map(([k, v]) => MetricLabel.make(k, v))
]

interface RecordedSpan {
  readonly name: string
  readonly attributes: Map<string, unknown>
  readonly parent: Option.Option<Tracer.AnySpan>
  exit?: Exit.Exit<unknown, unknown>
}

/** A tracer that keeps every span it makes. */
const recordingTracer = () => {
  const spans: Array<RecordedSpan> = []
  const tracer = Tracer.make({
    span: (name, parent, context, links, startTime, kind) => {
      const attributes = new Map<string, unknown>()
      const record: RecordedSpan = { name, attributes, parent }
      spans.push(record)
      let status: Tracer.SpanStatus = { _tag: "Started", startTime }
      const span: Tracer.Span = {
        _tag: "Span",
        name,
        spanId: `span-${spans.length}`,
        traceId: "trace",
        parent,
        context,
        get status() {
          return status
        },
        attributes,
        links,
        sampled: true,
        kind,
        end: (endTime, exit) => {
          status = { _tag: "Ended", startTime, endTime, exit }
          record.exit = exit
        },
        attribute: (key, value) => void attributes.set(key, value),
        event: () => undefined,
        addLinks: () => undefined
      }
      return span
    },
    context: (f) => f()
  })
  return { spans, tracer }
}

describe("Policy.metrics", () => {
  it.effect("ttft, inter-token gaps, tokens/s and duration under the TestClock", () =>
    Effect.gen(function*() {
      const stream = timed([
        [40, [usage]], // usage first (continuous usage) is not a token
        [60, [text("a")]],
        [20, [text("b")]],
        [30, [text("c"), text("d")]],
        [0, [usage, finish]]
      ])
      const { result, summary } = yield* runMeasured(stream, 1000, { provider: "p-ttft", model: "m" })
      assert.isTrue(Either.isRight(result))
      assert.strictEqual(summary.ttftMs, 100)
      assert.strictEqual(summary.durationMs, 150)
      // Gaps 20, 30 and 0 (c and d arrived together).
      assert.deepStrictEqual(summary.interTokenMs, { p50: 20, p90: 30, max: 30 })
      assert.strictEqual(summary.outputTokens, 7)
      assert.isFalse(summary.outputTokensEstimated)
      assert.strictEqual(summary.tokensPerSecond, 7 * 1000 / 50)
      assert.deepStrictEqual(summary.usage, { inputTokens: 3, outputTokens: 7, totalTokens: 10 })
      assert.strictEqual(summary.finishReason, "stop")
      assert.strictEqual(summary.ending, "complete")
      assert.isUndefined(summary.error)
      assert.isUndefined(summary.buffered)
      assert.strictEqual(summary.provider, "p-ttft")
      // No policy inside recorded attempts: the one try is made up from what was seen.
      assert.strictEqual(summary.attempts.length, 1)
      assert.deepInclude(summary.attempts[0], { kind: "initial", events: 7, provider: "p-ttft", model: "m" })
    }))

  it.effect("without usage, output tokens are the token deltas (marked estimated)", () =>
    Effect.gen(function*() {
      const { summary } = yield* runMeasured(timed([[10, [text("a")]], [10, [text("b"), finish]]]), 100)
      assert.strictEqual(summary.outputTokens, 2)
      assert.isTrue(summary.outputTokensEstimated)
      assert.isNull(summary.usage)
      assert.strictEqual(summary.provider, "unknown")
    }))

  it.effect("a failure ends with the error; an interrupted or abandoned stream says so; onSummary once each", () =>
    Effect.gen(function*() {
      const failing = Stream.concat(
        timed([[10, [text("a")]]]),
        Stream.fail(new LlmError.ServerError({ provider: "p", model: "m", status: 502 }))
      )
      const failed = yield* runMeasured(failing, 100)
      assert.isTrue(Either.isLeft(failed.result))
      assert.strictEqual(failed.summary.ending, "failure")
      assert.strictEqual(failed.summary.error?._tag, "ServerError")
      assert.strictEqual(failed.summary.attempts[0].error?._tag, "ServerError")
      assert.strictEqual(failed.summary.ttftMs, 10)

      // The caller stops reading after the first token.
      const summaries: Array<Policy.Summary> = []
      yield* Effect.fork(
        Policy.metrics({ onSummary: (s) => Effect.sync(() => summaries.push(s)) })(
          timed([[10, [text("a")]], [10, [text("b")]], [10, [finish]]])
        ).pipe(Stream.take(1), Stream.runDrain)
      )
      yield* TestClock.adjust("100 millis")
      assert.strictEqual(summaries.length, 1)
      assert.strictEqual(summaries[0].ending, "interrupted")

      // The caller is interrupted while waiting.
      const fiber = yield* Effect.fork(
        Policy.metrics({ onSummary: (s) => Effect.sync(() => summaries.push(s)) })(timed([[1000, [text("a")]]])).pipe(Stream.runDrain)
      )
      yield* TestClock.adjust("10 millis")
      yield* Fiber.interrupt(fiber)
      assert.strictEqual(summaries.length, 2)
      assert.strictEqual(summaries[1].ending, "interrupted")
      assert.isNull(summaries[1].ttftMs)
      assert.isTrue(summaries[1].attempts[0].interrupted)
    }))

  it.effect("attempts recorded inside are collected, passed on to an outer collector, and their usage added up", () =>
    Effect.gen(function*() {
      const site = { provider: "p-attempts", model: "m" }
      const firstUsage = { inputTokens: 5, outputTokens: 2, totalTokens: 7 }
      const failing = Stream.fail(
        new LlmError.ServerError({ ...site, status: 503, partial: { ...Completion.empty, usage: firstUsage } })
      )
      const succeeding = timed([[5, [text("ok"), usage, finish]]])
      // What a retry does: the first try, then another marked as a retry, each recorded.
      const retried = Adapter.recordAttempt(failing, site).pipe(
        Stream.catchAll(() =>
          LanguageModel.unwrap(Effect.map(Adapter.current, (context) => Adapter.recordAttempt(succeeding, site, { ...context, attempt: { kind: "retry" } })))
        )
      )
      const outer: Array<Policy.Attempt> = []
      const { summary } = yield* runMeasured(retried, 100).pipe(
        Effect.provideService(Policy.Attempts, { record: (a) => outer.push(a) })
      )
      assert.deepStrictEqual(summary.attempts.map((a) => [a.kind, a.error?._tag]), [["initial", "ServerError"], ["retry", undefined]])
      assert.deepStrictEqual(outer, summary.attempts)
      assert.deepStrictEqual(summary.usage, { inputTokens: 3, outputTokens: 7, totalTokens: 10 })
      assert.deepStrictEqual(summary.totalUsage, { inputTokens: 8, outputTokens: 9, totalTokens: 17 })
    }))

  it.effect("updates the Effect metrics, tagged with provider and model", () =>
    Effect.gen(function*() {
      const stream = timed([[100, [text("a")]], [20, [text("b")]], [0, [usage, finish]]])
      yield* runMeasured(stream, 1000, { provider: "p-metrics", model: "m-metrics" })
      const tags = labels("p-metrics", "m-metrics")
      const ttft = yield* Metric.value(Metric.taggedWithLabels(Policy.instruments.timeToFirstToken, tags))
      assert.strictEqual(ttft.count, 1)
      assert.strictEqual(ttft.sum, 100)
      const gaps = yield* Metric.value(Metric.taggedWithLabels(Policy.instruments.interToken, tags))
      assert.strictEqual(gaps.count, 1)
      assert.strictEqual(gaps.sum, 20)
      const tokens = yield* Metric.value(Metric.taggedWithLabels(Policy.instruments.outputTokens, tags))
      assert.strictEqual(tokens.count, 7)
      const requests = yield* Metric.value(
        Metric.taggedWithLabels(Policy.instruments.requests, labels("p-metrics", "m-metrics", ["outcome", "complete"]))
      )
      assert.strictEqual(requests.count, 1)
      const attempts = yield* Metric.value(Metric.taggedWithLabels(
        Policy.instruments.attempts,
        labels("p-metrics", "m-metrics", ["kind", "initial"], ["outcome", "complete"])
      ))
      assert.strictEqual(attempts.count, 1)
    }))

  it.effect("runs each request in a span sluice.stream / sluice.complete with the figures as attributes", () =>
    Effect.gen(function*() {
      const { spans, tracer } = recordingTracer()
      const service = LanguageModel.fromStream({
        provider: "p-span",
        stream: () => timed([[50, [text("hi")]], [10, [usage, finish]]]),
        complete: () => Effect.succeed({ ...Completion.empty, text: "hi", usage: { inputTokens: 3, outputTokens: 7, totalTokens: 10 }, finishReason: "stop" as const })
      }).pipe(Policy.metrics())
      const request = ChatRequest.make({ model: "m-span", messages: [ChatRequest.user("hi")] })
      const fiber = yield* Effect.fork(Stream.runDrain(service.stream(request)).pipe(Effect.withTracer(tracer)))
      yield* TestClock.adjust("100 millis")
      yield* Fiber.join(fiber)
      yield* service.complete(request).pipe(Effect.withTracer(tracer))
      const stream = spans.find((s) => s.name === "sluice.stream")
      const complete = spans.find((s) => s.name === "sluice.complete")
      assert.isDefined(stream)
      assert.isDefined(complete)
      assert.strictEqual(stream!.attributes.get("sluice.provider"), "p-span")
      assert.strictEqual(stream!.attributes.get("sluice.model"), "m-span")
      assert.strictEqual(stream!.attributes.get("sluice.ttft_ms"), 50)
      assert.strictEqual(stream!.attributes.get("sluice.duration_ms"), 60)
      assert.strictEqual(stream!.attributes.get("sluice.output_tokens"), 7)
      assert.strictEqual(stream!.attributes.get("sluice.finish_reason"), "stop")
      assert.isTrue(stream!.exit !== undefined && Exit.isSuccess(stream!.exit))
      assert.strictEqual(complete!.attributes.get("sluice.model"), "m-span")
      assert.strictEqual(complete!.attributes.get("sluice.output_tokens"), 7)
    }))

  it.effect("withSummary gives the caller a handle to the summary", () =>
    Effect.gen(function*() {
      const { stream, summary } = yield* Policy.withSummary(timed([[30, [text("a")]], [0, [finish]]]), { provider: "p", model: "m" })
      const fiber = yield* Effect.fork(Stream.runDrain(stream))
      yield* TestClock.adjust("100 millis")
      yield* Fiber.join(fiber)
      const s = yield* summary
      assert.strictEqual(s.ttftMs, 30)
      assert.strictEqual(s.provider, "p")
      // The pipeable form too.
      const piped = yield* timed([[0, [finish]]]).pipe(Policy.withSummary())
      yield* Stream.runDrain(piped.stream)
      assert.strictEqual((yield* piped.summary).ending, "complete")
    }))
})

// ---------------------------------------------------------------------------------------------
// over HTTP

layer(TestLayer, { excludeTestServices: true })("Policy.metrics over HTTP", (it) => {
  it.effect("ttft is at least the emulator's first-token delay; gaps and usage are measured", () =>
    Effect.gen(function*() {
      const summaries: Array<Policy.Summary> = []
      const model = (yield* modelFor({ text: "one two three four five six", firstTokenDelayMs: 150, gapMs: 20 })).pipe(
        Policy.metrics({ onSummary: (s) => Effect.sync(() => summaries.push(s)) })
      )
      const completion = yield* Completion.fromStream(model.stream(request))
      assert.strictEqual(summaries.length, 1)
      const summary = summaries[0]
      assert.strictEqual(summary.provider, "emulator")
      assert.strictEqual(summary.model, "gpt-test")
      assert.isAtLeast(summary.ttftMs ?? 0, 145)
      assert.isBelow(summary.ttftMs ?? Infinity, 10_000)
      assert.isAtLeast(summary.durationMs, (summary.ttftMs ?? 0) + 5 * 15)
      assert.isNotNull(summary.interTokenMs)
      // Deltas 20 ms apart: at least one gap shows it (a loaded machine may read two at once).
      assert.isAtLeast(summary.interTokenMs!.max, 15)
      assert.deepStrictEqual(summary.usage, completion.usage)
      assert.isFalse(summary.outputTokensEstimated)
      assert.isNotNull(summary.tokensPerSecond)
      assert.strictEqual(summary.finishReason, "stop")
      assert.isUndefined(summary.buffered)
      assert.strictEqual(summary.attempts.length, 1)
      assert.isAbove(summary.attempts[0].events, 0)
      // The non-streaming call is measured too.
      yield* model.complete(request)
      assert.strictEqual(summaries.length, 2)
      assert.strictEqual(summaries[1].call, "complete")
      assert.deepStrictEqual(summaries[1].usage, completion.usage)
    }))

  it.effect("ttftMs and durationMs are whole milliseconds (the clock's reading is fractional)", () =>
    Effect.gen(function*() {
      const summaries: Array<Policy.Summary> = []
      const model = (yield* modelFor({ text: "one two three", firstTokenDelayMs: 30, gapMs: 7 })).pipe(
        Policy.metrics({ onSummary: (s) => Effect.sync(() => summaries.push(s)) })
      )
      for (let i = 0; i < 3; i++) yield* Completion.fromStream(model.stream(request))
      yield* model.complete(request)
      assert.strictEqual(summaries.length, 4)
      for (const summary of summaries) {
        assert.isTrue(summary.ttftMs === null || Number.isInteger(summary.ttftMs), `ttftMs ${summary.ttftMs}`)
        assert.isTrue(Number.isInteger(summary.durationMs), `durationMs ${summary.durationMs}`)
      }
      assert.deepStrictEqual(summaries.map((s) => [s.call, s.streamed]), [["stream", true], ["stream", true], ["stream", true], ["complete", false]])
    }))

  it.effect("outside retry, the attempts the adapter recorded are collected: 503 twice, then an answer", () =>
    Effect.gen(function*() {
      const summaries: Array<Policy.Summary> = []
      const outer: Array<Policy.Attempt> = []
      const scenario: Scenario.Scenario = { responseId: "metrics-retry", faults: [Fault.status({ status: 503, times: 2 })] }
      const model = (yield* modelFor(scenario)).pipe(
        Policy.retry({ schedule: Schedule.spaced("10 millis") }),
        Policy.metrics({ onSummary: (s) => Effect.sync(() => summaries.push(s)) })
      )
      const completion = yield* Completion.fromStream(model.stream(request)).pipe(
        Effect.provideService(Policy.Attempts, { record: (a) => outer.push(a) })
      )
      assert.strictEqual(completion.text, Scenario.defaultText)
      const summary = summaries[0]
      assert.deepStrictEqual(summary.attempts.map((a) => [a.kind, a.error?._tag]), [
        ["initial", "ServerError"],
        ["retry", "ServerError"],
        ["retry", undefined]
      ])
      assert.deepStrictEqual(outer, summary.attempts)
      assert.strictEqual(summary.ending, "complete")
      // The time to first token counts from the first try: the caller waited through the retries.
      assert.isAtLeast(summary.ttftMs ?? 0, 20)
    }))

  it.effect("interrupting the consumer aborts the request (client-closed) and the summary says interrupted", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator.Emulator
      const scenario: Scenario.Scenario = { extends: "long", gapMs: 50, responseId: "metrics-interrupt" }
      const summary = yield* Deferred.make<Policy.Summary>()
      const model = (yield* modelFor(scenario)).pipe(Policy.metrics({ onSummary: (s) => Deferred.succeed(summary, s) }))
      const first = yield* Deferred.make<void>()
      const fiber = yield* model.stream(request).pipe(Stream.runForEach(() => Deferred.succeed(first, undefined)), Effect.fork)
      yield* Deferred.await(first)
      yield* Fiber.interrupt(fiber)
      const key = Scenario.headers(scenario)[Scenario.HeaderName]
      const record = (yield* emulator.requests).find((r) => r.scenarioKey === key)
      assert.isDefined(record)
      assert.strictEqual((yield* emulator.awaitEnded(record!.id)).ending, "client-closed")
      assert.strictEqual((yield* Deferred.await(summary)).ending, "interrupted")
    }))
})
