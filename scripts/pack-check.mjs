// Installs Sluice as an app outside the workspace would (README "Install"): packs every package with
// `npm pack`, checks what each tarball ships, installs the tarballs into a fresh app beside the oldest
// `effect` the peer ranges admit, checks that the app holds one copy of `effect`, type-checks the
// README's library example there with `tsc` and runs it against the installed `sluice-emulator` on
// 127.0.0.1, and runs the installed CLI (`npx sluice serve`, then a prompt against it).
//
// Run after `npm run build` (`npm run pack-check` does both). Needs the npm registry for the older
// `effect` (`--prefer-offline`: the cache first). Prints a line per check; exits 1 on the first failure.
// `--keep` leaves the temporary directory in place.
import { execFileSync, spawn } from "node:child_process"
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"

const root = fileURLToPath(new URL("../", import.meta.url))
const keep = process.argv.includes("--keep")
const started = performance.now()
// A backstop: a hung step must not hold the CI job (the check takes 20–60 s).
setTimeout(() => {
  console.error("pack-check: ✗ did not finish in 150 s")
  for (const child of children) stop(child)
  if (!keep) rmSync(work, { recursive: true, force: true })
  process.exit(1)
}, 150_000).unref()

// The oldest release of each package the peer ranges admit. npm resolves @effect/platform-node's own
// peers (@effect/cluster, …) to their newest releases, which need effect ^3.22.1, so an app on 3.22.0
// pins those to their 3.22.0-era releases too; exact pins also keep this check reproducible.
const effectPeers = {
  effect: "3.22.0",
  "@effect/platform": "0.97.0",
  "@effect/platform-node": "0.108.0",
  "@effect/platform-node-shared": "0.61.0",
  "@effect/cluster": "0.60.0",
  "@effect/experimental": "0.61.0",
  "@effect/rpc": "0.76.0",
  "@effect/sql": "0.52.0",
  "@effect/workflow": "0.19.0"
}
const libraries = ["core", "providers", "emulator"]
const packages = [...libraries, "cli"]
const answer = "Rivers bend toward the sea"

class CheckError extends Error {}
const fail = (message) => {
  throw new CheckError(message)
}
const check = (condition, message) => condition || fail(message)

const step = async (name, run) => {
  const at = performance.now()
  await run()
  console.log(`pack-check: ✓ ${name} (${((performance.now() - at) / 1000).toFixed(1)} s)`)
}

/** Runs a command to its end; its output, or a CheckError naming it with its stderr. */
const run = (command, args, options = {}) => {
  try {
    return execFileSync(command, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], timeout: 90_000, ...options })
  } catch (error) {
    fail(`${[command, ...args].join(" ")} failed (${error.status ?? error.signal}):\n${error.stdout ?? ""}${error.stderr ?? ""}`)
  }
}

/** Every child started, so that a failed check leaves none running. */
const children = new Set()
const stop = (child) => {
  children.delete(child)
  if (child.exitCode !== null || child.signalCode !== null) return
  try {
    process.kill(-child.pid, "SIGTERM")
  } catch {
    // Already gone.
  }
}

/** Starts a long-running command in its own process group; resolves with it once `ready` matches its stdout. */
const start = (command, args, options, ready) =>
  new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"], detached: true, ...options })
    children.add(child)
    let output = ""
    const timer = setTimeout(() => reject(new CheckError(`${command} ${args.join(" ")} did not start in 20 s:\n${output}`)), 20_000)
    const onData = (chunk) => {
      output += chunk
      const match = ready.exec(output)
      if (match !== null) {
        clearTimeout(timer)
        resolve({ match, stop: () => stop(child) })
      }
    }
    child.stdout.on("data", onData)
    child.stderr.on("data", (chunk) => (output += chunk))
    child.on("exit", (code, signal) => {
      clearTimeout(timer)
      reject(new CheckError(`${command} ${args.join(" ")} exited (${code ?? signal}) before it was ready:\n${output}`))
    })
  })

/** Every installed copy of every package under `dir/node_modules`, by name. */
const installed = (dir, found = new Map()) => {
  const modules = join(dir, "node_modules")
  if (!existsSync(modules)) return found
  for (const entry of readdirSync(modules)) {
    if (entry.startsWith(".")) continue
    const names = entry.startsWith("@") ? readdirSync(join(modules, entry)).map((name) => `${entry}/${name}`) : [entry]
    for (const name of names) {
      const manifest = join(modules, name, "package.json")
      if (!existsSync(manifest)) continue
      const { version } = JSON.parse(readFileSync(manifest, "utf8"))
      found.set(name, [...(found.get(name) ?? []), { path: join(modules, name), version }])
      installed(join(modules, name), found)
    }
  }
  return found
}

/** The fenced block that follows the README's pack-check marker: the library example, verbatim. */
const readmeExample = () => {
  const readme = readFileSync(join(root, "README.md"), "utf8")
  const match = /<!-- pack-check:[^>]*-->\n```ts\n([\s\S]*?)\n```\n/.exec(readme)
  return match?.[1] ?? fail("README.md has no ```ts block after a <!-- pack-check: … --> marker")
}

