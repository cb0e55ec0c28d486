/**
 * `sluice audit` against the emulator: a genuinely streamed answer passes; a buffered replay, a usage
 * mismatch between streamed and non-streamed answers, and missing usage each fail with a non-zero exit.
 */
import { assert, describe, it } from "@effect/vitest"
import { Fault, type Scenario } from "@sluice/emulator"
import { Effect } from "effect"
import { emulator, jsonLines, openAiKey, sluice } from "./support/cli.js"

// About 60 words and 400 characters: long enough for a verdict, quick at a few ms per word.
const text = Array.from({ length: 6 }, (_, i) =>
  `Sentence ${i + 1} of the audit answer travels as several small deltas over one response.`).join(" ")

const audit = (scenario: Scenario.Scenario, args: ReadonlyArray<string> = []) =>
  Effect.gen(function*() {
    const server = yield* emulator(scenario)
    const result = yield* sluice(["audit", "--base-url", server.openAiBaseUrl, "--runs", "2", ...args], { env: openAiKey })
    return { ...result, requests: yield* server.requests }
  })

const required = ["ok", "ttftMs", "totalMs", "buffered", "usageStreamed", "usageNonStreamed", "usageMatches", "finishReason"]

describe.concurrent("sluice audit", () => {
  it.scopedLive("a streamed answer passes every check (exit 0); N streamed runs and one non-streamed", () =>
    Effect.gen(function*() {
      const { code, requests, stderr, stdout } = yield* audit({ text, firstTokenDelayMs: 20, gapMs: 6 }, ["--json"])
      assert.strictEqual(code, 0, stdout + stderr)
      const [report] = jsonLines(stdout)
      for (const key of required) assert.property(report, key)
      assert.strictEqual(report.ok, true)
      assert.strictEqual(report.buffered, false)
      assert.strictEqual(report.verdict, "streamed")
      assert.strictEqual(report.usageMatches, true)
      assert.deepStrictEqual(report.usageStreamed, report.usageNonStreamed)
      assert.strictEqual(report.finishReason, "stop")
      assert.isBelow(report.ttftMs as number, (report.totalMs as number) / 2)
      assert.deepStrictEqual(requests.map((r) => r.stream), [true, true, false])
    }))

  it.scopedLive("a buffered replay is caught: buffered true, exit non-zero, and said in words", () =>
    Effect.gen(function*() {
      const json = yield* audit({ text, firstTokenDelayMs: 20, gapMs: 6, faults: [Fault.bufferedReplay()] }, ["--json"])
      assert.notStrictEqual(json.code, 0)
      const [report] = jsonLines(json.stdout)
      assert.strictEqual(report.ok, false)
      assert.strictEqual(report.buffered, true)
      assert.strictEqual(report.verdict, "buffered")
      assert.isAbove(report.ratio as number, 0.7)
      assert.strictEqual(report.usageMatches, true)

      const human = yield* audit({ text, firstTokenDelayMs: 20, gapMs: 6, faults: [Fault.bufferedReplay()] })
      assert.strictEqual(human.code, json.code)
      assert.match(human.stdout, /✗ streaming\s+buffered replay: the first token came after \d+ ms/)
      assert.match(human.stdout, /audit failed: 1 of 6 checks failed/)
    }))

  it.scopedLive("--json: times are whole milliseconds, the report's and every run's", () =>
    Effect.gen(function*() {
      const { code, stderr, stdout } = yield* audit({ text, firstTokenDelayMs: 20, gapMs: 6 }, ["--json"])
      assert.strictEqual(code, 0, stdout + stderr)
      const [report] = jsonLines(stdout)
      const runs = [...(report.streamedRuns as Array<Record<string, unknown>>), report.nonStreamed as Record<string, unknown>]
      const times: Array<readonly [string, unknown]> = [["ttftMs", report.ttftMs], ["totalMs", report.totalMs]]
      runs.forEach((run, i) => times.push([`run ${i} ttftMs`, run.ttftMs], [`run ${i} totalMs`, run.totalMs], [`run ${i} spreadMs`, run.spreadMs]))
      for (const [where, value] of times) {
        assert.isTrue(value === null || Number.isInteger(value), `${where}: ${String(value)}`)
      }
    }))

  it.scopedLive("inflated streamed usage is a mismatch, by how much (exit 8)", () =>
    Effect.gen(function*() {
      const { code, stdout } = yield* audit({ text, gapMs: 2, faults: [Fault.inflateUsage(2)] }, ["--json"])
      assert.strictEqual(code, 8)
      const [report] = jsonLines(stdout)
      assert.strictEqual(report.usageMatches, false)
      const streamed = report.usageStreamed as { inputTokens: number; outputTokens: number }
      const plain = report.usageNonStreamed as { inputTokens: number; outputTokens: number }
      assert.strictEqual(streamed.inputTokens, plain.inputTokens * 2)
      assert.strictEqual(streamed.outputTokens, plain.outputTokens * 2)
      const difference = report.usageDifference as { inputRatio: number; outputRatio: number }
      assert.strictEqual(difference.inputRatio, 2)
      assert.strictEqual(difference.outputRatio, 2)
    }))

  it.scopedLive("usage that never arrives fails the audit (exit 8)", () =>
    Effect.gen(function*() {
      const { code, stdout } = yield* audit({ text, gapMs: 2, faults: [Fault.omitUsage()] }, ["--json"])
      assert.strictEqual(code, 8)
      const [report] = jsonLines(stdout)
      assert.strictEqual(report.usageStreamed, null)
      assert.strictEqual(report.usageMatches, false)
      const checks = report.checks as Array<{ name: string; ok: boolean }>
      assert.isFalse(checks.find((c) => c.name === "usage reported")?.ok)
    }))
})

