// One client in its own process (so its peak RSS is its own), driven by bench/run.mjs over IPC.
// argv: client name, load server port, options as JSON.
const [name, port, optionsJson] = process.argv.slice(2)
const options = JSON.parse(optionsJson ?? "{}")
// Sluice and the floor resolve packages from the workspace (../node_modules); the peers from bench/peers.
const peers = ["openai", "aisdk", "effectai"]
const client = await (await import(peers.includes(name) ? `./peers/${name}.mjs` : `./clients/${name}.mjs`)).make({ port: Number(port), ...options })

const commands = {
  /** One streamed answer: wall time from the call to the consumer's last event, and this process's CPU time meanwhile. */
  run: async ({ mode, format, variant }) => {
    const cpu = process.cpuUsage()
    const start = performance.now()
    const { deltas } = await client.run({ mode, format, variant })
    const ms = performance.now() - start
    const used = process.cpuUsage(cpu)
    return { ms, cpuMs: (used.user + used.system) / 1000, deltas }
  },
  /** `count` first-token latencies (ns from the server's write of the first event to the consumer's first TextDelta). */
  first: async ({ format, count }) => {
    const latencies = []
    for (let i = 0; i < count; i++) latencies.push(await client.first({ format }))
    return { latencies }
  },
  /** `streams` answers of 1,000 events at once. */
  concurrent: async ({ streams, format }) => {
    const start = performance.now()
    const { deltas, ttfts } = await client.concurrent({ streams, format })
    return { ms: performance.now() - start, deltas, ttfts }
  },
  /** The 1,000,000-event answer with RSS sampled every 50 ms. */
  memory: async ({ format }) => {
    globalThis.gc?.()
    const samples = []
    const timer = setInterval(() => samples.push(process.memoryUsage.rss()), 50)
    const before = process.memoryUsage.rss()
    const start = performance.now()
    const { deltas } = await client.run({ mode: "big", format })
    const ms = performance.now() - start
    clearInterval(timer)
    return { ms, deltas, before, samples, after: process.memoryUsage.rss() }
  },
  stats: async () => ({
    maxRss: process.resourceUsage().maxRSS * 1024,
    rss: process.memoryUsage.rss(),
    applied: client.applied
  }),
  gc: async () => {
    globalThis.gc?.()
    return {}
  }
}

process.on("message", async ({ id, cmd, args }) => {
  try {
    process.send({ id, ok: true, value: await commands[cmd](args ?? {}) })
  } catch (error) {
    process.send({ id, ok: false, error: String(error?.stack ?? error) })
  }
})
process.on("disconnect", () => process.exit(0))
process.send({ ready: true })
