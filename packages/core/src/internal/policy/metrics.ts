/**
 * Measurements of every request: time to first token, inter-token gaps, tokens per second, attempts,
 * as Effect metrics, a tracing span and a summary value.
 * @internal
 */
import * as Cause from "effect/Cause"
import * as Chunk from "effect/Chunk"
import type * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FiberRef from "effect/FiberRef"
import { dual } from "effect/Function"
import * as Metric from "effect/Metric"
import * as MetricBoundaries from "effect/MetricBoundaries"
import * as MetricLabel from "effect/MetricLabel"
import * as Option from "effect/Option"
import { hasProperty } from "effect/Predicate"
import * as Stream from "effect/Stream"
import * as Tracer from "effect/Tracer"
import type { Completion, Usage } from "../../Completion.js"
import { usageFromEvent } from "../../Completion.js"
import * as LanguageModel from "../../LanguageModel.js"
import type { LlmError } from "../../LlmError.js"
import type { FinishReason, StreamEvent } from "../../StreamEvent.js"
import type * as Adapter from "../../Adapter.js"
import type { Attempt, Measured, MetricsOptions, StreamPolicy, Summary } from "../../Policy.js"
import { type Site, streamPolicy } from "./builders.js"
import type { PolicyContext } from "./context.js"
import {
  type BufferedVerdict,
  Burst,
  checkBuffered,
  defaultCriterion,
  nowMs
} from "./measure.js"

const ms = (start: number, factor: number, count: number) => MetricBoundaries.exponential({ start, factor, count })

/** The implementation of `Policy.instruments`. */
export const instruments = {
  /** Time to first token, per streamed request. */
  timeToFirstToken: Metric.histogram("sluice_time_to_first_token_ms", ms(10, 2, 14), "time to the first token (ms)"),
  /** The gap before each arrival of token deltas (deltas handed over in one read are one arrival). */
  interToken: Metric.histogram("sluice_inter_token_ms", ms(1, 2, 14), "gap before each arrival of token deltas (ms)"),
  /** Duration of each request. */
  duration: Metric.histogram("sluice_request_duration_ms", ms(10, 2, 16), "duration of the request (ms)"),
  /** Output tokens per second of generation, per request. */
  tokensPerSecond: Metric.histogram("sluice_tokens_per_second", ms(1, 2, 14), "output tokens per second of generation"),
  /** Requests, tagged also with `outcome`: `complete`, `interrupted` or the error's tag. */
  requests: Metric.counter("sluice_requests_total", { description: "requests by outcome", incremental: true }),
  /** Output tokens (from usage, or counted deltas). */
  outputTokens: Metric.counter("sluice_output_tokens_total", { description: "output tokens", incremental: true }),
  /** Attempts, tagged with the attempt's own provider and model, `kind` and `outcome`. */
  attempts: Metric.counter("sluice_attempts_total", { description: "attempts by kind and outcome", incremental: true }),
  /** Streams flagged as buffered replays. */
  bufferedStreams: Metric.counter("sluice_buffered_streams_total", { description: "streams that looked buffered", incremental: true })
}

/**
 * Inter-token gaps of one stream: the gap before each arrival of token deltas (the first delta of a read),
 * in a growable typed array (8 bytes each, sorted once at the end), and a count of the deltas that arrived
 * with another (a gap of 0; most of them, on a fast stream).
 */
class Gaps {
  private values = new Float64Array(64)
  private count = 0
  zeros = 0
  get length(): number {
    return this.zeros + this.count
  }
  push(gap: number): void {
    if (this.count === this.values.length) {
      const grown = new Float64Array(this.values.length * 2)
      grown.set(this.values)
      this.values = grown
    }
    this.values[this.count++] = gap
  }
  /** The gaps before each arrival, sorted. */
  sorted(): Float64Array {
    return this.values.slice(0, this.count).sort()
  }
}

/** Nearest-rank percentile of the gaps: `zeros` zeros followed by the sorted non-zero ones (not both empty). */
const percentile = (zeros: number, sorted: Float64Array, p: number): number => {
  const rank = Math.max(0, Math.ceil(p * (zeros + sorted.length)) - 1)
  return rank < zeros ? 0 : sorted[rank - zeros]
}

