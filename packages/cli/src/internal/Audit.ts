/**
 * The gateway audit: N streamed runs and one non-streamed run of the same prompt, judged for
 * buffered replay (by how the text spread over each answer's time, with `Policy.metrics`'s criterion:
 * the whole answer with its first token, or most of it in one burst after a hold), for a finish reason and
 * usage in every run, and for streamed usage that agrees with the non-streamed figures.
 * @internal
 */
import { type ChatRequest, Completion, type LanguageModel, type LlmError, Policy, StreamEvent } from "@sluice/core"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import * as ExitCode from "./ExitCode.js"
import { errorText } from "./errorText.js"
import { errorJson, type UsageJson, usageJson } from "./JsonLines.js"
import { printable, type Style } from "./Terminal.js"

/** Shorter answers cannot tell a replay from a fast model (the floor of `Policy.detectBuffered`'s criterion). */
const minChars = 200

/** Whether one streamed run looked streamed. */
export type Verdict = "streamed" | "buffered" | "inconclusive"

/** One run, measured. */
export interface Measure {
  readonly ttftMs: number | null
  readonly totalMs: number
  /** From the first token to the last. */
  readonly spreadMs: number | null
  readonly completion: Completion.Completion
  readonly error: LlmError.LlmError | undefined
  /** `Policy.metrics`'s buffered-replay warning (streamed runs), by `Policy.detectBuffered`'s default criterion. */
  readonly buffered: Policy.BufferedWarning | undefined
}

/** Streams `request` once and measures it (through `Policy.metrics`); never fails (the failure is in the measure). */
export const measureStream = (model: LanguageModel.Service, request: ChatRequest.ChatRequest): Effect.Effect<Measure> =>
  Effect.suspend(() => {
    const start = performance.now()
    const acc = new Completion.Accumulator()
    let first: number | null = null
    let last: number | null = null
    let summary: Policy.Summary | undefined
    const measured = model.stream(request).pipe(
      Policy.metrics({ provider: model.provider, model: request.model, onSummary: (s) => Effect.sync(() => void (summary = s)) })
    )
    return Stream.runForEachChunk(measured, (chunk) =>
      Effect.sync(() => {
        let now: number | undefined
        for (const event of chunk) {
          acc.add(event)
          if (!StreamEvent.isToken(event)) continue
          now ??= performance.now()
          first ??= now
          last = now
        }
      })).pipe(
        Effect.either,
        Effect.map((outcome): Measure => ({
          ttftMs: first === null ? null : first - start,
          totalMs: performance.now() - start,
          spreadMs: first === null || last === null ? null : last - first,
          completion: acc.snapshot(),
          error: outcome._tag === "Left" ? outcome.left : undefined,
          buffered: summary?.buffered
        }))
      )
  })

/** Makes the non-streaming call once and measures it. */
export const measureComplete = (model: LanguageModel.Service, request: ChatRequest.ChatRequest): Effect.Effect<Measure> =>
  Effect.suspend(() => {
    const start = performance.now()
    return model.complete(request).pipe(
      Effect.either,
      Effect.map((outcome): Measure => ({
        ttftMs: null,
        totalMs: performance.now() - start,
        spreadMs: null,
        completion: outcome._tag === "Right" ? outcome.right : (outcome.left.partial ?? Completion.empty),
        error: outcome._tag === "Left" ? outcome.left : undefined,
        buffered: undefined
      }))
    )
  })

const charsOf = (completion: Completion.Completion): number =>
  completion.text.length + completion.reasoning.length + completion.toolCalls.reduce((n, c) => n + c.arguments.length, 0)

/** The buffered-replay verdict on one streamed run. */
export const verdictOf = (run: Measure): Verdict => {
  if (run.buffered !== undefined) return "buffered"
  return run.ttftMs === null || charsOf(run.completion) < minChars ? "inconclusive" : "streamed"
}

/** One check of the audit. */
export interface Check {
  readonly name: string
  readonly ok: boolean
  readonly detail: string
}

