/**
 * Runs one prompt through a service and renders it: the answer on stdout as it streams (or `--json`
 * lines), a spinner on a TTY until the first token, then `--stats`, the one-line error and the
 * summary. Shared by the prompt command and the demo.
 * @internal
 */
import { type ChatRequest, Completion, type LanguageModel, type LlmError, Policy, StreamEvent } from "@sluice/core"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import { errorText } from "./errorText.js"
import * as ExitCode from "./ExitCode.js"
import { eventLine, eventsOf, summaryLine } from "./JsonLines.js"
import * as StopSignal from "./StopSignal.js"
import { printable, spinner, type Terminal, TerminalText } from "./Terminal.js"

/** How to render a run. */
export interface RunOptions {
  /** `provider/model`, for the spinner. */
  readonly label: string
  readonly json: boolean
  readonly stats: boolean
  /** Stream (default) or make the non-streaming call (`--no-stream`). */
  readonly stream: boolean
}

/** What came of a run. */
export interface RunResult {
  readonly completion: Completion.Completion
  readonly ttftMs: number | null
  readonly durationMs: number
  readonly attempts: ReadonlyArray<Policy.Attempt>
  readonly error: LlmError.LlmError | undefined
  readonly exitCode: number
  /** What `Policy.metrics` measured (tokens per second, usage over every attempt, a buffered-replay warning). */
  readonly metrics: Policy.Summary | undefined
}

const round = (ms: number): string => `${Math.round(ms)} ms`

const seconds = (ms: number): string => (ms < 1000 ? round(ms) : `${(ms / 1000).toFixed(2)} s`)

/** `initial (RateLimited) → retry`, for the stats line and the demo. */
export const attemptTrail = (attempts: ReadonlyArray<Policy.Attempt>): string =>
  attempts
    .map((a) => {
      const where = a.kind === "failover" ? ` ${a.provider}/${a.model}` : ""
      const splice = a.spliceAt === undefined ? "" : ` at ${a.spliceAt} chars`
      const outcome = a.error !== undefined ? ` (${a.error._tag})` : a.interrupted === true ? " (interrupted)" : ""
      return `${a.kind}${where}${splice}${outcome}`
    })
    .join(" → ")

const usageText = (usage: Completion.Usage): string =>
  `${usage.inputTokens} in / ${usage.outputTokens} out (${usage.totalTokens} total)`

/** The `--stats` line: time to first token, total, tokens per second, usage, finish reason and attempts. */
export const statsLine = (result: RunResult): string => {
  const { completion, durationMs, metrics, ttftMs } = result
  const parts: Array<string> = []
  parts.push(ttftMs === null ? "no token" : `first token ${round(ttftMs)}`)
  parts.push(`total ${seconds(durationMs)}`)
  const tokensPerSecond = metrics?.tokensPerSecond ?? null
  if (tokensPerSecond !== null && Number.isFinite(tokensPerSecond)) {
    parts.push(`${tokensPerSecond.toFixed(1)} tokens/s${metrics?.outputTokensEstimated === true ? " (deltas, no usage)" : ""}`)
  }
  parts.push(completion.usage === null ? "no usage" : `usage ${usageText(completion.usage)}`)
  const billed = metrics?.totalUsage ?? null
  if (billed !== null && completion.usage !== null && billed.totalTokens !== completion.usage.totalTokens) {
    parts.push(`over all attempts ${usageText(billed)}`)
  }
  parts.push(`finish ${completion.finishReason ?? "none"}`)
  const n = result.attempts.length
  if (n > 1) parts.push(`${n} attempts: ${attemptTrail(result.attempts)}`)
  else if (n === 1) parts.push("1 attempt")
  if (metrics?.buffered !== undefined) {
    parts.push(
      metrics.buffered.heldMs === 0
        ? "looked like a buffered replay (first token came with the whole answer)"
        : `looked like a buffered replay (the rest was held ${Math.round(metrics.buffered.heldMs)} ms behind the first token, then came at once)`
    )
  }
  return parts.join(" · ")
}

/**
 * The error line: `Tag: message`, and where the partial answer is. Every error the CLI prints goes
 * through it: cut to one line (the whole text is `--json`'s `error.detail`), every control character
 * escaped (a provider's message is not trusted to leave the terminal alone).
 */
export const errorLine = (terminal: Terminal, tag: string, message: string, partial: boolean): string => {
  const { detail, message: line } = errorText(message)
  const more = detail === undefined ? "" : " (the whole message with --json)"
  return `${terminal.style.bold(terminal.style.red(tag))}: ${printable(line)}${more}${partial ? "; the partial answer is above" : ""}`
}

/** The line saying an answer that succeeded is not the whole answer (its finish reason says why). */
const finishNote = (reason: Completion.Completion["finishReason"]): string | undefined => {
  switch (reason) {
    case "length":
      return "the answer stopped at the token limit (finish reason length); raise --max-tokens, or --fail-on length makes it a failure"
    case "content-filter":
      return "the provider's content filter stopped the answer (finish reason content-filter); --fail-on content-filter makes it a failure"
    default:
      return undefined
  }
}

