// Installs bench/peers from its lockfile (npm ci) unless node_modules already holds exactly what the lockfile
// pins: npm's own record of the install (node_modules/.package-lock.json) has every package at the locked
// version and integrity, and whatever it lacks is optional (another platform's build). Saves the ~15 s a
// reinstall takes on every `npm run bench`.
import { execFileSync } from "node:child_process"
import { existsSync, readFileSync } from "node:fs"

const peers = new URL("peers/", import.meta.url)
const read = (path) => JSON.parse(readFileSync(new URL(path, peers), "utf8"))

const inSync = () => {
  if (!existsSync(new URL("node_modules/.package-lock.json", peers))) return false
  const locked = read("package-lock.json").packages
  const installed = read("node_modules/.package-lock.json").packages
  for (const [path, entry] of Object.entries(installed)) {
    const want = locked[path]
    if (want === undefined || want.version !== entry.version || want.integrity !== entry.integrity) return false
  }
  return Object.entries(locked).every(([path, entry]) => path === "" || installed[path] !== undefined || entry.optional === true)
}

if (inSync()) {
  console.error("bench: bench/peers/node_modules matches its lockfile")
} else {
  execFileSync("npm", ["ci", "--no-audit", "--no-fund", "--loglevel=error"], { cwd: peers, stdio: "inherit" })
}