/** The audit's findings; what `--json` prints. */
export interface Report {
  readonly ok: boolean
  readonly provider: string
  readonly model: string
  readonly ttftMs: number | null
  readonly totalMs: number | null
  /** Time to first token over total time (median of the streamed runs): near 1 means nothing streamed. */
  readonly ratio: number | null
  readonly buffered: boolean
  readonly verdict: Verdict
  readonly usageStreamed: UsageJson | null
  readonly usageNonStreamed: UsageJson | null
  readonly usageMatches: boolean
  /** Streamed minus non-streamed, and streamed over non-streamed. */
  readonly usageDifference: {
    readonly inputTokens: number
    readonly outputTokens: number
    readonly inputRatio: number | null
    readonly outputRatio: number | null
  } | null
  readonly finishReason: StreamEvent.FinishReason | null
  readonly finishReasonNonStreamed: StreamEvent.FinishReason | null
  readonly streamedRuns: ReadonlyArray<RunJson>
  readonly nonStreamed: RunJson
  readonly checks: ReadonlyArray<Check>
  /** The exit code: 0, or that of the first failed check. */
  readonly exitCode: number
}

/** A run as the report lists it. */
export interface RunJson {
  readonly ttftMs: number | null
  readonly totalMs: number
  readonly ratio: number | null
  readonly spreadMs: number | null
  readonly chars: number
  readonly finishReason: StreamEvent.FinishReason | null
  readonly usage: UsageJson | null
  readonly verdict?: Verdict | undefined
  readonly error?: { readonly _tag: string; readonly message: string; readonly detail?: string } | undefined
}

/** Times are reported in whole milliseconds. */
const ms = (n: number): number => Math.round(n)
const r3 = (n: number): number => Math.round(n * 1000) / 1000

const runJson = (run: Measure, streamed: boolean): RunJson => ({
  ttftMs: run.ttftMs === null ? null : ms(run.ttftMs),
  totalMs: ms(run.totalMs),
  ratio: run.ttftMs === null || run.totalMs <= 0 ? null : r3(run.ttftMs / run.totalMs),
  spreadMs: run.spreadMs === null ? null : ms(run.spreadMs),
  chars: charsOf(run.completion),
  finishReason: run.completion.finishReason,
  usage: run.completion.usage === null ? null : usageJson(run.completion.usage),
  ...(streamed ? { verdict: verdictOf(run) } : {}),
  ...(run.error === undefined ? {} : { error: errorJson(run.error) })
})

const median = (values: ReadonlyArray<number>): number | null => {
  if (values.length === 0) return null
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
}

const usageText = (u: UsageJson | null): string => (u === null ? "none" : `${u.inputTokens} in / ${u.outputTokens} out`)

/** Output tokens per character agree within this fraction when the two answers differ (a real model rarely repeats itself). */
const outputTolerance = 0.25

/** How a flagged run came: the whole answer with its first token, or the rest held behind the first ones. */
const replayText = (w: Policy.BufferedWarning): string =>
  w.heldMs === 0
    ? `the first token came after ${Math.round(w.firstTokenMs)} ms and the whole answer within ${Math.round(w.spreadMs)} ms of it`
    : `the first token came after ${Math.round(w.firstTokenMs)} ms, then the rest was held for ${Math.round(w.heldMs)} ms and ${w.replayedChars} of ${w.chars} characters came at once`

