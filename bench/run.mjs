// Sluice against its peers, in one run: `npm run bench` from the repository root.
//
// A load server (bench/server.mjs) runs in its own process on loopback; every client runs in its own child
// process (bench/child.mjs), so its peak RSS is its own, and the clients take turns run by run.
// Sluice and the floor (bench/clients/) use the workspace's built packages; the peers (bench/peers/) are
// their own npm project with its own lockfile, installed by the root script (`npm ci --prefix bench/peers`).
// Prints a table and writes bench/results/latest.json.
//
// Environment (for quick runs; the defaults are the published figures):
//   RUNS=5                   measured runs per client and shape (median reported)
//   POLICY_RUNS=15           rounds per variant in each of the two processes of the policy-stack section
//   POLICY_VARIANTS=full     policy variants measured over HTTP against the bare adapter (also: timeouts,
//                            retry+failover, guard, metrics)
//   WARMUP=2                 warm-up runs (10,000-delta answers) per client before measuring
//   FIRST_TOKEN_REQUESTS=200 first-token latency requests per client (after 20 warm-up requests)
//   CONCURRENT_STREAMS=1000  simultaneous streams in the concurrency test (1,000 events each)
//   CONCURRENCY_RUNS=3       concurrency rounds per client (median reported)
//   CLIENTS=floor,sluice,openai,aisdk,effectai             clients of the throughput and latency tests
//   CONCURRENCY_CLIENTS=floor,sluice,openai                 clients of the concurrency test
//   SECTIONS=throughput,formats,first-token,memory,concurrency,policies,cli
//   SLOW_RUN_MS=15000        a client whose first measured run takes longer than this (20-100x the floor) ...
//   SLOW_RUNS=2              ... is measured this many times instead of RUNS, and warmed up once (keeps the whole
//                            bench under ten minutes; the table says so)
//   CALL_TIMEOUT_MS=300000   a client call that takes longer is recorded as an error
//   PROFILE=sluice,...       run these clients with --cpu-prof (profiles in bench/results/profiles/)
import { execFileSync, fork, spawn, spawnSync } from "node:child_process"
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs"
import os from "node:os"
import { gzipSync } from "node:zlib"
import { formats as wireFormats } from "./lib/wire.mjs"
import { body as buildBody, DELTAS } from "./lib/wire.mjs"

const here = new URL("./", import.meta.url)
const root = new URL("../", here)
const num = (name, fallback) => Number(process.env[name] ?? fallback)
const list = (name, fallback) => (process.env[name] ?? fallback).split(",").map((s) => s.trim()).filter((s) => s !== "")

const RUNS = num("RUNS", 5)
// The policy stack's overhead is a difference of two noisy timings: more runs, and client CPU time besides wall time.
const POLICY_RUNS = num("POLICY_RUNS", 15)
const WARMUP = num("WARMUP", 2)
const FIRST_TOKEN_REQUESTS = num("FIRST_TOKEN_REQUESTS", 200)
const FIRST_TOKEN_WARMUP = 20
const CONCURRENT_STREAMS = num("CONCURRENT_STREAMS", 1000)
const CONCURRENCY_RUNS = num("CONCURRENCY_RUNS", 3)
const CALL_TIMEOUT_MS = num("CALL_TIMEOUT_MS", 300_000)
const SLOW_RUN_MS = num("SLOW_RUN_MS", 15_000)
const SLOW_RUNS = num("SLOW_RUNS", 2)
const PROFILE = new Set(list("PROFILE", ""))
const CLIENTS = list("CLIENTS", "floor,sluice,openai,aisdk,effectai")
const CONCURRENCY_CLIENTS = list("CONCURRENCY_CLIENTS", "floor,sluice,openai")
const SECTIONS = new Set(list("SECTIONS", "throughput,formats,first-token,memory,concurrency,policies,cli"))

const labels = {
  floor: "floor (node:http + split + JSON.parse)",
  sluice: "Sluice",
  "sluice+policies": "Sluice + policy stack",
  openai: "openai",
  aisdk: "Vercel AI SDK",
  effectai: "@effect/ai (ai-openrouter)"
}

const started = performance.now()
const log = (...xs) => process.stderr.write(`[bench ${((performance.now() - started) / 1000).toFixed(0).padStart(3)}s] ${xs.join(" ")}\n`)
const median = (xs) => {
  if (xs.length === 0) return undefined
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2
}
const percentile = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

// ---------------------------------------------------------------------------------------------------------------
// Processes

