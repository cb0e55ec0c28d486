/**
 * `npx sluice` after the README's steps (`npm ci && npm run build`): npm links a bin only if its file
 * exists at install time, and the bundle is built after the install, so the bin npm links is a
 * committed entry that loads the bundle, or says to build it when it is missing.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { execFileSync, spawn } from "node:child_process"
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { at, parse, text } from "./support/json.js"

const root = fileURLToPath(new URL("..", import.meta.url))
const cli = join(root, "packages", "cli")
const manifest = parse(readFileSync(join(cli, "package.json"), "utf8"))

interface Run {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

/** Runs `command args` from the repository root to its end (killed after 20 s). */
const run = (command: string, args: ReadonlyArray<string>): Effect.Effect<Run> =>
  Effect.async<Run>((resume) => {
    const child = spawn(command, args, { cwd: root, stdio: ["ignore", "pipe", "pipe"], timeout: 20_000 })
    let stdout = ""
    let stderr = ""
    child.stdout.setEncoding("utf8").on("data", (text: string) => (stdout += text))
    child.stderr.setEncoding("utf8").on("data", (text: string) => (stderr += text))
    child.on("close", (code) => resume(Effect.succeed({ code, stdout, stderr })))
    return Effect.sync(() => child.kill("SIGKILL"))
  })

describe("the sluice bin", () => {
  it("is a file git tracks, so it exists when `npm ci` links it in a fresh clone", () => {
    const bin = text(at(manifest, "bin", "sluice")) ?? "(none)"
    assert.strictEqual(execFileSync("git", ["ls-files", "--", bin], { cwd: cli, encoding: "utf8" }).trim(), bin)
  })

  it.live("npx sluice runs the bundle through the workspace's link", () =>
    Effect.gen(function*() {
      assert.strictEqual(realpathSync(join(root, "node_modules", ".bin", "sluice")), join(cli, "bin", "sluice.mjs"))
      // --yes=false: never fetch a `sluice` from the registry when the link is missing.
      const result = yield* run("npx", ["--yes=false", "sluice", "--version"])
      assert.strictEqual(result.code, 0, result.stderr)
      assert.include(result.stdout, text(at(manifest, "version")) ?? "(no version)")
    }))

  it.live("without the bundle it says to run `npm run build`, exit 1", () =>
    Effect.gen(function*() {
      const dir = mkdtempSync(join(tmpdir(), "sluice-bin-"))
      yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(dir, { recursive: true, force: true })))
      mkdirSync(join(dir, "bin"))
      copyFileSync(join(cli, "bin", "sluice.mjs"), join(dir, "bin", "sluice.mjs"))
      const result = yield* run(process.execPath, [join(dir, "bin", "sluice.mjs"), "--version"])
      assert.strictEqual(result.code, 1)
      assert.strictEqual(result.stdout, "")
      assert.strictEqual(
        result.stderr,
        "sluice: the CLI is not built (packages/cli/dist/sluice.mjs is missing): run `npm run build` first\n"
      )
    }).pipe(Effect.scoped))
})
