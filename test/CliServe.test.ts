/**
 * `sluice serve` (the emulator from the command line, faults as flags) and `sluice demo`.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { httpServer, jsonLines, openAiKey, sluice } from "./support/cli.js"

describe.concurrent("sluice serve and demo", () => {
  it.live("serve: listens, answers with the faults its flags name, logs each request, stops on Ctrl-C", () =>
    Effect.gen(function*() {
      let probe: Promise<{ code: number | null; stdout: string }> | undefined
      const served = yield* sluice(["serve", "--port", "0", "--text", "Served from the command line.", "--truncate-after", "2"], {
        onSpawn: (child, output) => {
          const poll = setInterval(() => {
            const url = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(output.stdout)?.[1]
            if (url === undefined || probe !== undefined) return
            clearInterval(poll)
            probe = Effect.runPromise(sluice(["--base-url", `${url}/v1`, "--json", "--retries", "0", "hi"], { env: openAiKey })).then(
              async (run) => {
                // Let the request's log line out, then stop the server.
                await new Promise((resolve) => setTimeout(resolve, 200))
                child.kill("SIGINT")
                return run
              }
            )
          }, 20)
          child.on("close", () => clearInterval(poll))
        }
      })
      assert.isDefined(probe)
      const run = yield* Effect.promise(() => probe!)
      assert.strictEqual(run.code, 6)
      const summary = jsonLines(run.stdout).pop() ?? {}
      assert.strictEqual(summary.text, "Served from the command line.".split(" ").slice(0, 2).join(" ") + " ")
      assert.strictEqual(served.code, 0, served.stderr)
      assert.match(served.stdout, /openai\s+http:\/\/127\.0\.0\.1:\d+\/v1/)
      assert.match(served.stdout, /anthropic\s+http:\/\/127\.0\.0\.1:\d+/)
      assert.match(served.stdout, /POST \/v1\/chat\/completions → 200 · 2 events · complete · faults truncate/)
    }))

  it.live("serve: a bad scenario is a usage error", () =>
    Effect.gen(function*() {
      const bad = yield* sluice(["serve", "--port", "0", "--scenario", "no-such-scenario"])
      assert.strictEqual(bad.code, 2)
      assert.match(bad.stderr, /unknown scenario name/)
    }))

  it.live("serve: a flag out of range is a usage error naming that flag (exit 2)", () =>
    Effect.gen(function*() {
      const cases: ReadonlyArray<readonly [ReadonlyArray<string>, string]> = [
        [["--port", "99999"], "--port"],
        [["--port", "-1"], "--port"],
        [["--status", "999"], "--status"],
        [["--status", "200"], "--status"],
        [["--times", "-1"], "--times"],
        [["--times", "0"], "--times"],
        [["--gap", "-5"], "--gap"],
        [["--malformed-at", "0"], "--malformed-at"],
        [["--inflate-usage", "0"], "--inflate-usage"]
      ]
      const runs = yield* Effect.forEach(cases, ([args]) => sluice(["serve", ...(args[0] === "--port" ? [] : ["--port", "0"]), ...args]), {
        concurrency: 3
      })
      runs.forEach((run, i) => {
        const [args, flag] = cases[i]
        assert.strictEqual(run.code, 2, `${args.join(" ")}: ${run.stderr}`)
        assert.include(run.stderr, flag, args.join(" "))
        assert.notInclude(run.stderr, "--scenario", args.join(" "))
        assert.notInclude(run.stderr, "unexpected", args.join(" "))
        assert.strictEqual(run.stdout, "")
      })
    }))

  it.scopedLive("serve: a port in use says why it cannot listen (EADDRINUSE), exit 2", () =>
    Effect.gen(function*() {
      const taken = yield* httpServer((_req, res) => res.end())
      const port = new URL(taken.url).port
      const busy = yield* sluice(["serve", "--port", port])
      assert.strictEqual(busy.code, 2, busy.stderr)
      assert.match(busy.stderr, new RegExp(`^sluice: cannot listen on 127\\.0\\.0\\.1:${port}: .*EADDRINUSE.*\\n$`))
    }))

  it.live("demo: every policy at work, offline, in under 15 s, exit 0", () =>
    Effect.gen(function*() {
      const demo = yield* sluice(["demo"], { timeoutMs: 30_000 })
      assert.strictEqual(demo.code, 0, demo.stdout + demo.stderr)
      assert.isBelow(demo.ms, 15_000)
      for (
        const title of [
          "1 · A streamed answer",
          "2 · A 429, absorbed by retry",
          "3 · A cut stream, caught by the guard and healed by continuation",
          "4 · Failover to a second provider",
          "5 · An audit catching a buffered replay"
        ]
      ) assert.include(demo.stdout, title)
      assert.match(demo.stdout, /first token \d+ ms/)
      assert.include(demo.stdout, "initial (RateLimited) → retry")
      assert.match(demo.stdout, /initial \(IncompleteStream\) → continuation at \d+ chars/)
      assert.include(demo.stdout, "failover anthropic/claude-haiku-5-5")
      assert.match(demo.stdout, /✗ streaming\s+buffered replay/)
      assert.notInclude(demo.stdout, "\x1b[")
    }))
})