if (!existsSync(new URL("packages/core/dist/index.js", root)) || !existsSync(new URL("packages/providers/dist/index.js", root))) {
  console.error("bench: build the workspace first (npm run build); `npm run bench` does it for you")
  process.exit(2)
}
if (!existsSync(new URL("peers/node_modules/openai/package.json", here))) {
  console.error("bench: install the peers first (npm ci --prefix bench/peers); `npm run bench` does it for you")
  process.exit(2)
}

const startServer = () =>
  new Promise((resolve, reject) => {
    const server = spawn(process.execPath, [new URL("server.mjs", here).pathname], { stdio: ["pipe", "pipe", "inherit"] })
    let out = ""
    server.stdout.on("data", (d) => {
      out += d
      const line = out.split("\n")[0]
      if (out.includes("\n")) resolve({ server, port: JSON.parse(line).port })
    })
    server.on("exit", (code) => reject(new Error(`load server exited (${code})`)))
  })

const { server, port } = await startServer()
process.on("exit", () => server.kill())

/** A client in its own process. */
const startClient = (name, options = {}, execArgv = []) =>
  new Promise((resolve, reject) => {
    // "sluice+policies": the full stack; "sluice+<part>": one part of it (the breakdown).
    const module = name.startsWith("sluice+") ? "sluice" : name
    const part = name.slice("sluice+".length)
    const opts = name.startsWith("sluice+") ? { ...options, policies: part === "policies" ? true : part } : options
    const profileDir = new URL("results/profiles/", here).pathname
    const child = fork(new URL("child.mjs", here).pathname, [module, String(port), JSON.stringify(opts)], {
      stdio: ["ignore", "inherit", "inherit", "ipc"],
      execArgv: [...execArgv, ...(PROFILE.has(name) ? ["--cpu-prof", `--cpu-prof-dir=${profileDir}`, `--cpu-prof-name=${name}-${Date.now()}.cpuprofile`] : [])]
    })
    let next = 0
    const pending = new Map()
    child.on("message", (m) => {
      if (m.ready) {
        resolve(handle)
        return
      }
      const p = pending.get(m.id)
      if (p === undefined) return
      pending.delete(m.id)
      clearTimeout(p.timer)
      if (m.ok) p.resolve(m.value)
      else p.reject(new Error(m.error))
    })
    child.on("exit", (code) => {
      for (const p of pending.values()) p.reject(new Error(`${name} exited (${code})`))
      pending.clear()
      reject(new Error(`${name} exited before it was ready (${code})`))
    })
    const handle = {
      name,
      call: (cmd, args) =>
        new Promise((res, rej) => {
          const id = next++
          const timer = setTimeout(() => {
            pending.delete(id)
            rej(new Error(`${name}: ${cmd} took longer than ${CALL_TIMEOUT_MS} ms`))
            child.kill()
          }, CALL_TIMEOUT_MS)
          pending.set(id, { resolve: res, reject: rej, timer })
          child.send({ id, cmd, args })
        }),
      stop: () => {
        child.removeAllListeners("exit")
        // A profiled child writes its profile on a clean exit: let it leave by itself.
        if (PROFILE.has(name)) child.disconnect()
        else child.kill()
      }
    }
  })

const startAll = async (names, options, execArgv) => {
  const handles = {}
  for (const name of names) {
    try {
      handles[name] = await startClient(name, options, execArgv)
    } catch (e) {
      log(`${name} failed to start: ${e.message}`)
    }
  }
  return handles
}
const stopAll = (handles) => Object.values(handles).forEach((h) => h.stop())

// ---------------------------------------------------------------------------------------------------------------
// Machine and versions

const versionOf = (dir, name) => {
  try {
    return JSON.parse(readFileSync(new URL(`node_modules/${name}/package.json`, dir), "utf8")).version
  } catch {
    return undefined
  }
}
const git = (...args) => {
  try {
    return execFileSync("git", args, { cwd: root.pathname, encoding: "utf8" }).trim()
  } catch {
    return undefined
  }
}
const sizes = Object.fromEntries(["openai", "anthropic", "gemini"].map((f) => {
  const b = buildBody(f, DELTAS)
  return [f, { bytes: b.bytes.length, events: b.events, bulkWrites: b.cuts.bulk.length - 1, eventWrites: b.cuts.event.length - 1 }]
}))

