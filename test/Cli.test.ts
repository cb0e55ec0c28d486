/**
 * The `sluice` prompt command, as its users see it: the built bundle run as a child process against
 * an emulator on loopback. Text on stdout, the `--json` lines of docs/contract.md, every exit code from its
 * fault, stdin, keys, `--no-stream`, retries healing by continuation, failover, and Ctrl-C.
 */
import { assert, describe, it } from "@effect/vitest"
import { Fault, Scenario } from "@sluice/emulator"
import { Effect } from "effect"
import { type ChildProcess, spawn } from "node:child_process"
import * as Net from "node:net"
import { emulator, httpServer, jsonLines, KEY, openAiKey, sluice, underTerminal } from "./support/cli.js"
import { listen } from "./support/loopback.js"

const text = "Rivers carry water from mountains to the sea, shaping valleys and deltas along the way."
const words = text.match(/\S+\s*/g) ?? []

const summaryKeys = ["type", "ok", "text", "toolCalls", "usage", "finishReason", "ttftMs", "durationMs", "attempts"]
const usageKeys = ["inputTokens", "outputTokens", "totalTokens"]

/** Runs `sluice --base-url <emulator> …args` against an emulator answering `scenario`. */
const against = (scenario: Scenario.Scenario | string, args: ReadonlyArray<string>, env: Record<string, string> = openAiKey, stdin?: string) =>
  Effect.gen(function*() {
    const server = yield* emulator(scenario)
    const result = yield* sluice(["--base-url", server.openAiBaseUrl, ...args], { env, ...(stdin === undefined ? {} : { stdin }) })
    return { ...result, server, requests: yield* server.requests }
  })

/** An `onSpawn` that sends `signal` once the child has written 3 chunks of output, then calls `sent`. */
const signalAfterChunks = (signal: NodeJS.Signals, sent: () => void) =>
(child: ChildProcess, output: { readonly chunks: ReadonlyArray<unknown> }) => {
  let done = false
  const poll = setInterval(() => {
    if (!done && output.chunks.length >= 3) {
      done = true
      sent()
      clearInterval(poll)
      child.kill(signal)
    }
  }, 10)
  child.on("close", () => clearInterval(poll))
}