describe.concurrent("sluice audit: how the text spreads over the answer's time", () => {
  // About 60 deltas: with a 30 ms gap the paced answer takes about 1.8 s.
  it.scopedLive("a gateway that sends the first word at once and then holds the rest is a buffered replay", () =>
    Effect.gen(function*() {
      const { code, stdout } = yield* audit({ text, gapMs: 30, faults: [Fault.bufferedReplay({ afterEvents: 1 })] }, ["--json"])
      assert.strictEqual(code, 7, stdout)
      const [report] = jsonLines(stdout)
      assert.strictEqual(report.buffered, true)
      assert.strictEqual(report.verdict, "buffered")
      // The first token came at once: time to first token alone would have passed it.
      assert.isBelow(report.ratio as number, 0.3)
      const check = (report.checks as Array<{ name: string; ok: boolean; detail: string }>).find((c) => c.name === "streaming")
      assert.isFalse(check?.ok)
      assert.match(check?.detail ?? "", /buffered replay: .*held/)
    }))

  it.scopedLive("a genuinely paced stream is not flagged, nor one that starts late and then streams", () =>
    Effect.gen(function*() {
      for (const scenario of [{ text, gapMs: 15 }, { text, firstTokenDelayMs: 600, gapMs: 10 }]) {
        const { code, stdout } = yield* audit(scenario, ["--json"])
        assert.strictEqual(code, 0, stdout)
        const [report] = jsonLines(stdout)
        assert.strictEqual(report.verdict, "streamed", JSON.stringify(scenario))
      }
    }))

  it.scopedLive("a short answer held behind its first word is not misjudged: inconclusive, exit 0", () =>
    Effect.gen(function*() {
      const { code, stdout } = yield* audit({ text: "Short answers cannot tell.", gapMs: 100, faults: [Fault.bufferedReplay({ afterEvents: 1 })] }, [
        "--json"
      ])
      assert.strictEqual(code, 0, stdout)
      const [report] = jsonLines(stdout)
      assert.strictEqual(report.buffered, false)
      assert.strictEqual(report.verdict, "inconclusive")
    }))
})

describe("sluice audit: the command line", () => {
  it.scopedLive("a flag given twice keeps its last value, never becoming the prompt", () =>
    Effect.gen(function*() {
      const server = yield* emulator({ text, gapMs: 2 })
      const { code, stdout } = yield* sluice(
        ["audit", "--base-url", server.openAiBaseUrl, "-m", "a", "-m", "b", "--runs", "3", "--runs", "1", "--json", "--json"],
        { env: openAiKey }
      )
      assert.strictEqual(code, 0, stdout)
      const [report] = jsonLines(stdout)
      assert.strictEqual(report.model, "b")
      const requests = yield* server.requests
      assert.deepStrictEqual(requests.map((r) => [(r.body as { model: string }).model, r.stream]), [["b", true], ["b", false]])
      const prompt = (requests[0].body as { messages: Array<{ content: string }> }).messages[0].content
      assert.isTrue(prompt.startsWith("Write three paragraphs"), prompt)
    }))
})