const round = (n: number): number => Math.round(n * 1000) / 1000

type Failure = NonNullable<Summary["error"]>

interface Ending {
  readonly ending: Summary["ending"]
  readonly error?: Failure | undefined
  readonly interrupted: boolean
}

const endingOf = (exit: Exit.Exit<unknown, LlmError>, completed: boolean): Ending => {
  if (Exit.isSuccess(exit)) return completed ? { ending: "complete", interrupted: false } : { ending: "interrupted", interrupted: true }
  const failure = Cause.failureOption(exit.cause)
  if (Option.isSome(failure)) {
    return { ending: "failure", error: { _tag: failure.value._tag, message: failure.value.message }, interrupted: false }
  }
  return Cause.isInterruptedOnly(exit.cause) ? { ending: "interrupted", interrupted: true } : { ending: "failure", interrupted: false }
}

const addUsage = (a: Usage, b: Usage): Usage => {
  const sum: { -readonly [K in keyof Usage]: Usage[K] } = {
    inputTokens: a.inputTokens + b.inputTokens,
    outputTokens: a.outputTokens + b.outputTokens,
    totalTokens: a.totalTokens + b.totalTokens
  }
  if (a.cachedInputTokens !== undefined || b.cachedInputTokens !== undefined) {
    sum.cachedInputTokens = (a.cachedInputTokens ?? 0) + (b.cachedInputTokens ?? 0)
  }
  if (a.reasoningTokens !== undefined || b.reasoningTokens !== undefined) {
    sum.reasoningTokens = (a.reasoningTokens ?? 0) + (b.reasoningTokens ?? 0)
  }
  return sum
}

const totalUsageOf = (attempts: ReadonlyArray<Attempt>, usage: Usage | null): Usage | null => {
  let total: Usage | null = null
  for (const attempt of attempts) {
    if (attempt.usage !== undefined) total = total === null ? attempt.usage : addUsage(total, attempt.usage)
  }
  return total ?? usage
}

/** One request's measuring state: the attempt collector, the buffered verdict, and the end. */
class Request {
  readonly recorded: Array<Attempt> = []
  verdict: BufferedVerdict | undefined
  readonly startMs: number
  readonly startedAt: number
  readonly collector: Adapter.AttemptSink
  readonly reports = (verdict: BufferedVerdict): void => {
    this.verdict = verdict
  }

  constructor(
    readonly site: Site,
    readonly call: Summary["call"],
    readonly clock: Clock.Clock,
    outer: Adapter.AttemptSink | undefined,
    readonly info: Adapter.AttemptInfo | undefined,
    readonly labels: ReadonlyArray<MetricLabel.MetricLabel>,
    readonly span: Option.Option<Tracer.Span>
  ) {
    this.startMs = nowMs(clock)
    this.startedAt = clock.unsafeCurrentTimeMillis()
    this.collector = {
      record: (attempt) => {
        this.recorded.push(attempt)
        if (outer !== undefined) outer.record(attempt)
      }
    }
  }