const work = mkdtempSync(join(tmpdir(), "sluice-pack-check-"))
const tarballs = join(work, "tarballs")
const app = join(work, "app")
mkdirSync(tarballs)
mkdirSync(join(app, "src"), { recursive: true })

try {
  let packed
  await step("npm pack", () => {
    const args = ["pack", "--json", "--pack-destination", tarballs, ...packages.flatMap((name) => ["-w", `packages/${name}`])]
    packed = new Map(JSON.parse(run("npm", args, { cwd: root })).map((entry) => [entry.name.replace("@sluice/", ""), entry]))
  })

  await step("tarball contents", () => {
    for (const name of packages) {
      const files = packed.get(name)?.files.map((file) => file.path) ?? fail(`@sluice/${name} was not packed`)
      const has = (path) => files.includes(path)
      for (const path of ["package.json", "README.md", "LICENSE"]) check(has(path), `@sluice/${name} ships no ${path}`)
      const stray = files.filter((path) => /\.tsbuildinfo$|(^|\/)meta\.json$|tsconfig/.test(path))
      check(stray.length === 0, `@sluice/${name} ships build artefacts: ${stray.join(", ")}`)
      if (name === "cli") {
        const expected = ["LICENSE", "README.md", "bin/sluice.mjs", "dist/sluice.mjs", "package.json"]
        check(JSON.stringify([...files].sort()) === JSON.stringify(expected), `@sluice/cli ships ${files.join(", ")}, not ${expected.join(", ")}`)
      } else {
        for (const path of ["dist/index.js", "dist/index.d.ts", "src/index.ts"]) check(has(path), `@sluice/${name} ships no ${path}`)
        const other = files.filter((path) => !/^(dist|src)\//.test(path) && !["package.json", "README.md", "LICENSE"].includes(path))
        check(other.length === 0, `@sluice/${name} ships files outside dist/ and src/: ${other.join(", ")}`)
      }
    }
    check(packed.get("emulator").files.some((file) => file.path === "dist/bin.js"), "@sluice/emulator ships no dist/bin.js")
  })

  await step(`npm install into a fresh app beside effect ${effectPeers.effect}`, () => {
    const dependencies = { ...effectPeers }
    for (const name of packages) dependencies[`@sluice/${name}`] = `file:${join(tarballs, packed.get(name).filename)}`
    // @effect/platform-node-shared's declarations import "ws" but do not depend on its types.
    const devDependencies = { "@types/node": JSON.parse(readFileSync(join(root, "package.json"), "utf8")).devDependencies["@types/node"], "@types/ws": "8.18.2" }
    writeFileSync(join(app, "package.json"), JSON.stringify({ name: "app", private: true, type: "module", dependencies, devDependencies }, null, 2))
    run("npm", ["install", "--prefer-offline", "--no-audit", "--no-fund", "--ignore-scripts", "--loglevel=error"], { cwd: app })
  })

  await step("one copy of effect, every peer satisfied (npm ls)", () => {
    const copies = installed(app)
    for (const name of ["effect", "@effect/platform", "@effect/platform-node", "@sluice/core"]) {
      const found = copies.get(name) ?? []
      check(found.length === 1, `the app holds ${found.length} copies of ${name}: ${found.map((copy) => `${copy.version} in ${copy.path}`).join(", ")}`)
    }
    check(copies.get("effect")[0].version === effectPeers.effect, `npm installed effect ${copies.get("effect")[0].version}, not ${effectPeers.effect}`)
    // Exits non-zero on an invalid or missing peer anywhere in the tree.
    run("npm", ["ls", "--all", "--loglevel=error"], { cwd: app })
  })

  await step("package manifests", () => {
    const license = readFileSync(join(root, "LICENSE"), "utf8")
    for (const name of packages) {
      const dir = join(app, "node_modules", "@sluice", name)
      const manifest = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"))
      const id = `@sluice/${name}`
      check(readFileSync(join(dir, "LICENSE"), "utf8") === license, `${id}'s LICENSE differs from the repository's`)
      check(!readFileSync(join(dir, "README.md"), "utf8").includes("## Quickstart"), `${id} ships the repository's README, not its own`)
      check(manifest.license === "MIT" && manifest.private === undefined, `${id} is not a public MIT package`)
      check(manifest.repository?.directory === `packages/${name}` && /^git\+https:/.test(manifest.repository?.url), `${id}: repository`)
      check(typeof manifest.homepage === "string" && Array.isArray(manifest.keywords) && manifest.keywords.length > 0, `${id}: homepage, keywords`)
      check(manifest.engines?.node === ">=20.18.1", `${id}: engines.node`)
      const deps = Object.keys(manifest.dependencies ?? {})
      check(!deps.some((dep) => dep === "effect" || dep.startsWith("@effect/")), `${id} depends on ${deps.join(", ")}: effect and @effect/* must be peers`)
      for (const [peer, range] of Object.entries(manifest.peerDependencies ?? {})) check(range.startsWith("^"), `${id}: peer ${peer} ${range} is not a caret range`)
    }
    const manifest = (name) => JSON.parse(readFileSync(join(app, "node_modules", "@sluice", name, "package.json"), "utf8"))
    check(JSON.stringify(manifest("core").sideEffects) === "[]" && JSON.stringify(manifest("providers").sideEffects) === "[]", "core, providers: sideEffects []")
    check(JSON.stringify(manifest("emulator").sideEffects) === JSON.stringify(["./dist/bin.js"]), "emulator: sideEffects names its bin")
    check(manifest("cli").sideEffects === true, "cli: sideEffects true")
    check(manifest("cli").dependencies === undefined && manifest("cli").peerDependencies === undefined, "the CLI bundle must install with no dependency")
  })

  await step("the emulator's bin is not a module", () => {
    const probe = (specifier) =>
      run(process.execPath, ["--input-type=module", "-e", `import(${JSON.stringify(specifier)}).then(() => console.log("imported"), (e) => console.log(e.code))`], { cwd: app, timeout: 10_000 }).trim()
    check(probe("@sluice/emulator/bin") === "ERR_PACKAGE_PATH_NOT_EXPORTED", "importing @sluice/emulator/bin must fail")
    check(probe("@sluice/core/internal/sse") === "ERR_PACKAGE_PATH_NOT_EXPORTED", "importing @sluice/core/internal/* must fail")
    check(probe("@sluice/cli") === "ERR_PACKAGE_PATH_NOT_EXPORTED", "importing @sluice/cli must fail (it is a command)")
    for (const name of libraries) check(probe(`@sluice/${name}`) === "imported", `@sluice/${name} cannot be imported`)
  })

  const example = readmeExample()
  const emulator = await start(
    join(app, "node_modules", ".bin", "sluice-emulator"),
    ["--port", "0", "--scenario", JSON.stringify({ text: answer })],
    { cwd: app },
    /base URLs: openai (http:\/\/127\.0\.0\.1:\d+\/v1) /
  )

  await step("tsc: the README's library example", () => {
    // The example as written, and the same program aimed at the emulator instead of api.openai.com.
    const target = '"https://api.openai.com/v1"'
    check(example.split(target).length === 2, `the README example must name ${target} exactly once (the check points it at the emulator)`)
    writeFileSync(join(app, "src", "example.ts"), example + "\n")
    writeFileSync(join(app, "src", "run.ts"), example.replace(target, JSON.stringify(emulator.match[1])) + "\n")
    // skipLibCheck off: Sluice's own declarations are checked against the older effect too.
    const compilerOptions = {
      target: "ES2022", module: "NodeNext", moduleResolution: "NodeNext", strict: true, exactOptionalPropertyTypes: true,
      skipLibCheck: false, types: ["node"], rootDir: "src", outDir: "dist"
    }
    writeFileSync(join(app, "tsconfig.json"), JSON.stringify({ compilerOptions, include: ["src"] }, null, 2))
    run(process.execPath, [join(root, "node_modules", "typescript", "bin", "tsc"), "-p", app], { cwd: app })
  })

  await step("the example streams from the emulator", () => {
    const out = run(process.execPath, [join(app, "dist", "run.js")], { cwd: app, env: { ...process.env, OPENAI_API_KEY: "sk-pack-check" }, timeout: 20_000 })
    check(out.startsWith(answer) && /\n\d+ in, \d+ out\n$/.test(out), `the example printed ${JSON.stringify(out)}`)
  })
  emulator.stop()

  await step("npx sluice --help, npx sluice serve and a prompt against it", async () => {
    const npx = (args) => ["--yes=false", "sluice", ...args]
    check(run("npx", npx(["--help"]), { cwd: app }).includes("sluice audit|serve|demo"), "npx sluice --help shows no subcommands")
    const serve = await start("npx", npx(["serve", "--port", "0", "--quiet", "--text", answer]), { cwd: app }, /openai +(http:\/\/127\.0\.0\.1:\d+\/v1)\n/)
    const out = run("npx", npx(["--base-url", serve.match[1], "Hi"]), { cwd: app, env: { ...process.env, OPENAI_API_KEY: "sk-pack-check" }, timeout: 20_000 })
    serve.stop()
    check(out.trim() === answer, `npx sluice printed ${JSON.stringify(out)}`)
  })

  console.log(`pack-check: ok in ${((performance.now() - started) / 1000).toFixed(0)} s`)
} catch (error) {
  console.error(`pack-check: ✗ ${error instanceof CheckError ? error.message : error.stack}`)
  process.exitCode = 1
} finally {
  for (const child of children) stop(child)
  if (keep) console.log(`pack-check: left ${work}`)
  else rmSync(work, { recursive: true, force: true })
}
