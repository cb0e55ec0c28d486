// Every workspace package's `prepack` (npm runs it in the package's directory before `npm pack` and
// `npm publish`): copies the repository's LICENSE into the package, so each tarball ships the one
// licence text and no per-package copy can drift (the copies are gitignored), and refuses to pack a
// package whose build is missing, since npm would otherwise pack it silently without its files.
import { copyFileSync, existsSync, readFileSync } from "node:fs"
import { join } from "node:path"

const root = new URL("../", import.meta.url)
const dir = process.cwd()
copyFileSync(new URL("LICENSE", root), join(dir, "LICENSE"))

const { name, files = [] } = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"))
// Literal entries only: a negation or a glob names no one file that must exist.
const missing = files.filter((entry) => !/[!*?{[]/.test(entry) && !existsSync(join(dir, entry)))
if (missing.length > 0) {
  const hint = missing.some((entry) => entry.startsWith("dist")) ? ": run `npm run build` at the repository root first" : ""
  console.error(`${name}: cannot pack without ${missing.join(", ")}${hint}`)
  process.exit(1)
}