const results = {
  date: new Date().toISOString(),
  command: "npm run bench",
  settings: { RUNS, POLICY_RUNS, WARMUP, FIRST_TOKEN_REQUESTS, CONCURRENT_STREAMS, CONCURRENCY_RUNS, SLOW_RUN_MS, SLOW_RUNS },
  machine: {
    cpu: os.cpus()[0]?.model,
    cores: os.cpus().length,
    memoryGiB: +(os.totalmem() / 2 ** 30).toFixed(1),
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    loadAverageAtStart: os.loadavg().map((x) => +x.toFixed(2))
  },
  versions: {
    sluice: { commit: git("rev-parse", "--short", "HEAD"), dirty: (git("status", "--porcelain", "--", "packages") ?? "") !== "" },
    workspace: Object.fromEntries(["effect", "@effect/platform", "@effect/platform-node", "undici"].map((n) => [n, versionOf(root, n)])),
    peers: Object.fromEntries(
      ["openai", "ai", "@ai-sdk/openai-compatible", "@effect/ai", "@effect/ai-openrouter", "@effect/experimental", "@effect/platform", "@effect/platform-node", "effect", "undici"]
        .map((n) => [n, versionOf(new URL("peers/", here), n)])
    ),
    nodeBundledUndici: process.versions.undici
  },
  stream: sizes,
  throughput: {},
  formats: {},
  firstToken: undefined,
  memory: undefined,
  concurrency: undefined,
  policies: undefined,
  cli: undefined,
  errors: []
}
const fail = (where, e) => {
  const message = `${where}: ${String(e?.message ?? e).split("\n")[0]}`
  log(`ERROR ${message}`)
  results.errors.push(message)
}

// ---------------------------------------------------------------------------------------------------------------
// Throughput: every client, alternating run by run

const throughput = async (names, format, shapes, expectDeltas = DELTAS, runs = RUNS) => {
  const out = {}
  for (const shape of shapes) {
    log(`throughput ${format}/${shape}: ${names.join(", ")}`)
    const handles = await startAll(names)
    const times = Object.fromEntries(names.map((n) => [n, []]))
    const cpuTimes = Object.fromEntries(names.map((n) => [n, []]))
    const broken = new Set(names.filter((n) => handles[n] === undefined))
    for (const name of names) {
      if (broken.has(name)) continue
      try {
        for (let i = 0; i < WARMUP; i++) {
          const { ms } = await handles[name].call("run", { mode: "warm", format })
          if (ms > SLOW_RUN_MS / 10) break // a 10,000-delta answer this slow: one warm-up is plenty
        }
      } catch (e) {
        fail(`${name} ${format}/${shape} warm-up`, e)
        broken.add(name)
      }
    }
    const slow = new Set()
    for (let r = 0; r < runs; r++) {
      // Rotate the order each round, so no client always runs right after the same one.
      const order = names.map((_, i) => names[(i + r) % names.length])
      for (const name of order) {
        if (broken.has(name)) continue
        if (slow.has(name) && times[name].length >= SLOW_RUNS) continue
        try {
          const { ms, cpuMs, deltas } = await handles[name].call("run", { mode: shape, format })
          if (deltas !== expectDeltas) throw new Error(`counted ${deltas} text deltas, expected ${expectDeltas}`)
          times[name].push(ms)
          cpuTimes[name].push(cpuMs)
          if (times[name].length === 1 && ms > SLOW_RUN_MS && SLOW_RUNS < RUNS) {
            slow.add(name)
            log(`  ${name}: ${(ms / 1000).toFixed(1)} s per run, measured ${SLOW_RUNS} times instead of ${RUNS}`)
          }
        } catch (e) {
          fail(`${name} ${format}/${shape}`, e)
          broken.add(name)
        }
        await sleep(50)
      }
    }
    const rows = {}
    for (const name of names) {
      const ms = median(times[name])
      let maxRss
      try {
        if (handles[name] !== undefined) maxRss = (await handles[name].call("stats")).maxRss
      } catch {
        // the child is gone
      }
      rows[name] = ms === undefined ? { error: true } : {
        ms: +ms.toFixed(1),
        runs: times[name].map((t) => +t.toFixed(1)),
        cpuMs: +median(cpuTimes[name]).toFixed(1),
        eventsPerSecond: Math.round(sizes[format].events / (ms / 1000)),
        mbPerSecond: +(sizes[format].bytes / 1e6 / (ms / 1000)).toFixed(1),
        peakRssMB: maxRss === undefined ? undefined : +(maxRss / 1e6).toFixed(0)
      }
    }
    const floor = rows.floor?.ms
    const openai = rows.openai?.ms
    for (const row of Object.values(rows)) {
      if (row.ms === undefined) continue
      if (floor !== undefined) row.timeVsFloor = +(row.ms / floor).toFixed(2)
      if (openai !== undefined) row.speedVsOpenai = +(openai / row.ms).toFixed(2)
    }
    stopAll(handles)
    out[shape] = rows
    for (const [name, row] of Object.entries(rows)) log(`  ${name.padEnd(16)} ${row.ms ?? "error"} ms`)
  }
  return out
}

