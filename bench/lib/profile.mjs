// Summarises a V8 .cpuprofile (node --cpu-prof; `PROFILE=sluice npm run bench` writes them to
// bench/results/profiles/): self time per function, and with --by=package the time per package.
// Run: node bench/lib/profile.mjs FILE.cpuprofile [--top=40] [--by=package]
import { readFileSync } from "node:fs"

const args = process.argv.slice(2)
const file = args.find((a) => !a.startsWith("--"))
const top = Number(args.find((a) => a.startsWith("--top="))?.slice(6) ?? 40)
const byPackage = args.includes("--by=package")
const profile = JSON.parse(readFileSync(file, "utf8"))
const nodes = new Map(profile.nodes.map((n) => [n.id, n]))
const selfTime = new Map()
for (let i = 0; i < profile.samples.length; i++) {
  selfTime.set(profile.samples[i], (selfTime.get(profile.samples[i]) ?? 0) + (profile.timeDeltas[i] ?? 0))
}
const packageOf = (url) => {
  if (url === "") return "(native / V8)"
  if (url.startsWith("node:")) return "node internals"
  const m = url.match(/node_modules\/((?:@[^/]+\/)?[^/]+)/g)
  if (m !== null) return m[m.length - 1].replace("node_modules/", "")
  const p = url.match(/packages\/([^/]+)\//)
  return p !== null ? `@sluice/${p[1]}` : url.split("/").slice(-2).join("/")
}
const totals = new Map()
let total = 0
for (const [id, t] of selfTime) {
  const f = nodes.get(id).callFrame
  const key = byPackage
    ? packageOf(f.url)
    : `${f.functionName || "(anonymous)"}  ${f.url.split("/").slice(-3).join("/")}:${f.lineNumber + 1}`
  totals.set(key, (totals.get(key) ?? 0) + t)
  total += t
}
for (const [key, t] of [...totals].sort((a, b) => b[1] - a[1]).slice(0, top)) {
  console.log(`${(t / 1000).toFixed(1).padStart(9)} ms ${((100 * t) / total).toFixed(1).padStart(5)} %  ${key}`)
}
console.log(`${(total / 1000).toFixed(1).padStart(9)} ms total`)