  /** Builds the summary, sets the span attributes and updates the metrics. */
  finish(figures: {
    readonly exit: Exit.Exit<unknown, LlmError>
    readonly completed: boolean
    readonly firstTokenMs: number | undefined
    readonly lastTokenMs: number
    readonly gaps: Gaps | undefined
    readonly chars: number
    readonly deltas: number
    readonly burst: Burst
    readonly events: number
    readonly usage: Usage | null
    readonly finishReason: FinishReason | null
  }): Summary {
    const endMs = nowMs(this.clock)
    const { ending, error, interrupted } = endingOf(figures.exit, figures.completed)
    // Exact here (tokens per second divides by them), whole milliseconds in the summary.
    const durationMs = endMs - this.startMs
    const ttftMs = figures.firstTokenMs === undefined ? null : figures.firstTokenMs - this.startMs
    let interTokenMs: Summary["interTokenMs"] = null
    const gaps = figures.gaps
    const sorted = gaps === undefined || gaps.length === 0 ? undefined : gaps.sorted()
    const zeros = gaps === undefined ? 0 : gaps.zeros
    if (sorted !== undefined) {
      interTokenMs = {
        p50: percentile(zeros, sorted, 0.5),
        p90: percentile(zeros, sorted, 0.9),
        max: sorted.length === 0 ? 0 : sorted[sorted.length - 1]
      }
    }
    const estimated = figures.usage === null
    const outputTokens = figures.usage !== null ? figures.usage.outputTokens : this.call === "stream" ? figures.deltas : null
    const generationMs = this.call === "complete" ? durationMs : ttftMs === null ? 0 : durationMs - ttftMs
    const tokensPerSecond = outputTokens !== null && outputTokens > 0 && generationMs > 0 ? (outputTokens * 1000) / generationMs : null
    const attempts: ReadonlyArray<Attempt> = this.recorded.length > 0 ? this.recorded : [{
      provider: this.site.provider,
      model: this.site.model,
      kind: this.info === undefined ? "initial" : this.info.kind,
      startedAt: this.startedAt,
      endedAt: this.clock.unsafeCurrentTimeMillis(),
      events: figures.events,
      error,
      usage: figures.usage ?? undefined,
      interrupted
    }]
    const buffered = this.call === "complete"
      ? undefined
      : this.verdict !== undefined
      ? this.verdict.warning
      : checkBuffered(defaultCriterion, {
        startMs: this.startMs,
        firstTokenMs: figures.firstTokenMs,
        lastTokenMs: figures.lastTokenMs,
        chars: figures.chars,
        deltas: figures.deltas,
        burst: figures.burst
      })
    const summary: Summary = {
      provider: this.site.provider,
      model: this.site.model,
      call: this.call,
      streamed: this.call === "stream" && !attempts.some((attempt) => attempt.streamed === false && attempt.events > 0),
      startedAt: this.startedAt,
      ttftMs: ttftMs === null ? null : Math.round(ttftMs),
      durationMs: Math.round(durationMs),
      interTokenMs,
      tokensPerSecond,
      outputTokens,
      outputTokensEstimated: estimated && outputTokens !== null,
      usage: figures.usage,
      totalUsage: totalUsageOf(attempts, figures.usage),
      attempts,
      finishReason: figures.finishReason,
      ending,
      ...(error === undefined ? {} : { error }),
      ...(buffered === undefined ? {} : { buffered })
    }
    this.annotate(summary)
    this.record(summary, sorted)
    return summary
  }

  private annotate(summary: Summary): void {
    if (Option.isNone(this.span)) return
    const span = this.span.value
    span.attribute("sluice.duration_ms", round(summary.durationMs))
    span.attribute("sluice.ending", summary.ending)
    span.attribute("sluice.attempts", summary.attempts.length)
    if (summary.ttftMs !== null) span.attribute("sluice.ttft_ms", round(summary.ttftMs))
    if (summary.interTokenMs !== null) {
      span.attribute("sluice.inter_token_p50_ms", round(summary.interTokenMs.p50))
      span.attribute("sluice.inter_token_p90_ms", round(summary.interTokenMs.p90))
      span.attribute("sluice.inter_token_max_ms", round(summary.interTokenMs.max))
    }
    if (summary.tokensPerSecond !== null) span.attribute("sluice.tokens_per_second", round(summary.tokensPerSecond))
    if (summary.outputTokens !== null) span.attribute("sluice.output_tokens", summary.outputTokens)
    if (summary.usage !== null) span.attribute("sluice.input_tokens", summary.usage.inputTokens)
    if (summary.totalUsage !== null) span.attribute("sluice.total_tokens", summary.totalUsage.totalTokens)
    if (summary.finishReason !== null) span.attribute("sluice.finish_reason", summary.finishReason)
    if (summary.error !== undefined) span.attribute("sluice.error", summary.error._tag)
    if (summary.buffered !== undefined) span.attribute("sluice.buffered", true)
    if (!summary.streamed && summary.call === "stream") span.attribute("sluice.streamed", false)
  }