/** Judges the measured runs. */
export const judge = (
  site: { readonly provider: string; readonly model: string },
  streamed: ReadonlyArray<Measure>,
  nonStreamed: Measure
): Report => {
  const checks: Array<Check & { readonly exitCode: number }> = []
  const check = (name: string, ok: boolean, detail: string, exitCode: number) => checks.push({ name, ok, detail, exitCode })

  const failed = streamed.filter((run) => run.error !== undefined)
  const firstError = failed[0]?.error
  check(
    "streamed runs",
    firstError === undefined,
    firstError === undefined
      ? `${streamed.length} of ${streamed.length} finished`
      : `${failed.length} of ${streamed.length} failed; first: ${firstError._tag}: ${firstError.message}`,
    firstError === undefined ? ExitCode.ok : ExitCode.ofError(firstError)
  )
  check(
    "non-streamed run",
    nonStreamed.error === undefined,
    nonStreamed.error === undefined ? "finished" : `${nonStreamed.error._tag}: ${errorText(nonStreamed.error.message).message}`,
    nonStreamed.error === undefined ? ExitCode.ok : ExitCode.ofError(nonStreamed.error)
  )

  const withoutFinish = streamed.filter((run) => run.completion.finishReason === null).length
  const finishReason = [...streamed].reverse().find((run) => run.completion.finishReason !== null)?.completion.finishReason ?? null
  const finishReasonNonStreamed = nonStreamed.completion.finishReason
  const finishOk = withoutFinish === 0 && finishReasonNonStreamed !== null
  check(
    "finish reason",
    finishOk,
    finishOk
      ? `${finishReason} in every run`
      : `missing in ${withoutFinish} of ${streamed.length} streamed run(s)${finishReasonNonStreamed === null ? " and in the non-streamed run" : ""}`,
    ExitCode.incomplete
  )

  const finished = streamed.filter((run) => run.error === undefined)
  const withUsage = finished.filter((run) => run.completion.usage !== null)
  const usageRun = withUsage[withUsage.length - 1]
  const usageStreamed = usageRun?.completion.usage == null ? null : usageJson(usageRun.completion.usage)
  const usageNonStreamed = nonStreamed.completion.usage === null ? null : usageJson(nonStreamed.completion.usage)
  const usageArrived = finished.length > 0 && withUsage.length === finished.length
  check(
    "usage reported",
    usageArrived && usageNonStreamed !== null,
    usageArrived && usageNonStreamed !== null
      ? "in every streamed run and in the non-streamed one"
      : `${usageArrived ? "" : `missing in ${finished.length - withUsage.length} of ${finished.length} finished streamed run(s)`}${
        usageNonStreamed === null ? `${usageArrived ? "" : "; "}missing in the non-streamed run` : ""
      }`,
    ExitCode.data
  )

  const verdicts = streamed.map(verdictOf)
  const conclusive = verdicts.filter((v) => v !== "inconclusive")
  const flagged = conclusive.filter((v) => v === "buffered").length
  const verdict: Verdict = conclusive.length === 0 ? "inconclusive" : flagged * 2 > conclusive.length ? "buffered" : "streamed"
  const flaggedRun = streamed.find((run) => verdictOf(run) === "buffered")
  check(
    "streaming",
    verdict !== "buffered",
    verdict === "buffered" && flaggedRun?.buffered !== undefined
      ? `buffered replay: ${replayText(flaggedRun.buffered)} (${flagged} of ${streamed.length} runs)`
      : verdict === "inconclusive"
      ? `inconclusive: answers under ${minChars} characters cannot tell a replay from a fast model`
      : `streamed (${conclusive.length - flagged} of ${conclusive.length} runs spread their tokens over time)`,
    ExitCode.provider
  )

  let usageMatches = false
  let usageDifference: Report["usageDifference"] = null
  let matchDetail = "cannot compare: usage missing"
  if (usageStreamed !== null && usageNonStreamed !== null && usageRun !== undefined) {
    const ratio = (a: number, b: number) => (b === 0 ? (a === 0 ? 1 : null) : r3(a / b))
    usageDifference = {
      inputTokens: usageStreamed.inputTokens - usageNonStreamed.inputTokens,
      outputTokens: usageStreamed.outputTokens - usageNonStreamed.outputTokens,
      inputRatio: ratio(usageStreamed.inputTokens, usageNonStreamed.inputTokens),
      outputRatio: ratio(usageStreamed.outputTokens, usageNonStreamed.outputTokens)
    }
    const inputOk = usageDifference.inputTokens === 0
    const sameAnswer = usageRun.completion.text === nonStreamed.completion.text &&
      charsOf(usageRun.completion) === charsOf(nonStreamed.completion)
    const perChar = (tokens: number, completion: Completion.Completion) => tokens / Math.max(1, charsOf(completion))
    const outputOk = sameAnswer
      ? usageDifference.outputTokens === 0
      : Math.abs(perChar(usageStreamed.outputTokens, usageRun.completion) / perChar(usageNonStreamed.outputTokens, nonStreamed.completion) - 1) <=
        outputTolerance
    usageMatches = inputOk && outputOk
    const by = `input ${usageDifference.inputRatio ?? "∞"}x, output ${usageDifference.outputRatio ?? "∞"}x`
    matchDetail = usageMatches
      ? `streamed ${usageText(usageStreamed)} agrees with non-streamed ${usageText(usageNonStreamed)}`
      : `streamed ${usageText(usageStreamed)} vs non-streamed ${usageText(usageNonStreamed)} (${by})`
  }
  check("usage match", usageMatches, matchDetail, ExitCode.data)

  const timed = streamed.filter((run) => run.ttftMs !== null)
  const firstFailed = checks.find((c) => !c.ok)
  return {
    ok: firstFailed === undefined,
    provider: site.provider,
    model: site.model,
    ttftMs: ((m) => (m === null ? null : ms(m)))(median(timed.map((run) => run.ttftMs ?? 0))),
    totalMs: ((m) => (m === null ? null : ms(m)))(median(streamed.map((run) => run.totalMs))),
    ratio: ((m) => (m === null ? null : r3(m)))(median(timed.map((run) => (run.ttftMs ?? 0) / run.totalMs))),
    buffered: verdict === "buffered",
    verdict,
    usageStreamed,
    usageNonStreamed,
    usageMatches,
    usageDifference,
    finishReason,
    finishReasonNonStreamed,
    streamedRuns: streamed.map((run) => runJson(run, true)),
    nonStreamed: runJson(nonStreamed, false),
    checks: checks.map(({ detail, name, ok }) => ({ name, ok, detail })),
    exitCode: firstFailed === undefined ? ExitCode.ok : firstFailed.exitCode
  }
}