describe.concurrent("sluice [prompt]", () => {
  it.scopedLive("streams the answer to stdout, flushed per delta, and exits 0", () =>
    Effect.gen(function*() {
      const { chunks, code, stderr, stdout } = yield* against({ text, gapMs: 120 }, ["Tell me about rivers"])
      assert.strictEqual(code, 0, stderr)
      assert.strictEqual(stdout, text)
      assert.strictEqual(stderr, "")
      // Deltas 120 ms apart reach the pipe one by one, not in one write at the end.
      assert.isAtLeast(chunks.length, words.length - 2)
      assert.isAtLeast(chunks[chunks.length - 1].at - chunks[0].at, 120 * (words.length - 4))
    }))

  it.scopedLive("--json: the lines of docs/contract.md, ending with the summary", () =>
    Effect.gen(function*() {
      const { code, requests, stdout } = yield* against({ text }, ["--json", "Tell me about rivers"])
      assert.strictEqual(code, 0)
      const lines = jsonLines(stdout)
      const texts = lines.filter((l) => l.type === "text")
      assert.deepStrictEqual(texts.map((l) => Object.keys(l)), texts.map(() => ["type", "text"]))
      assert.strictEqual(texts.map((l) => l.text).join(""), text)
      const usage = lines.find((l) => l.type === "usage")
      assert.deepStrictEqual(Object.keys(usage ?? {}), ["type", ...usageKeys])
      assert.deepStrictEqual(lines.find((l) => l.type === "finish"), { type: "finish", reason: "stop" })
      const summary = lines[lines.length - 1]
      assert.deepStrictEqual(Object.keys(summary), summaryKeys)
      assert.strictEqual(summary.ok, true)
      assert.strictEqual(summary.text, text)
      assert.deepStrictEqual(summary.toolCalls, [])
      assert.deepStrictEqual(summary.usage, { inputTokens: usage?.inputTokens, outputTokens: usage?.outputTokens, totalTokens: usage?.totalTokens })
      assert.strictEqual(summary.finishReason, "stop")
      assert.isNumber(summary.ttftMs)
      assert.isAtLeast(summary.durationMs as number, summary.ttftMs as number)
      const attempts = summary.attempts as Array<Record<string, unknown>>
      assert.deepStrictEqual(attempts.map((a) => [a.provider, a.model, a.kind]), [["openai", "gpt-6-luna", "initial"]])
      assert.strictEqual(lines.filter((l) => l.type === "summary").length, 1)
      // The request the CLI sent: the prompt as the user message, streamed, usage asked for.
      const body = requests[0].body as { messages: Array<{ role: string; content: string }>; stream: boolean }
      assert.deepStrictEqual(body.messages, [{ role: "user", content: "Tell me about rivers" }])
      assert.isTrue(body.stream)
    }))

  it.scopedLive("--json: tool-call and reasoning lines", () =>
    Effect.gen(function*() {
      const tools = yield* against("tools", ["--json", "weather?"])
      assert.strictEqual(tools.code, 0)
      const lines = jsonLines(tools.stdout)
      const deltas = lines.filter((l) => l.type === "tool-call-delta")
      assert.isAbove(deltas.length, 2)
      for (const delta of deltas) assert.deepStrictEqual(Object.keys(delta), ["type", "index", "id", "name", "argumentsDelta"])
      const summary = lines[lines.length - 1]
      assert.deepStrictEqual(summary.toolCalls, [
        { id: "call_sluice_0", name: "get_weather", arguments: "{\"city\":\"Paris\",\"unit\":\"celsius\"}" },
        { id: "call_sluice_1", name: "get_time", arguments: "{\"timezone\":\"Europe/Paris\"}" }
      ])
      assert.strictEqual(summary.finishReason, "tool-calls")

      const reasoning = yield* against("reasoning", ["--json", "hi"])
      const rlines = jsonLines(reasoning.stdout)
      assert.strictEqual(
        rlines.filter((l) => l.type === "reasoning").map((l) => l.text).join(""),
        Scenario.named.reasoning.reasoning
      )
      assert.strictEqual(rlines[rlines.length - 1].text, Scenario.named.reasoning.text)
    }))

  it.scopedLive("a silent truncation: partial answer on stdout, one line on stderr, exit 6", () =>
    Effect.gen(function*() {
      const { code, stderr, stdout } = yield* against({ text, faults: [Fault.truncate(4)] }, ["--retries", "0", "hi"])
      assert.strictEqual(code, 6)
      assert.strictEqual(stdout, words.slice(0, 4).join(""))
      assert.strictEqual(
        stderr,
        `IncompleteStream: the stream from openai/gpt-6-luna ended without a finish reason after ${stdout.length} characters; the partial answer is above\n`
      )
    }))

  it.scopedLive("--json on failure: the summary holds ok false, the partial text and the error", () =>
    Effect.gen(function*() {
      const { code, stdout } = yield* against({ text, faults: [Fault.truncate(3)] }, ["--retries", "0", "--json", "hi"])
      assert.strictEqual(code, 6)
      const lines = jsonLines(stdout)
      const summary = lines[lines.length - 1]
      assert.deepStrictEqual(Object.keys(summary), [...summaryKeys, "error"])
      assert.strictEqual(summary.ok, false)
      assert.strictEqual(summary.text, words.slice(0, 3).join(""))
      assert.strictEqual(summary.finishReason, null)
      const error = summary.error as Record<string, unknown>
      assert.deepStrictEqual(Object.keys(error), ["_tag", "message"])
      assert.strictEqual(error._tag, "IncompleteStream")
      assert.match(error.message as string, /ended without a finish reason after \d+ characters/)
    }))

  const exitCodes: ReadonlyArray<readonly [number, string, Scenario.Scenario, ReadonlyArray<string>]> = [
    [3, "AuthenticationFailed", { faults: [Fault.status({ status: 401 })] }, []],
    [4, "RateLimited", { faults: [Fault.status({ status: 429, retryAfter: 1 })] }, []],
    [5, "Timeout", { text, faults: [Fault.stall(2)] }, ["--idle-timeout", "300ms"]],
    [5, "Timeout", { text, firstTokenDelayMs: 10_000 }, ["--first-token-timeout", "300ms"]],
    [6, "IncompleteStream", { text, faults: [Fault.dropFinish()] }, []],
    [7, "ServerError", { faults: [Fault.status({ status: 500 })] }, []],
    [7, "ProviderStreamError", { text, faults: [Fault.errorEvent(2, { errorType: "invalid_request_error", message: "bad" })] }, []],
    [7, "TransportError", { text, faults: [Fault.reset(2)] }, []],
    [8, "DecodeError", { text, faults: [Fault.malformedJson(2)] }, []]
  ]
  for (const [exitCode, tag, scenario, args] of exitCodes) {
    it.scopedLive(`exit ${exitCode} for ${tag}${args.length > 0 ? ` (${args.join(" ")})` : ""}`, () =>
      Effect.gen(function*() {
        const { code, stderr, stdout } = yield* against(scenario, ["--retries", "0", "--json", ...args, "hi"])
        assert.strictEqual(code, exitCode, stderr)
        const summary = jsonLines(stdout).pop()
        assert.strictEqual((summary?.error as { _tag: string })._tag, tag)
        assert.strictEqual(stderr.split("\n").filter((l) => l !== "").length, 1, stderr)
        assert.isTrue(stderr.startsWith(`${tag}: `), stderr)
      }))
  }

  it.scopedLive("the prompt from stdin: absent or -", () =>
    Effect.gen(function*() {
      const server = yield* emulator({ text })
      const piped = yield* sluice(["--base-url", server.openAiBaseUrl], { env: openAiKey, stdin: "What do rivers do?\n" })
      assert.strictEqual(piped.code, 0, piped.stderr)
      assert.strictEqual(piped.stdout, text)
      const dash = yield* sluice(["--base-url", server.openAiBaseUrl, "-", "--system", "Be brief."], { env: openAiKey, stdin: "And lakes?" })
      assert.strictEqual(dash.code, 0, dash.stderr)
      const bodies = (yield* server.requests).map((r) => (r.body as { messages: unknown }).messages)
      assert.deepStrictEqual(bodies, [
        [{ role: "user", content: "What do rivers do?" }],
        [{ role: "system", content: "Be brief." }, { role: "user", content: "And lakes?" }]
      ])
      const empty = yield* sluice(["--base-url", server.openAiBaseUrl], { env: openAiKey, stdin: "" })
      assert.strictEqual(empty.code, 2)
    }))

  it.scopedLive("a missing key: one line naming the variable, exit 2, no request", () =>
    Effect.gen(function*() {
      const server = yield* emulator({ text })
      const openai = yield* sluice(["--base-url", server.openAiBaseUrl, "hi"])
      assert.strictEqual(openai.code, 2)
      assert.strictEqual(openai.stdout, "")
      assert.match(openai.stderr, /^sluice: OPENAI_API_KEY is not set[^\n]*\n$/)
      const anthropic = yield* sluice(["-p", "anthropic", "--base-url", server.anthropicBaseUrl, "hi"], { env: { ANTHROPIC_API_KEY: "" } })
      assert.strictEqual(anthropic.code, 2)
      assert.match(anthropic.stderr, /ANTHROPIC_API_KEY/)
      const gemini = yield* sluice(["-p", "gemini", "hi"], { env: openAiKey })
      assert.match(gemini.stderr, /GEMINI_API_KEY/)
      assert.strictEqual(gemini.code, 2)
      assert.deepStrictEqual(yield* server.requests, [])
    }))

  it.scopedLive("the key never appears in any output, even when the server echoes it", () =>
    Effect.gen(function*() {
      for (const args of [["hi"], ["--json", "hi"], ["--json", "--no-stream", "--stats", "hi"]]) {
        const { code, stderr, stdout } = yield* against({ faults: [Fault.echoKey()] }, ["--retries", "0", ...args])
        assert.strictEqual(code, 3)
        assert.notInclude(stdout + stderr, KEY)
        assert.include(stdout + stderr, "AuthenticationFailed")
      }
    }))

  it.scopedLive("a local provider needs no key; anthropic and gemini by name", () =>
    Effect.gen(function*() {
      const server = yield* emulator({ text })
      const ollama = yield* sluice(["-p", "ollama", "-m", "llama3.2", "--base-url", server.openAiBaseUrl, "hi"])
      assert.strictEqual(ollama.code, 0, ollama.stderr)
      assert.strictEqual(ollama.stdout, text)
      const anthropic = yield* sluice(["-p", "anthropic", "--base-url", server.anthropicBaseUrl, "hi"], { env: { ANTHROPIC_API_KEY: KEY } })
      assert.strictEqual(anthropic.code, 0, anthropic.stderr)
      assert.strictEqual(anthropic.stdout, text)
      const gemini = yield* sluice(["-p", "gemini", "--base-url", server.geminiBaseUrl, "--json", "hi"], { env: { GEMINI_API_KEY: KEY } })
      assert.strictEqual(gemini.code, 0, gemini.stderr)
      assert.strictEqual(jsonLines(gemini.stdout).pop()?.text, text)
      const paths = (yield* server.requests).map((r) => [r.path.replace(/\?.*$/, ""), (r.body as { model?: string }).model ?? null])
      assert.deepStrictEqual(paths, [
        ["/v1/chat/completions", "llama3.2"],
        ["/v1/messages", "claude-haiku-5-5"],
        ["/v1beta/models/gemini-3.5-flash-lite:streamGenerateContent", null]
      ])
    }))

  it.scopedLive("--no-stream makes the non-streaming call", () =>
    Effect.gen(function*() {
      const { code, requests, stderr, stdout } = yield* against({ text }, ["--no-stream", "--stats", "hi"])
      assert.strictEqual(code, 0, stderr)
      assert.strictEqual(stdout, text)
      assert.isFalse(requests[0].stream)
      assert.match(stderr, /first token \d+ ms · total [^·]+ · .*usage \d+ in \/ \d+ out.*finish stop/)
    }))

  it.scopedLive("--no-stream against a server that never answers: the deadlines bound it too, exit 5", () =>
    Effect.gen(function*() {
      // accepts the connection, reads the request, never answers
      const sockets = new Set<Net.Socket>()
      const server = Net.createServer((socket) => {
        sockets.add(socket)
        socket.on("error", () => {})
        socket.on("close", () => sockets.delete(socket))
      })
      const url = yield* listen(server, () => {
        for (const socket of sockets) socket.destroy()
      })
      const cases: ReadonlyArray<readonly [ReadonlyArray<string>, string]> = [
        [["--timeout", "1s"], "total"],
        [["--idle-timeout", "1s"], "idle"],
        [["--first-token-timeout", "1s"], "first-token"]
      ]
      for (const [args, phase] of cases) {
        const { code, ms, stderr, stdout } = yield* sluice(
          ["--base-url", `${url}/v1`, "--no-stream", "--retries", "0", "--json", ...args, "hi"],
          { env: openAiKey, timeoutMs: 15_000 }
        )
        assert.strictEqual(code, 5, `${args.join(" ")}: ${stderr}`)
        assert.isTrue(stderr.startsWith("Timeout: "), stderr)
        const error = jsonLines(stdout).pop()?.error as { _tag: string; message: string }
        assert.strictEqual(error._tag, "Timeout")
        assert.include(error.message, `(${phase} timeout)`)
        assert.isAtLeast(ms, 900)
        assert.isBelow(ms, 12_000)
      }
    }), 60_000)

  it.scopedLive("retries heal a mid-stream cut by continuation: the text is never repeated", () =>
    Effect.gen(function*() {
      const { code, requests, stderr, stdout } = yield* against({ text, faults: [Fault.truncate(5, { times: 1 })] }, ["--json", "hi"])
      assert.strictEqual(code, 0, stderr)
      const lines = jsonLines(stdout)
      assert.strictEqual(lines.filter((l) => l.type === "text").map((l) => l.text).join(""), text)
      const summary = lines[lines.length - 1]
      assert.strictEqual(summary.text, text)
      const attempts = summary.attempts as Array<{ kind: string; error?: { _tag: string }; spliceAt?: number }>
      assert.deepStrictEqual(attempts.map((a) => [a.kind, a.error?._tag, a.spliceAt]), [
        ["initial", "IncompleteStream", undefined],
        ["continuation", undefined, words.slice(0, 5).join("").length]
      ])
      assert.strictEqual(requests[1].continuation?.mode, "instruction")
    }))

  it.scopedLive("a 429 is absorbed by retry; --fallback moves to the next model (same provider, same base URL)", () =>
    Effect.gen(function*() {
      const limited = yield* against({ text, faults: [Fault.status({ status: 429, retryAfterMs: 100, times: 1 })] }, ["--json", "hi"])
      assert.strictEqual(limited.code, 0, limited.stderr)
      const attempts = (jsonLines(limited.stdout).pop()?.attempts ?? []) as Array<{ kind: string }>
      assert.deepStrictEqual(attempts.map((a) => a.kind), ["initial", "retry"])

      const down = yield* against(
        { text, faults: [Fault.status({ status: 503, times: 2 })] },
        ["--json", "--retries", "1", "--fallback", "openai:gpt-4o-backup", "hi"]
      )
      assert.strictEqual(down.code, 0, down.stderr)
      const summary = jsonLines(down.stdout).pop() ?? {}
      assert.strictEqual(summary.text, text)
      const tries = summary.attempts as Array<{ kind: string; model: string; error?: { _tag: string } }>
      assert.deepStrictEqual(tries.map((a) => [a.kind, a.model, a.error?._tag]), [
        ["initial", "gpt-6-luna", "ServerError"],
        ["retry", "gpt-6-luna", "ServerError"],
        ["failover", "gpt-4o-backup", undefined]
      ])
      assert.deepStrictEqual(down.requests.map((r) => (r.body as { model: string }).model), ["gpt-6-luna", "gpt-6-luna", "gpt-4o-backup"])
    }))

  it.scopedLive("Ctrl-C aborts the request (the emulator sees the close) and exits 130", () =>
    Effect.gen(function*() {
      const server = yield* emulator({ extends: "long", gapMs: 40 })
      let sent = false
      const result = yield* sluice(["--base-url", server.openAiBaseUrl, "--json", "hi"], {
        env: openAiKey,
        onSpawn: signalAfterChunks("SIGINT", () => {
          sent = true
        })
      })
      assert.isTrue(sent)
      assert.strictEqual(result.code, 130, result.stderr)
      const summary = jsonLines(result.stdout).pop() ?? {}
      assert.strictEqual(summary.type, "summary")
      assert.strictEqual(summary.ok, false)
      assert.strictEqual((summary.error as { _tag: string })._tag, "Interrupted")
      const [record] = yield* server.awaitIdle
      assert.strictEqual(record.ending, "client-closed")
    }))

  it.scopedLive("usage errors exit 2: unknown option, bad duration, unknown provider, bad fallback", () =>
    Effect.gen(function*() {
      const runs = yield* Effect.all(
        [
          ["--bogus", "hi"],
          ["--timeout", "soon", "hi"],
          ["-p", "nowhere", "hi"],
          ["--fallback", "claude", "hi"],
          ["--retries"]
        ].map((args) => sluice(args, { env: openAiKey })),
        { concurrency: "unbounded" }
      )
      for (const run of runs) {
        assert.strictEqual(run.code, 2, run.stderr)
        assert.strictEqual(run.stdout, "")
      }
      const help = yield* sluice(["--help"])
      assert.strictEqual(help.code, 0)
      assert.include(help.stdout, "--fallback")
      assert.notInclude(help.stdout, "\x1b[")
    }))
})