  private record(summary: Summary, sorted: Float64Array | undefined): void {
    const labels = this.labels
    if (summary.ttftMs !== null) instruments.timeToFirstToken.unsafeUpdate(summary.ttftMs, labels)
    // One histogram update per arrival (deltas of one read arrive together), with the same labels array
    // (its hook is cached by identity); the summary's percentiles count every delta.
    if (sorted !== undefined) {
      for (let i = 0; i < sorted.length; i++) instruments.interToken.unsafeUpdate(sorted[i], labels)
    }
    instruments.duration.unsafeUpdate(summary.durationMs, labels)
    if (summary.tokensPerSecond !== null) instruments.tokensPerSecond.unsafeUpdate(summary.tokensPerSecond, labels)
    if (summary.outputTokens !== null) instruments.outputTokens.unsafeUpdate(summary.outputTokens, labels)
    const outcome = summary.error !== undefined ? summary.error._tag : summary.ending
    instruments.requests.unsafeUpdate(1, [...labels, MetricLabel.make("outcome", outcome)])
    if (summary.buffered !== undefined) instruments.bufferedStreams.unsafeUpdate(1, labels)
    for (const attempt of summary.attempts) {
      instruments.attempts.unsafeUpdate(1, [
        ...this.labels.filter((l) => l.key !== "provider" && l.key !== "model"),
        MetricLabel.make("provider", attempt.provider),
        MetricLabel.make("model", attempt.model),
        MetricLabel.make("kind", attempt.kind),
        MetricLabel.make("outcome", attempt.error !== undefined ? attempt.error._tag : attempt.interrupted === true ? "interrupted" : "complete")
      ])
    }
  }
}

const startRequest = (site: Site, call: Summary["call"], context: PolicyContext, span: Option.Option<Tracer.Span>) =>
  Effect.gen(function*() {
    const clock = yield* Effect.clock
    const outer = context.attempts
    const info = context.attempt
    const fiberLabels = yield* FiberRef.get(FiberRef.currentMetricLabels)
    const labels = [...fiberLabels, MetricLabel.make("provider", site.provider), MetricLabel.make("model", site.model)]
    return new Request(site, call, clock, outer, info, labels, span)
  })

const spanOptions = (site: Site): Tracer.SpanOptions => ({
  kind: "client",
  attributes: { "sluice.provider": site.provider, "sluice.model": site.model }
})

const measureStream = <R>(
  inner: (context: PolicyContext) => Stream.Stream<StreamEvent, LlmError, R>,
  site: Site,
  context: PolicyContext,
  onSummary: MetricsOptions["onSummary"]
): Stream.Stream<StreamEvent, LlmError, R> =>
  LanguageModel.unwrap(Effect.gen(function*() {
    // The span is made and ended here and handed to what is inside in the policy context: `Stream.withSpan`
    // would provide it on every read.
    const parent = context.span
    const span = yield* Effect.makeSpan("sluice.stream", {
      ...spanOptions(site),
      ...(parent === undefined ? {} : { parent })
    })
    const request = yield* startRequest(site, "stream", context, Option.some(span))
    const clock = request.clock
    let firstTokenMs: number | undefined
    let lastTokenMs = request.startMs
    let gaps: Gaps | undefined
    let chars = 0
    let deltas = 0
    const burst = new Burst()
    let events = 0
    let usage: Usage | null = null
    let finishReason: FinishReason | null = null
    let completed = false
    const observed = Stream.mapChunks(inner({ ...context, attempts: request.collector, buffered: request.reports, span }), (chunk) => {
      const batch = Chunk.toReadonlyArray(chunk)
      events += batch.length
      let now: number | undefined
      const lastMs = lastTokenMs
      const charsBefore = chars
      const deltasBefore = deltas
      for (let i = 0; i < batch.length; i++) {
        const event = batch[i]
        switch (event._tag) {
          case "TextDelta":
          case "ReasoningDelta":
          case "ToolCallDelta": {
            if (now === undefined) {
              now = nowMs(clock)
              if (firstTokenMs === undefined) {
                firstTokenMs = now
              } else {
                if (gaps === undefined) gaps = new Gaps()
                gaps.push(now - lastTokenMs)
              }
              lastTokenMs = now
            } else {
              // Deltas that arrived together: a gap of 0.
              if (gaps === undefined) gaps = new Gaps()
              gaps.zeros++
            }
            chars += event._tag === "ToolCallDelta" ? event.argumentsDelta.length : event.text.length
            deltas++
            break
          }
          case "Usage":
            usage = usageFromEvent(event)
            break
          case "Finish":
            finishReason = event.reason
            break
        }
      }
      if (now !== undefined) burst.add(now, lastMs, chars - charsBefore, deltas - deltasBefore, defaultCriterion.minMarginMs)
      return chunk
    })
    return Stream.concat(observed, Stream.execute(Effect.sync(() => (completed = true)))).pipe(
      Stream.ensuringWith((exit) => {
        const summary = request.finish({ exit, completed, firstTokenMs, lastTokenMs, gaps, chars, deltas, burst, events, usage, finishReason })
        span.end(clock.unsafeCurrentTimeNanos(), exit)
        return onSummary === undefined ? Effect.void : onSummary(summary)
      })
    )
  }))