/** Streams (or completes) `request` on `model` and renders it on `terminal`; never fails. */
export const runPrompt = (
  terminal: Terminal,
  model: LanguageModel.Service,
  request: ChatRequest.ChatRequest,
  options: RunOptions
): Effect.Effect<RunResult> =>
  Effect.suspend(() => {
    const start = performance.now()
    const acc = new Completion.Accumulator()
    const attempts: Array<Policy.Attempt> = []
    let ttftMs: number | null = null
    let metrics: Policy.Summary | undefined
    let inReasoning = false
    const spin = spinner(terminal, options.label, start)
    const showReasoning = !options.json && terminal.errIsTty
    // On a terminal the model's words are escaped too: a hostile server could put its sequences there.
    const text = terminal.outIsTty ? new TerminalText() : undefined
    const reasoning = new TerminalText()

    const onEvent = (event: StreamEvent.StreamEvent): void => {
      acc.add(event)
      if (ttftMs === null && StreamEvent.isToken(event)) {
        ttftMs = performance.now() - start
        spin.stop()
      }
      if (options.json) {
        terminal.out(`${eventLine(event)}\n`)
        return
      }
      if (event._tag === "TextDelta") {
        if (inReasoning) {
          terminal.err("\n\n")
          inReasoning = false
        }
        terminal.out(text === undefined ? event.text : text.write(event.text))
      } else if (event._tag === "ReasoningDelta" && showReasoning) {
        inReasoning = true
        terminal.err(terminal.style.dim(reasoning.write(event.text)))
      }
    }

    const recorder = {
      record: (attempt: Policy.Attempt) => {
        attempts.push(attempt)
        if (attempt.error !== undefined) spin.note(`${attempt.error._tag}, trying again`)
      }
    }

    const measured = model.pipe(Policy.metrics({ onSummary: (summary) => Effect.sync(() => void (metrics = summary)) }))
    const run: Effect.Effect<void, LlmError.LlmError> = options.stream
      ? Stream.runForEachChunk(measured.stream(request), (chunk) =>
        Effect.sync(() => {
          for (const event of chunk) onEvent(event)
        }))
      : Effect.map(measured.complete(request), (completion) => {
        for (const event of eventsOf(completion)) onEvent(event)
      })

    const endLine = () => {
      if (inReasoning) terminal.err(`${reasoning.end()}\n`)
      if (text !== undefined && !options.json) terminal.out(text.end())
      if (!options.json && terminal.outIsTty && acc.text !== "" && !acc.text.endsWith("\n")) terminal.out("\n")
    }

    const finish = (error: LlmError.LlmError | undefined): RunResult => {
      spin.stop()
      // A non-streamed call that failed with a partial answer shows it, as a stream would have.
      if (error?.partial !== undefined && !options.stream && acc.events === 0) {
        for (const event of eventsOf(error.partial)) onEvent(event)
      }
      const durationMs = performance.now() - start
      const completion = acc.snapshot()
      endLine()
      if (!options.json) {
        for (const call of completion.toolCalls) {
          terminal.err(`${terminal.style.cyan("tool call")} ${printable(`${call.name}(${call.arguments})`)} ${terminal.style.dim(printable(call.id))}\n`)
        }
      }
      const result: RunResult = {
        completion,
        ttftMs,
        durationMs,
        attempts,
        error,
        exitCode: error === undefined ? ExitCode.ok : ExitCode.ofError(error),
        metrics
      }
      if (options.json) terminal.out(`${summaryLine({ ...result, error })}\n`)
      if (error !== undefined) {
        terminal.err(`${errorLine(terminal, error._tag, error.message, !options.json && completion.text !== "")}\n`)
      } else {
        const note = finishNote(completion.finishReason)
        if (note !== undefined) terminal.err(`${terminal.style.yellow("sluice")}: ${note}\n`)
      }
      if (options.stats) terminal.err(`${terminal.style.dim(statsLine(result))}\n`)
      return result
    }

    const interrupted = Effect.flatMap(Effect.serviceOption(StopSignal.StopSignal), (stop) =>
      Effect.sync(() => {
        spin.stop()
        endLine()
        const signal = Option.isSome(stop) ? stop.value.received() : undefined
        const message = `the request was aborted (${StopSignal.describe(signal)})`
        const completion = acc.snapshot()
        const durationMs = performance.now() - start
        if (options.json) {
          terminal.out(`${summaryLine({ completion, ttftMs, durationMs, attempts, error: { _tag: "Interrupted", message } })}\n`)
        }
        terminal.err(`${errorLine(terminal, "Interrupted", message, !options.json && acc.text !== "")}\n`)
        if (options.stats) {
          const exitCode = signal === "SIGTERM" ? ExitCode.terminated : ExitCode.interrupted
          terminal.err(`${terminal.style.dim(statsLine({ completion, ttftMs, durationMs, attempts, error: undefined, exitCode, metrics }))}\n`)
        }
      }))

    return run.pipe(
      Effect.provideService(Policy.Attempts, recorder),
      Effect.match({ onFailure: finish, onSuccess: () => finish(undefined) }),
      Effect.onInterrupt(() => interrupted)
    )
  })