/** What a terminal acts on instead of printing: C0 (newline included), DEL, C1 and the bidi controls. */
const controls = /[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/
/** A hostile server's text: retitle the window (OSC 0 … BEL), clear the screen, go home, overwrite the line, flip it. */
const hostile = "\x1b]0;pwned\x07\x1b[2J\x1b[H\rsluice: all good \u202eevil\u009b31m\x7f"

/** stderr is exactly one line with nothing a terminal would act on. */
const assertOneSafeLine = (stderr: string) => {
  assert.isTrue(stderr.endsWith("\n"), JSON.stringify(stderr))
  assert.notMatch(stderr.slice(0, -1), controls, JSON.stringify(stderr))
}

describe.concurrent("sluice [prompt]: edges", () => {
  it.scopedLive("a server that ignores stream: true and answers JSON: the answer once, its attempt marked streamed false in --json", () =>
    Effect.gen(function*() {
      let requests = 0
      const server = yield* httpServer((_req, res) => {
        requests++
        res.writeHead(200, { "content-type": "application/json" })
        res.end(JSON.stringify({
          id: "c1",
          object: "chat.completion",
          model: "m",
          choices: [{ index: 0, message: { role: "assistant", content: "whole answer" }, finish_reason: "stop" }],
          usage: { prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 }
        }))
      })
      const run = yield* sluice(["--base-url", `${server.url}/v1`, "--json", "hi"], { env: openAiKey })
      assert.strictEqual(run.code, 0, run.stderr)
      const summary = jsonLines(run.stdout).pop() as { text: string; attempts: ReadonlyArray<{ streamed?: boolean }> }
      assert.strictEqual(summary.text, "whole answer")
      assert.strictEqual(requests, 1)
      assert.deepStrictEqual(summary.attempts.map((a) => a.streamed), [false])
    }))

  it.scopedLive("provider text on stderr has its control characters escaped: an HTTP error, an in-stream error, a tool call", () =>
    Effect.gen(function*() {
      const server = yield* httpServer((_req, res) => {
        res.writeHead(400, { "content-type": "application/json" })
        res.end(JSON.stringify({ error: { message: hostile, type: "invalid_request_error", code: `\x1b[31m${hostile}` } }))
      })
      const http = yield* sluice(["--base-url", `${server.url}/v1`, "--retries", "0", "hi"], { env: openAiKey })
      assert.strictEqual(http.code, 7, http.stderr)
      assertOneSafeLine(http.stderr)
      assert.match(http.stderr, /^InvalidRequest: /)
      assert.include(http.stderr, "\\x1b]0;pwned\\x07\\x1b[2J\\x1b[H\\rsluice: all good \\u202eevil\\x9b31m\\x7f")

      // --json keeps the text (JSON-escaped, so a terminal showing the line does not act on it either).
      const json = yield* sluice(["--base-url", `${server.url}/v1`, "--retries", "0", "--json", "hi"], { env: openAiKey })
      assert.notMatch(json.stdout.replaceAll("\n", ""), controls)
      const error = jsonLines(json.stdout).pop()?.error as { message: string }
      assert.include(error.message, hostile)

      const inStream = yield* against(
        { text, faults: [Fault.errorEvent(2, { message: hostile, errorType: "\x1b[2Jserver_error" })] },
        ["--retries", "0", "hi"]
      )
      assert.strictEqual(inStream.code, 7, inStream.stderr)
      assertOneSafeLine(inStream.stderr)
      assert.include(inStream.stderr, "\\x1b]0;pwned\\x07")

      const tool = yield* against(
        { toolCalls: [{ id: "call_\x1b[2J", name: "\x1b]0;x\x07get_weather", arguments: "{\"city\":\"\\u001b[2J\"}" }] },
        ["hi"]
      )
      assert.strictEqual(tool.code, 0, tool.stderr)
      assertOneSafeLine(tool.stderr)
      assert.include(tool.stderr, "tool call \\x1b]0;x\\x07get_weather(")
    }))

  it.scopedLive("the answer itself is written verbatim when stdout is not a terminal", () =>
    Effect.gen(function*() {
      const { code, stdout } = yield* against({ text: `Plain ${hostile} text.` }, ["hi"])
      assert.strictEqual(code, 0)
      assert.strictEqual(stdout, `Plain ${hostile} text.`)
    }))

  // script(1) is util-linux's (Debian's essential bsdutils), so every machine has it.
  it.scopedLive("on a terminal the answer and the error line are escaped (under script(1))", () =>
    Effect.gen(function*() {
      const server = yield* emulator({ text: `Plain ${hostile} text.\r\nNext line.`, faults: [Fault.dropFinish()] })
      const { code, stdout } = yield* underTerminal(["--base-url", server.openAiBaseUrl, "--retries", "0", "hi"], openAiKey)
      assert.strictEqual(code, 6, stdout)
      // The spinner and colours are ours; none of the server's sequences reach the terminal raw.
      for (const raw of ["\x1b]0;", "\x1b[2J", "\x1b[H", "\x07", "\u202e", "\u009b", "\x7f", "\rsluice"]) assert.notInclude(stdout, raw)
      assert.include(stdout, "Plain \\x1b]0;pwned\\x07\\x1b[2J\\x1b[H\\rsluice: all good \\u202eevil\\x9b31m\\x7f text.")
      assert.include(stdout, "Next line.")
    }))

  it.scopedLive("a flag given twice: the last value wins, never prompt text (repeatable --fallback stays repeatable)", () =>
    Effect.gen(function*() {
      const server = yield* emulator({ text })
      const twice = yield* sluice(
        ["--base-url", server.openAiBaseUrl, "-m", "a", "-m", "b", "--json", "--max-tokens", "5", "--json", "--model=c", "--max-tokens=7", "Hi"],
        { env: openAiKey }
      )
      assert.strictEqual(twice.code, 0, twice.stderr)
      assert.strictEqual(jsonLines(twice.stdout).pop()?.type, "summary")
      const [sent] = yield* server.requests
      const body = sent.body as { model: string; max_tokens?: number; max_completion_tokens?: number; messages: unknown }
      assert.strictEqual(body.model, "c")
      assert.strictEqual(body.max_tokens ?? body.max_completion_tokens, 7)
      assert.deepStrictEqual(body.messages, [{ role: "user", content: "Hi" }])

      const down = yield* against(
        { text, faults: [Fault.status({ status: 503, times: 2 })] },
        ["--json", "--retries", "0", "--fallback", "openai:m1", "--fallback", "openai:m2", "hi"]
      )
      assert.strictEqual(down.code, 0, down.stderr)
      assert.deepStrictEqual(down.requests.map((r) => (r.body as { model: string }).model), ["gpt-6-luna", "m1", "m2"])
    }))

  it.scopedLive("an empty or blank prompt is a usage error (exit 2) and sends nothing", () =>
    Effect.gen(function*() {
      const server = yield* emulator({ text })
      for (const args of [[""], ["  ", "\t"], ["audit", ""]]) {
        const run = yield* sluice([...(args[0] === "audit" ? ["audit"] : []), "--base-url", server.openAiBaseUrl, ...args.filter((a) => a !== "audit")], {
          env: openAiKey
        })
        assert.strictEqual(run.code, 2, run.stderr)
        assert.match(run.stderr, /^sluice: the prompt is empty\n$/)
      }
      assert.deepStrictEqual(yield* server.requests, [])
    }))

  it.scopedLive("writing to a full device is exit 1 with one line; a reader that goes away (EPIPE) ends quietly with 0", () =>
    Effect.gen(function*() {
      const server = yield* emulator({ text })
      const full = yield* sluice(["--base-url", server.openAiBaseUrl, "hi"], { env: openAiKey, stdoutTo: "/dev/full" })
      assert.strictEqual(full.code, 1, full.stderr)
      assert.match(full.stderr, /^sluice: cannot write to stdout: [^\n]*ENOSPC[^\n]*\n$/)
      const fullJson = yield* sluice(["--base-url", server.openAiBaseUrl, "--json", "hi"], { env: openAiKey, stdoutTo: "/dev/full" })
      assert.strictEqual(fullJson.code, 1, fullJson.stderr)

      const long = yield* emulator({ extends: "long", gapMs: 5 })
      const piped = yield* sluice(["--base-url", long.openAiBaseUrl, "hi"], {
        env: openAiKey,
        onSpawn: (child) => child.stdout?.once("data", () => child.stdout?.destroy())
      })
      assert.strictEqual(piped.code, 0, piped.stderr)
      assert.strictEqual(piped.stderr, "")
    }))

  it.scopedLive("a finish of length or content-filter is said in one line on stderr; --fail-on makes it a failure", () =>
    Effect.gen(function*() {
      const length = yield* against({ text, finishReason: "length" }, ["hi"])
      assert.strictEqual(length.code, 0, length.stderr)
      assert.strictEqual(length.stdout, text)
      assert.match(length.stderr, /^sluice: the answer stopped at the token limit \(finish reason length\)[^\n]*\n$/)
      const filtered = yield* against({ text, finishReason: "content_filter" }, ["--no-stream", "hi"])
      assert.strictEqual(filtered.code, 0, filtered.stderr)
      assert.match(filtered.stderr, /^sluice: the provider's content filter stopped the answer \(finish reason content-filter\)[^\n]*\n$/)

      const failLength = yield* against({ text, finishReason: "length" }, ["--fail-on", "length,content-filter", "--json", "hi"])
      assert.strictEqual(failLength.code, 6, failLength.stderr)
      assert.strictEqual(((jsonLines(failLength.stdout).pop()?.error) as { _tag: string })._tag, "IncompleteStream")
      assert.strictEqual(failLength.requests.length, 1)
      const failFilter = yield* against({ text, finishReason: "content_filter" }, ["--fail-on", "content-filter", "--no-stream", "hi"])
      assert.strictEqual(failFilter.code, 7, failFilter.stderr)
      assert.match(failFilter.stderr, /^InvalidRequest: [^\n]*content filter[^\n]*\n$/)
      const notAsked = yield* against({ text, finishReason: "content_filter" }, ["--fail-on", "length", "hi"])
      assert.strictEqual(notAsked.code, 0, notAsked.stderr)

      const bad = yield* sluice(["--fail-on", "stop", "hi"], { env: openAiKey })
      assert.strictEqual(bad.code, 2, bad.stderr)
      assert.include(bad.stderr, "--fail-on")
    }))

  it.scopedLive("a malformed field after a finished answer: one short line on stderr, the details in --json's error.detail", () =>
    Effect.gen(function*() {
      const human = yield* against({ text, faults: [Fault.wrongSchema(999)] }, ["--retries", "0", "hi"])
      assert.strictEqual(human.code, 8, human.stderr)
      assert.strictEqual(human.stderr.split("\n").length, 2, human.stderr)
      assert.isBelow(human.stderr.length, 400, human.stderr)
      assert.match(human.stderr, /^DecodeError: openai\/gpt-6-luna sent data that could not be decoded after \d+ characters: a chunk does not match/)
      assert.include(human.stderr, "--json")

      const json = yield* against({ text, faults: [Fault.wrongSchema(999)] }, ["--retries", "0", "--json", "hi"])
      const error = jsonLines(json.stdout).pop()?.error as { _tag: string; message: string; detail: string }
      assert.deepStrictEqual(Object.keys(error), ["_tag", "message", "detail"])
      assert.notInclude(error.message, "\n")
      assert.include(error.detail, "└─")
      assert.isTrue(error.detail.startsWith(error.message.replace(/…$/, "")), error.message)
      // A short message has no detail.
      const cut = yield* against({ text, faults: [Fault.truncate(2)] }, ["--retries", "0", "--json", "hi"])
      assert.deepStrictEqual(Object.keys(jsonLines(cut.stdout).pop()?.error ?? {}), ["_tag", "message"])
    }))

  for (const [signal, code, said] of [["SIGTERM", 143, "SIGTERM"], ["SIGINT", 130, "Ctrl-C"]] as const) {
    it.scopedLive(`${signal} aborts with exit ${code}, says ${said}, and --stats still prints`, () =>
      Effect.gen(function*() {
        const server = yield* emulator({ extends: "long", gapMs: 40 })
        let sent = false
        const result = yield* sluice(["--base-url", server.openAiBaseUrl, "--stats", "hi"], {
          env: openAiKey,
          onSpawn: signalAfterChunks(signal, () => {
            sent = true
          })
        })
        assert.isTrue(sent)
        assert.strictEqual(result.code, code, result.stderr)
        const lines = result.stderr.split("\n").filter((l) => l !== "")
        assert.strictEqual(lines.length, 2, result.stderr)
        assert.strictEqual(lines[0], `Interrupted: the request was aborted (${said}); the partial answer is above`)
        assert.match(lines[1], /^first token \d+ ms · total [^·]+ · /)
      }))
  }
})

describe.concurrent("sluice help", () => {
  // Every flag of each command (from its parser), with the default the help must show.
  const commands: ReadonlyArray<readonly [ReadonlyArray<string>, ReadonlyArray<readonly [string, string | undefined]>]> = [
    [[], [
      ["-p, --provider NAME", "Default: openai."],
      ["-m, --model MODEL", "Default: $SLUICE_MODEL_<PROVIDER> if set, else the provider's own"],
      ["--base-url URL", "Default:"],
      ["--system TEXT", undefined],
      ["--max-tokens N", undefined],
      ["--temperature T", undefined],
      ["--first-token-timeout DURATION", undefined],
      ["--idle-timeout DURATION", "Default: 2m."],
      ["--timeout DURATION", undefined],
      ["--fallback PROVIDER:MODEL", "Repeatable."],
      ["--retries N", "Default: 2."],
      ["--fail-on REASONS", undefined],
      ["--json", undefined],
      ["--stats", undefined],
      ["--no-stream", undefined]
    ]],
    [["audit"], [["-p, --provider NAME", "Default: openai."], ["--idle-timeout DURATION", "Default: 2m."], ["--runs N", "Default: 3."], ["--json", undefined]]],
    [["serve"], [
      ["--port PORT", "Default: 8787."],
      ["--host HOST", "Default: 127.0.0.1."],
      ["--scenario NAME|JSON", "Default: hello."],
      ["--gap MS", "Default: 0."],
      ["--status CODE", undefined],
      ["--times N", "Default: every request."],
      ["--quiet", undefined]
    ]],
    [["demo"], []]
  ]
  for (const [sub, flags] of commands) {
    const command = ["sluice", ...sub].join(" ")
    it.live(`${command} --help: a real description and the default of every option, no placeholder, no wizard`, () =>
      Effect.gen(function*() {
        const help = yield* sluice([...sub, "--help"])
        assert.strictEqual(help.code, 0, help.stderr)
        assert.strictEqual(help.stderr, "")
        const out = help.stdout
        assert.isTrue(out.startsWith(`${command} `), out)
        for (const placeholder of ["A user-defined piece of text", "A true or false value", "An integer", "This setting is optional", "--wizard", "\x1b["]) {
          assert.notInclude(out, placeholder)
        }
        // Each option on its own line, then its description (indented), ending with its default where it has one.
        const blocks = out.split(/\n(?= {2}-)/)
        for (const [head, fallback] of flags) {
          const block = blocks.find((b) => b.startsWith(`  ${head}\n`))
          if (block === undefined) return assert.fail(`${command}: no ${head} in\n${out}`)
          const text = block.slice(head.length + 3).replace(/\s+/g, " ").trim()
          assert.isAbove(text.length, 10, `${head}: ${text}`)
          if (fallback !== undefined) assert.include(text, fallback, head)
        }
        for (const builtIn of ["-h, --help", "--version", "--completions SHELL", "--log-level LEVEL"]) assert.include(out, `  ${builtIn}\n`)
        // `sluice help [COMMAND]` shows the same.
        const word = yield* sluice(["help", ...sub])
        assert.strictEqual(word.code, 0, word.stderr)
        assert.strictEqual(word.stdout, out)
      }))
  }

  it.scopedLive("sluice help is help, not a prompt; --fallback is optional; --wizard is refused; completions name the subcommands", () =>
    Effect.gen(function*() {
      const server = yield* emulator({ text })
      // No key: were `help` taken for a prompt, this would fail for the missing key instead.
      const help = yield* sluice(["help"])
      assert.strictEqual(help.code, 0)
      assert.include(help.stdout, "Usage")
      for (const sub of ["audit", "serve", "demo"]) assert.match(help.stdout, new RegExp(`\\n {2}${sub} +\\S`))
      assert.notMatch(help.stdout, /(?<!\[)--fallback PROVIDER:MODEL\.\.\./)
      // A prompt that starts with "help" is still a prompt.
      const prompt = yield* sluice(["--base-url", server.openAiBaseUrl, "help", "me", "write"], { env: openAiKey })
      assert.strictEqual(prompt.code, 0, prompt.stderr)
      assert.strictEqual(prompt.stdout, text)
      assert.deepStrictEqual((yield* server.requests).map((r) => (r.body as { messages: unknown }).messages), [[{ role: "user", content: "help me write" }]])

      const wizard = yield* sluice(["--wizard"])
      assert.strictEqual(wizard.code, 2)
      assert.match(wizard.stderr, /unknown option --wizard/)

      for (const shell of ["bash", "zsh", "fish"]) {
        const script = yield* sluice(["--completions", shell])
        assert.strictEqual(script.code, 0, script.stderr)
        for (const word of ["audit", "serve", "demo", "help", "provider", "fallback", "runs", "truncate-after", "anthropic"]) {
          assert.include(script.stdout, word, `${shell}: ${word}`)
        }
        assert.notInclude(script.stdout, "wizard")
      }
      const bash = yield* sluice(["--completions", "bash"])
      const check = yield* Effect.promise(() =>
        new Promise<number | null>((resolve) => {
          const child = spawn("bash", ["-n"], { stdio: ["pipe", "ignore", "ignore"] })
          child.on("close", resolve)
          child.stdin.end(bash.stdout)
        })
      )
      assert.strictEqual(check, 0, "bash -n accepts the script")
    }))
})
