// The registry this project installs from serves platform-specific optional packages only for
// this platform, so `npm install` leaves the others out of package-lock.json and `npm ci` then
// refuses the lockfile as "out of sync". This adds a stub entry (version, optional) for each
// missing optional dependency; `npm ci` skips them as optional. Run after `npm install`.
import { readFileSync, writeFileSync } from "node:fs"

const file = process.argv[2] ?? "package-lock.json"
const lock = JSON.parse(readFileSync(file, "utf8"))
const packages = lock.packages
let added = 0
for (const [path, entry] of Object.entries(packages)) {
  for (const [name, range] of Object.entries(entry.optionalDependencies ?? {})) {
    // npm resolves a dependency next to its parent first, then up the tree; hoisted is the usual place.
    const nested = `${path === "" ? "" : `${path}/`}node_modules/${name}`
    const hoisted = `node_modules/${name}`
    if (packages[nested] !== undefined || packages[hoisted] !== undefined) continue
    const version = range.replace(/^[\^~=]/, "")
    packages[hoisted] = { version, ...(entry.dev ? { dev: true } : {}), optional: true }
    added++
  }
}
lock.packages = Object.fromEntries(Object.entries(packages).sort(([a], [b]) => (a === "" ? -1 : b === "" ? 1 : a < b ? -1 : a > b ? 1 : 0)))
writeFileSync(file, JSON.stringify(lock, null, 2) + "\n")
console.log(`lock-optional-stubs: added ${added} stub entries`)