if (SECTIONS.has("throughput")) results.throughput.openai = await throughput(CLIENTS, "openai", ["bulk", "event"])
if (SECTIONS.has("formats")) {
  for (const format of ["anthropic", "gemini"]) {
    results.formats[format] = await throughput(CLIENTS.filter((n) => n === "floor" || n === "sluice"), format, ["bulk", "event"])
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Added first-token latency: server writes one event (its text: the server's monotonic clock in ns), then waits
// 500 ms; the latency is from that write to the consumer's first TextDelta (the client aborts there).

if (SECTIONS.has("first-token")) {
  log(`first-token latency: ${CLIENTS.join(", ")}`)
  const handles = await startAll(CLIENTS)
  const latencies = Object.fromEntries(CLIENTS.map((n) => [n, []]))
  const broken = new Set(CLIENTS.filter((n) => handles[n] === undefined))
  for (const name of CLIENTS) {
    if (broken.has(name)) continue
    try {
      await handles[name].call("first", { format: "openai", count: FIRST_TOKEN_WARMUP })
    } catch (e) {
      fail(`${name} first-token warm-up`, e)
      broken.add(name)
    }
  }
  const block = 20
  for (let done = 0; done < FIRST_TOKEN_REQUESTS; done += block) {
    for (const name of CLIENTS) {
      if (broken.has(name)) continue
      try {
        const { latencies: xs } = await handles[name].call("first", { format: "openai", count: Math.min(block, FIRST_TOKEN_REQUESTS - done) })
        latencies[name].push(...xs)
      } catch (e) {
        fail(`${name} first-token`, e)
        broken.add(name)
      }
    }
  }
  stopAll(handles)
  const rows = {}
  for (const name of CLIENTS) {
    if (latencies[name].length === 0) continue
    const us = latencies[name].map((ns) => ns / 1000)
    rows[name] = { requests: us.length, medianUs: +median(us).toFixed(0), p90Us: +percentile(us, 90).toFixed(0), p99Us: +percentile(us, 99).toFixed(0) }
  }
  for (const row of Object.values(rows)) if (rows.floor !== undefined) row.addedOverFloorUs = row.medianUs - rows.floor.medianUs
  results.firstToken = rows
}

// ---------------------------------------------------------------------------------------------------------------
// Memory: 1,000,000 text deltas (1,000,003 events, ~220 MB) through one client, RSS sampled every 50 ms; flat RSS = backpressure works.

if (SECTIONS.has("memory")) {
  const rows = {}
  for (const name of CLIENTS.filter((n) => n === "floor" || n === "sluice")) {
    log(`memory (1,000,000 events): ${name}`)
    const handles = await startAll([name], {}, ["--expose-gc"])
    try {
      const h = handles[name]
      for (let i = 0; i < WARMUP; i++) await h.call("run", { mode: "warm", format: "openai" })
      const m = await h.call("memory", { format: "openai" })
      const expected = 1_000_000
      if (m.deltas !== expected) throw new Error(`counted ${m.deltas} text deltas, expected ${expected}`)
      const peak = Math.max(m.before, ...m.samples)
      const low = Math.min(...m.samples)
      const tenth = m.samples[Math.floor(m.samples.length / 10)] ?? m.before
      rows[name] = {
        events: 1_000_003,
        ms: +m.ms.toFixed(0),
        eventsPerSecond: Math.round(1_000_003 / (m.ms / 1000)),
        rssBeforeMB: +(m.before / 1e6).toFixed(1),
        rssAt10PercentMB: +(tenth / 1e6).toFixed(1),
        rssPeakMB: +(peak / 1e6).toFixed(1),
        rssEndMB: +(m.after / 1e6).toFixed(1),
        rssLowMB: +(low / 1e6).toFixed(1),
        /** The conservative figure: peak over the lowest sample while the stream ran. */
        growthMB: +((peak - Math.min(low, m.before)) / 1e6).toFixed(1),
        growthOverBeforeMB: +((peak - m.before) / 1e6).toFixed(1),
        growthAfter10PercentMB: +((peak - tenth) / 1e6).toFixed(1)
      }
    } catch (e) {
      fail(`${name} memory`, e)
    }
    stopAll(handles)
  }
  results.memory = rows
}

// ---------------------------------------------------------------------------------------------------------------
// Concurrency: CONCURRENT_STREAMS simultaneous streams of 1,000 events.

if (SECTIONS.has("concurrency")) {
  const rows = {}
  for (const name of CONCURRENCY_CLIENTS) {
    log(`concurrency (${CONCURRENT_STREAMS} x 1,000 events): ${name}`)
    const handles = await startAll([name])
    try {
      const h = handles[name]
      await h.call("run", { mode: "warm", format: "openai" })
      await h.call("concurrent", { streams: 50, format: "openai" })
      const runs = []
      for (let r = 0; r < CONCURRENCY_RUNS; r++) {
        const c = await h.call("concurrent", { streams: CONCURRENT_STREAMS, format: "openai" })
        const expected = CONCURRENT_STREAMS * (1_000 - wireFormats.openai.events(0))
        if (c.deltas !== expected || c.ttfts.length !== CONCURRENT_STREAMS) {
          throw new Error(`counted ${c.deltas} text deltas over ${c.ttfts.length} streams, expected ${expected} over ${CONCURRENT_STREAMS}`)
        }
        runs.push({ ms: c.ms, p50: percentile(c.ttfts, 50), p99: percentile(c.ttfts, 99) })
        await sleep(200)
      }
      const ms = median(runs.map((r) => r.ms))
      const stats = await h.call("stats")
      rows[name] = {
        streams: CONCURRENT_STREAMS,
        eventsPerStream: 1_000,
        errors: 0,
        ms: +ms.toFixed(0),
        eventsPerSecond: Math.round((CONCURRENT_STREAMS * 1_000) / (ms / 1000)),
        ttftP50Ms: +median(runs.map((r) => r.p50)).toFixed(1),
        ttftP99Ms: +median(runs.map((r) => r.p99)).toFixed(1),
        peakRssMB: +(stats.maxRss / 1e6).toFixed(0)
      }
    } catch (e) {
      fail(`${name} concurrency`, e)
      rows[name] = { streams: CONCURRENT_STREAMS, error: String(e.message).split("\n")[0] }
    }
    stopAll(handles)
  }
  results.concurrency = rows
}

// ---------------------------------------------------------------------------------------------------------------
// Policy stack overhead: the same adapter bare and under timeout + retry + failover + guard (+ metrics).

// Two Sluice processes, each alternating the variants run by run: a difference between processes (where
// the heap and the JIT happened to settle) is as large as the overhead being measured, so every variant is
// measured in both processes and their runs pooled.

// The bare adapter and the full stack by default; each part alone with POLICY_VARIANTS (the in-memory
// breakdown below measures the parts without the machine's noise).
const POLICY_VARIANTS = ["bare", ...list("POLICY_VARIANTS", "full").filter((v) => v !== "bare")]
const POLICY_PROCESSES = 2

const policyRuns = async (shape) => {
  log(`policy stack openai/${shape}: ${POLICY_VARIANTS.join(", ")} in ${POLICY_PROCESSES} processes`)
  const handles = []
  // --expose-gc: each run starts from a collected heap, not with the garbage of the variant before it.
  for (let i = 0; i < POLICY_PROCESSES; i++) handles.push(await startClient("sluice", {}, ["--expose-gc"]))
  const wall = Object.fromEntries(POLICY_VARIANTS.map((v) => [v, []]))
  const cpu = Object.fromEntries(POLICY_VARIANTS.map((v) => [v, []]))
  let applied
  try {
    for (const handle of handles) {
      for (const variant of POLICY_VARIANTS) {
        for (let i = 0; i < WARMUP; i++) await handle.call("run", { mode: "warm", format: "openai", variant })
      }
    }
    for (let r = 0; r < POLICY_RUNS; r++) {
      const order = POLICY_VARIANTS.map((_, i) => POLICY_VARIANTS[(i + r) % POLICY_VARIANTS.length])
      for (const handle of handles) {
        for (const variant of order) {
          await handle.call("gc")
          const { ms, cpuMs, deltas } = await handle.call("run", { mode: shape, format: "openai", variant })
          if (deltas !== DELTAS) throw new Error(`counted ${deltas} text deltas, expected ${DELTAS}`)
          wall[variant].push(ms)
          cpu[variant].push(cpuMs)
          await sleep(20)
        }
      }
    }
    await handles[0].call("run", { mode: "warm", format: "openai", variant: "full" })
    applied = (await handles[0].call("stats")).applied
  } catch (e) {
    fail(`policy stack ${shape}`, e)
  }
  handles.forEach((h) => h.stop())
  const rows = {}
  for (const variant of POLICY_VARIANTS) {
    if (wall[variant].length === 0) continue
    rows[variant] = {
      ms: +median(wall[variant]).toFixed(1),
      cpuMs: +median(cpu[variant]).toFixed(1),
      runs: wall[variant].map((t) => +t.toFixed(1)),
      cpuRuns: cpu[variant].map((t) => +t.toFixed(1))
    }
  }
  // The overhead is the median of the paired ratios (each run over the bare run of the same round and
  // process): the machine's drift between rounds cancels, which a ratio of two medians does not do.
  const pairedPercent = (xs, bare) => +((median(xs.map((x, i) => x / bare[i])) - 1) * 100).toFixed(1)
  for (const [variant, row] of Object.entries(rows)) {
    if (variant === "bare" || rows.bare === undefined || row.runs.length !== rows.bare.runs.length) continue
    row.overheadPercent = pairedPercent(row.runs, rows.bare.runs)
    row.cpuOverheadPercent = pairedPercent(row.cpuRuns, rows.bare.cpuRuns)
  }
  for (const [variant, row] of Object.entries(rows)) log(`  ${variant.padEnd(16)} ${row.ms} ms, CPU ${row.cpuMs} ms`)
  return { rows, applied }
}

if (SECTIONS.has("policies")) {
  const bulk = await policyRuns("bulk")
  const event = await policyRuns("event")
  results.policies = { applied: bulk.applied ?? event.applied, processes: POLICY_PROCESSES, runsPerProcess: POLICY_RUNS, bulk: bulk.rows, event: event.rows }
  // Each part alone, in memory (bench/policies.mjs), shaped like the HTTP answer: ~355 reads of ~282 events.
  log("policy stack in memory (bench/policies.mjs)")
  try {
    const out = execFileSync(process.execPath, [new URL("policies.mjs", here).pathname], {
      encoding: "utf8",
      env: { ...process.env, JSON: "1", CHUNKS: "355", PER: "282", RUNS: "31" }
    })
    results.policies.inMemory = JSON.parse(out.trim().split("\n").pop())
  } catch (e) {
    fail("policy stack in memory", e)
  }
}

// ---------------------------------------------------------------------------------------------------------------
// CLI: cold start of `sluice --help` and the bundle's size.

if (SECTIONS.has("cli")) {
  const bundle = new URL("packages/cli/dist/sluice.mjs", root)
  if (!existsSync(bundle)) {
    results.cli = { missing: "packages/cli/dist/sluice.mjs (build the CLI bundle to measure it)" }
  } else {
    log("CLI cold start")
    const times = []
    let status
    for (let i = 0; i <= Math.max(5, RUNS); i++) {
      const start = performance.now()
      const r = spawnSync(process.execPath, [bundle.pathname, "--help"], { encoding: "utf8" })
      const ms = performance.now() - start
      status = r.status
      if (i > 0) times.push(ms)
    }
    const node = []
    for (let i = 0; i <= Math.max(5, RUNS); i++) {
      const start = performance.now()
      spawnSync(process.execPath, ["-e", "0"])
      if (i > 0) node.push(performance.now() - start)
    }
    const bytes = readFileSync(bundle)
    results.cli = {
      helpColdStartMs: +median(times).toFixed(0),
      nodeEmptyStartMs: +median(node).toFixed(0),
      exitCode: status,
      bundleBytes: statSync(bundle).size,
      bundleGzipBytes: gzipSync(bytes).length
    }
  }
}

results.durationSeconds = +((performance.now() - started) / 1000).toFixed(0)
results.machine.loadAverageAtEnd = os.loadavg().map((x) => +x.toFixed(2))
server.kill()

// ---------------------------------------------------------------------------------------------------------------
// Report

mkdirSync(new URL("results/", here), { recursive: true })
writeFileSync(new URL("results/latest.json", here), JSON.stringify(results, null, 2) + "\n")

const fmt = (n, digits = 0) => (n === undefined ? "—" : Number(n).toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits }))
const table = (header, rows) => {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)))
  const line = (cells) => `| ${cells.map((c, i) => (i === 0 ? String(c).padEnd(widths[i]) : String(c).padStart(widths[i]))).join(" | ")} |`
  return [line(header), `| ${widths.map((w, i) => (i === 0 ? "-".repeat(w) : "-".repeat(w - 1) + ":")).join(" | ")} |`, ...rows.map(line)].join("\n")
}
const lines = []
const m = results.machine
lines.push(`Sluice benchmark — ${m.cpu}, ${m.cores} cores, Node ${m.node}, load average ${m.loadAverageAtStart[0]} at start; median of ${RUNS} runs per client, clients alternating, each in its own process.`)
lines.push(`Stream: ${fmt(sizes.openai.events)} chat.completion.chunk events, ${fmt(sizes.openai.bytes / 2 ** 20, 1)} MiB, from a load server on loopback; ` +
  `bulk = writes of 1–16 KiB (${fmt(sizes.openai.bulkWrites)} writes), per event = one event per write.`)
