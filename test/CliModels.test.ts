/**
 * Which model the `sluice` bundle asks for: `-m`, else the user's default for the provider
 * (`SLUICE_MODEL_<PROVIDER>`), else the built-in default — read from the request the emulator logged.
 */
import { assert, describe, it } from "@effect/vitest"
import { Fault } from "@sluice/emulator"
import { Effect } from "effect"
import { emulator, jsonLines, KEY, sluice } from "./support/cli.js"
import * as Json from "./support/json.js"

const text = "A short answer."

/** The model a logged request asked for: the body's `model`, or Gemini's path segment. */
const modelOf = (record: { readonly path: string; readonly body: unknown }): string | undefined =>
  Json.text(Json.field(record.body, "model")) ?? /\/models\/([^:]+):/.exec(record.path)?.[1]

/** Runs the bundle against a fresh emulator; the models the emulator was asked for, and the run. */
const run = (
  args: ReadonlyArray<string>,
  env: Record<string, string>,
  base: "openAiBaseUrl" | "anthropicBaseUrl" | "geminiBaseUrl" = "openAiBaseUrl"
) =>
  Effect.gen(function*() {
    const server = yield* emulator({ text })
    const result = yield* sluice(["--base-url", server[base], ...args], { env })
    return { ...result, models: (yield* server.requests).map(modelOf) }
  })

/** The timeout of a test that runs the bundle several times, one after the other, on a busy machine. */
const manyRuns = 90_000

const keys = { OPENAI_API_KEY: KEY, ANTHROPIC_API_KEY: KEY, GEMINI_API_KEY: KEY, OPENROUTER_API_KEY: KEY }

describe.concurrent("sluice: default models", () => {
  it.scopedLive("built in: each provider's current small, fast model (checked 2026-12-04)", () =>
    Effect.gen(function*() {
      const cases = [
        ["openai", "openAiBaseUrl", "gpt-6-luna"],
        ["anthropic", "anthropicBaseUrl", "claude-haiku-5-5"],
        ["gemini", "geminiBaseUrl", "gemini-3.5-flash-lite"],
        ["gemini-openai", "openAiBaseUrl", "gemini-3.5-flash-lite"],
        ["openrouter", "openAiBaseUrl", "openai/gpt-6-luna"]
      ] as const
      for (const [provider, base, model] of cases) {
        const { code, models, stderr, stdout } = yield* run(["-p", provider, "--json", "hi"], keys, base)
        assert.strictEqual(code, 0, `${provider}: ${stderr}`)
        assert.deepStrictEqual(models, [model], provider)
        const attempts = Json.items(Json.field(jsonLines(stdout).pop(), "attempts"))
        assert.deepStrictEqual(attempts.map((a) => Json.field(a, "model")), [model], provider)
      }
    }), manyRuns)

  it.scopedLive("SLUICE_MODEL_<PROVIDER> sets the provider's default; -m still wins", () =>
    Effect.gen(function*() {
      const own = yield* run(["hi"], { ...keys, SLUICE_MODEL_OPENAI: "my-openai-model" })
      assert.strictEqual(own.code, 0, own.stderr)
      assert.deepStrictEqual(own.models, ["my-openai-model"])
      const flag = yield* run(["-m", "flag-model", "hi"], { ...keys, SLUICE_MODEL_OPENAI: "my-openai-model" })
      assert.strictEqual(flag.code, 0, flag.stderr)
      assert.deepStrictEqual(flag.models, ["flag-model"])
      // Each provider reads its own variable only.
      const other = yield* run(["hi"], { ...keys, SLUICE_MODEL_ANTHROPIC: "my-claude" })
      assert.deepStrictEqual(other.models, ["gpt-6-luna"])
      const anthropic = yield* run(["-p", "anthropic", "hi"], { ...keys, SLUICE_MODEL_ANTHROPIC: "my-claude" }, "anthropicBaseUrl")
      assert.strictEqual(anthropic.code, 0, anthropic.stderr)
      assert.deepStrictEqual(anthropic.models, ["my-claude"])
      const gemini = yield* run(["-p", "gemini", "hi"], { ...keys, SLUICE_MODEL_GEMINI: "my-gemini" }, "geminiBaseUrl")
      assert.strictEqual(gemini.code, 0, gemini.stderr)
      assert.deepStrictEqual(gemini.models, ["my-gemini"])
      // A name with a dash: the dash becomes an underscore.
      const dashed = yield* run(["-p", "gemini-openai", "hi"], { ...keys, SLUICE_MODEL_GEMINI_OPENAI: "my-gemini-compat" })
      assert.strictEqual(dashed.code, 0, dashed.stderr)
      assert.deepStrictEqual(dashed.models, ["my-gemini-compat"])
    }), manyRuns)

  it.scopedLive("an empty or blank SLUICE_MODEL_<PROVIDER> is ignored: the built-in default applies", () =>
    Effect.gen(function*() {
      for (const value of ["", "   "]) {
        const { code, models, stderr } = yield* run(["hi"], { ...keys, SLUICE_MODEL_OPENAI: value })
        assert.strictEqual(code, 0, stderr)
        assert.deepStrictEqual(models, ["gpt-6-luna"], JSON.stringify(value))
      }
    }))

  it.scopedLive("a provider without a default (vLLM): the variable is named in the usage error, and serves", () =>
    Effect.gen(function*() {
      const missing = yield* run(["-p", "vllm", "hi"], {})
      assert.strictEqual(missing.code, 2)
      assert.include(missing.stderr, "SLUICE_MODEL_VLLM")
      assert.deepStrictEqual(missing.models, [])
      const set = yield* run(["-p", "vllm", "hi"], { SLUICE_MODEL_VLLM: "qwen3-8b" })
      assert.strictEqual(set.code, 0, set.stderr)
      assert.deepStrictEqual(set.models, ["qwen3-8b"])
    }))

  it.scopedLive("a --fallback without a model takes the provider's default from the variable too", () =>
    Effect.gen(function*() {
      const server = yield* emulator({ text, faults: [Fault.status({ status: 503, times: 1 })] })
      const result = yield* sluice(
        ["--base-url", server.openAiBaseUrl, "-m", "primary", "--retries", "0", "--fallback", "openai:", "hi"],
        { env: { ...keys, SLUICE_MODEL_OPENAI: "my-fallback" } }
      )
      assert.strictEqual(result.code, 0, result.stderr)
      assert.deepStrictEqual((yield* server.requests).map(modelOf), ["primary", "my-fallback"])
    }))
})