const measureComplete = (
  inner: (context: PolicyContext) => Effect.Effect<Completion, LlmError>,
  site: Site,
  context: PolicyContext,
  onSummary: MetricsOptions["onSummary"]
): Effect.Effect<Completion, LlmError> =>
  Effect.flatMap(Effect.option(Effect.currentSpan), (span) =>
    Effect.flatMap(startRequest(site, "complete", context, span), (request) =>
      inner({
        ...context,
        attempts: request.collector,
        ...(Option.isSome(span) ? { span: span.value } : {})
      }).pipe(
        Effect.onExit((exit) => {
          const completion = Exit.isSuccess(exit) ? exit.value : undefined
          const summary = request.finish({
            exit,
            completed: true,
            firstTokenMs: undefined,
            lastTokenMs: request.startMs,
            gaps: undefined,
            chars: 0,
            deltas: 0,
            burst: new Burst(),
            events: 0,
            usage: completion?.usage ?? null,
            finishReason: completion?.finishReason ?? null
          })
          return onSummary === undefined ? Effect.void : onSummary(summary)
        })
      ))).pipe(
      // One effect: the span is the fiber's current one inside too (for a `complete` of your own), and
      // handed down in the policy context.
      Effect.withSpan("sluice.complete", { ...spanOptions(site), ...(context.span === undefined ? {} : { parent: context.span }) })
    )

/** The implementation of `Policy.metrics`. */
export const metrics = (options: MetricsOptions = {}): StreamPolicy => {
  const siteOf = (site: Site): Site =>
    options.provider === undefined && options.model === undefined ? site : {
      provider: options.provider ?? site.provider,
      model: options.model ?? site.model
    }
  return streamPolicy(
    (inner, site, context) => measureStream(inner, siteOf(site), context, options.onSummary),
    (inner, site, context) => measureComplete(inner, siteOf(site), context, options.onSummary)
  )
}

/** The implementation of `Policy.withSummary`. */
export const withSummary: {
  (options?: MetricsOptions): <R>(self: Stream.Stream<StreamEvent, LlmError, R>) => Effect.Effect<Measured<R>>
  <R>(self: Stream.Stream<StreamEvent, LlmError, R>, options?: MetricsOptions): Effect.Effect<Measured<R>>
} = dual(
  (args) => hasProperty(args[0], Stream.StreamTypeId),
  <R>(self: Stream.Stream<StreamEvent, LlmError, R>, options: MetricsOptions = {}): Effect.Effect<Measured<R>> =>
    Effect.map(Deferred.make<Summary>(), (deferred) => ({
      stream: metrics({
        ...options,
        onSummary: (summary) =>
          Effect.zipRight(options.onSummary === undefined ? Effect.void : options.onSummary(summary), Deferred.succeed(deferred, summary))
      })(self),
      summary: Deferred.await(deferred)
    }))
)