lines.push("")
const tputRows = []
for (const shape of ["bulk", "event"]) {
  const rows = results.throughput.openai?.[shape] ?? {}
  for (const [name, r] of Object.entries(rows)) {
    tputRows.push([
      `${labels[name]}, ${shape === "bulk" ? "bulk" : "per event"}${r.runs !== undefined && r.runs.length !== RUNS ? ` (${r.runs.length} runs)` : ""}`,
      r.error ? "error" : fmt(r.ms),
      r.error ? "—" : fmt(r.eventsPerSecond),
      r.error ? "—" : fmt(r.mbPerSecond, 1),
      r.timeVsFloor === undefined ? "—" : `${fmt(r.timeVsFloor, 2)}x`,
      r.speedVsOpenai === undefined ? "—" : `${fmt(r.speedVsOpenai, 2)}x`,
      fmt(r.peakRssMB)
    ])
  }
}
if (tputRows.length > 0) {
  lines.push("Throughput, OpenAI format")
  lines.push(table(["client, writes", "ms", "events/s", "MB/s", "time vs floor", "speed vs openai", "peak RSS MB"], tputRows))
  lines.push("")
}
const formatRows = []
for (const [format, shapes] of Object.entries(results.formats)) {
  for (const shape of ["bulk", "event"]) {
    for (const [name, r] of Object.entries(shapes[shape] ?? {})) {
      formatRows.push([
        `${format}: ${labels[name]}, ${shape === "bulk" ? "bulk" : "per event"}`,
        r.error ? "error" : fmt(r.ms),
        r.error ? "—" : fmt(r.eventsPerSecond),
        r.error ? "—" : fmt(r.mbPerSecond, 1),
        r.timeVsFloor === undefined ? "—" : `${fmt(r.timeVsFloor, 2)}x`,
        fmt(r.peakRssMB)
      ])
    }
  }
}
if (formatRows.length > 0) {
  lines.push(`Throughput, other formats (Anthropic ${fmt(sizes.anthropic.events)} events ${fmt(sizes.anthropic.bytes / 2 ** 20, 1)} MiB; Gemini ${fmt(sizes.gemini.events)} events ${fmt(sizes.gemini.bytes / 2 ** 20, 1)} MiB, CRLF)`)
  lines.push(table(["format: client, writes", "ms", "events/s", "MB/s", "time vs floor", "peak RSS MB"], formatRows))
  lines.push("")
}
if (results.firstToken !== undefined) {
  lines.push(`Added first-token latency (server writes one event, then waits 500 ms; from that write to the consumer's first text delta; ${FIRST_TOKEN_REQUESTS} requests)`)
  lines.push(table(
    ["client", "median µs", "p90 µs", "p99 µs", "added over floor µs"],
    Object.entries(results.firstToken).map(([name, r]) => [labels[name], fmt(r.medianUs), fmt(r.p90Us), fmt(r.p99Us), fmt(r.addedOverFloorUs)])
  ))
  lines.push("")
}
if (results.memory !== undefined) {
  lines.push(`Memory: 1,000,000 text deltas (1,000,003 events, ${fmt(10 * sizes.openai.bytes / 2 ** 20)} MiB) in one stream, bulk writes; RSS sampled every 50 ms ("before": after warm-up and a full GC; growth: the highest sample over the lowest)`)
  lines.push(table(
    ["client", "ms", "events/s", "RSS before MB", "RSS low MB", "RSS peak MB", "growth (peak − low) MB"],
    Object.entries(results.memory).map(([name, r]) => [labels[name], fmt(r.ms), fmt(r.eventsPerSecond), fmt(r.rssBeforeMB, 1), fmt(r.rssLowMB, 1), fmt(r.rssPeakMB, 1), fmt(r.growthMB, 1)])
  ))
  lines.push("")
}
if (results.concurrency !== undefined) {
  lines.push(`Concurrency: ${CONCURRENT_STREAMS} simultaneous streams of 1,000 events (median of ${CONCURRENCY_RUNS})`)
  lines.push(table(
    ["client", "errors", "ms", "aggregate events/s", "TTFT p50 ms", "TTFT p99 ms", "peak RSS MB"],
    Object.entries(results.concurrency).map(([name, r]) =>
      r.error ? [labels[name], r.error, "—", "—", "—", "—", "—"] : [labels[name], fmt(r.errors), fmt(r.ms), fmt(r.eventsPerSecond), fmt(r.ttftP50Ms, 1), fmt(r.ttftP99Ms, 1), fmt(r.peakRssMB)]
    )
  ))
  lines.push("")
}
if (results.policies !== undefined) {
  const p = results.policies
  const percent = (value) => (value === undefined ? "—" : `${value >= 0 ? "+" : ""}${fmt(value, 1)}%`)
  lines.push(`Policy stack: ${(p.applied ?? []).join(" + ")} vs the bare adapter (${p.runsPerProcess} rounds in each of ${p.processes} processes, variants alternating; ms: median; overhead: median of the ratios to the bare run of the same round)`)
  lines.push(table(
    ["variant", "bulk ms", "overhead", "CPU overhead", "per event ms", "overhead", "CPU overhead"],
    POLICY_VARIANTS.filter((v) => p.bulk?.[v] !== undefined || p.event?.[v] !== undefined).map((v) => [
      v === "bare" ? "bare adapter" : v === "full" ? "full stack" : v,
      fmt(p.bulk?.[v]?.ms),
      v === "bare" ? "" : percent(p.bulk?.[v]?.overheadPercent),
      v === "bare" ? "" : percent(p.bulk?.[v]?.cpuOverheadPercent),
      fmt(p.event?.[v]?.ms),
      v === "bare" ? "" : percent(p.event?.[v]?.overheadPercent),
      v === "bare" ? "" : percent(p.event?.[v]?.cpuOverheadPercent)
    ])
  ))
  const m = p.inMemory
  if (m !== undefined) {
    lines.push(`In memory (bench/policies.mjs: ${fmt(m.chunks)} chunks of ${m.eventsPerChunk} events from a fake that honours the policy context, median of ${m.runs}): ${
      Object.entries(m.rows).filter(([name]) => name !== "bare").map(([name, r]) => `${name} ${r.addedMs >= 0 ? "+" : "−"}${fmt(Math.abs(r.addedMs), 1)} ms`).join(", ")
    } over the bare ${fmt(m.rows.bare?.ms, 1)} ms`)
  }
  lines.push("")
}
if (results.cli !== undefined) {
  lines.push(results.cli.missing !== undefined
    ? `CLI: not measured — ${results.cli.missing}`
    : `CLI: \`sluice --help\` cold start ${fmt(results.cli.helpColdStartMs)} ms (node -e 0: ${fmt(results.cli.nodeEmptyStartMs)} ms); bundle ${fmt(results.cli.bundleBytes / 1024)} KiB, ${fmt(results.cli.bundleGzipBytes / 1024)} KiB gzipped`)
  lines.push("")
}
const v = results.versions
lines.push(`Versions: Sluice ${v.sluice.commit}${v.sluice.dirty ? " (uncommitted changes)" : ""} on effect ${v.workspace.effect}, @effect/platform ${v.workspace["@effect/platform"]}, undici ${v.workspace.undici}; ` +
  `openai ${v.peers.openai}; ai ${v.peers.ai} + @ai-sdk/openai-compatible ${v.peers["@ai-sdk/openai-compatible"]}; ` +
  `@effect/ai ${v.peers["@effect/ai"]} + @effect/ai-openrouter ${v.peers["@effect/ai-openrouter"]} (effect ${v.peers.effect}, @effect/platform ${v.peers["@effect/platform"]}, undici ${v.peers.undici}); Node's fetch: undici ${v.nodeBundledUndici}.`)
if (results.errors.length > 0) lines.push(`Errors: ${results.errors.join("; ")}`)
lines.push(`Total ${results.durationSeconds} s. JSON: bench/results/latest.json`)
console.log(lines.join("\n"))