/** Runs the audit: `runs` streamed runs one after the other, then the non-streamed run; `onRun` sees each as it ends. */
export const audit = (
  model: LanguageModel.Service,
  request: ChatRequest.ChatRequest,
  runs: number,
  onRun: (index: number | "non-streamed", run: Measure) => void = () => {}
): Effect.Effect<Report> =>
  Effect.gen(function*() {
    const streamed: Array<Measure> = []
    for (let i = 1; i <= runs; i++) {
      const run = yield* measureStream(model, request)
      onRun(i, run)
      streamed.push(run)
    }
    const nonStreamed = yield* measureComplete(model, request)
    onRun("non-streamed", nonStreamed)
    return judge({ provider: model.provider, model: request.model }, streamed, nonStreamed)
  })

const pad = (s: string, n: number): string => (s.length >= n ? s : s + " ".repeat(n - s.length))
const padStart = (s: string, n: number): string => (s.length >= n ? s : " ".repeat(n - s.length) + s)

/** One line per run, as a person reads the audit. */
export const runText = (style: Style, index: number | "non-streamed", run: Measure): string => {
  const json = runJson(run, index !== "non-streamed")
  const head = index === "non-streamed" ? pad("non-streamed", 12) : pad(`run ${index}`, 12)
  const ttft = index === "non-streamed" ? pad("", 20) : `first token ${padStart(json.ttftMs === null ? "–" : `${Math.round(json.ttftMs)} ms`, 8)}`
  const parts = [
    head,
    ttft,
    `total ${padStart(`${Math.round(json.totalMs)} ms`, 8)}`,
    index === "non-streamed" ? pad("", 11) : `ratio ${json.ratio === null ? " –  " : json.ratio.toFixed(2)}`,
    `${padStart(String(json.chars), 5)} chars`,
    `finish ${pad(json.finishReason ?? "none", 6)}`,
    `usage ${usageText(json.usage)}`
  ]
  const tail = run.error !== undefined
    ? `  ${style.red(run.error._tag)}`
    : json.verdict === "buffered"
    ? `  ${style.yellow("buffered")}`
    : ""
  return `  ${parts.join("  ")}${tail}`
}

/** The checks and the conclusion, as a person reads them. */
export const reportText = (style: Style, report: Report): string => {
  const width = Math.max(...report.checks.map((c) => c.name.length))
  // A check's detail may quote a provider's error message: escaped, as every provider text on a terminal.
  const lines = report.checks.map((c) => `${c.ok ? style.green("✓") : style.red("✗")} ${pad(c.name, width)}  ${printable(c.detail)}`)
  const failed = report.checks.filter((c) => !c.ok).length
  lines.push(
    failed === 0
      ? style.green(`audit passed: ${report.checks.length} of ${report.checks.length} checks`)
      : style.red(`audit failed: ${failed} of ${report.checks.length} checks failed`)
  )
  return lines.join("\n")
}
