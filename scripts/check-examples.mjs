// Type-checks every `@example` of every public module (packages/*/src/*.ts, not internal/) against the
// built packages, as a user's app would import them: each example must be a fenced ```ts block and
// compile on its own (strict, with only the names it declares or imports, every import used).
// `npm run build` runs it after `tsc -b`, so `npm test` and CI do. One TypeScript program checks all
// the examples; when neither they nor what they compile against changed since the last pass, it is skipped.
import { createHash } from "node:crypto"
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { dirname, join, relative } from "node:path"
import { fileURLToPath } from "node:url"

const root = join(dirname(fileURLToPath(import.meta.url)), "..")
// Under the root's node_modules, so `@sluice/*`, `effect` and `@types/node` resolve as in the workspace.
const cache = join(root, "node_modules", ".cache")
const work = join(cache, "sluice-examples")
const stampFile = join(cache, "sluice-examples.stamp")

/** @typedef {{ source: string, line: number, code: string, file: string }} Example */

/** @type {Array<string>} */
const failures = []

/** The `@example` blocks of one module's JSDoc comments, each with the source line its code starts on. */
const examplesOf = (source) => {
  const text = readFileSync(join(root, source), "utf8")
  /** @type {Array<Example>} */
  const found = []
  for (const comment of text.matchAll(/\/\*\*[\s\S]*?\*\//g)) {
    const startLine = text.slice(0, comment.index).split("\n").length
    // The comment's lines without their leading ` * `.
    const lines = comment[0].split("\n").map((line) => line.replace(/^\s*\/?\*+\/?\s?/, "").replace(/\s*\*\/$/, ""))
    for (let i = 0; i < lines.length; i++) {
      if (!/^@example\b/.test(lines[i])) continue
      const fence = lines.findIndex((line, j) => j > i && line.trim() !== "")
      if (fence < 0 || !/^```(ts|typescript)\s*$/.test(lines[fence])) {
        failures.push(`${source}:${startLine + i}: an @example must be a fenced \`\`\`ts block`)
        continue
      }
      const end = lines.findIndex((line, j) => j > fence && /^```\s*$/.test(line))
      if (end < 0) {
        failures.push(`${source}:${startLine + fence}: the @example's \`\`\`ts block is not closed`)
        continue
      }
      found.push({ source, line: startLine + fence + 1, code: lines.slice(fence + 1, end).join("\n"), file: "" })
      i = end
    }
  }
  return found
}

const packages = readdirSync(join(root, "packages")).filter((pkg) => existsSync(join(root, "packages", pkg, "src")))
const modules = packages.flatMap((pkg) =>
  readdirSync(join(root, "packages", pkg, "src"), { withFileTypes: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith(".ts"))
    .map((entry) => `packages/${pkg}/src/${entry.name}`)
)
const examples = modules.flatMap(examplesOf)

const report = () => {
  console.error(`check-examples: ✗ ${failures.length} problem(s) in the modules' @example blocks:`)
  for (const failure of failures) console.error(`  ${failure}`)
  process.exit(1)
}
if (failures.length > 0) report()

/** Every declaration file under `dir`, for the stamp. */
const declarations = (dir) =>
  existsSync(dir)
    ? readdirSync(dir, { withFileTypes: true, recursive: true })
      .filter((entry) => entry.isFile() && entry.name.endsWith(".d.ts"))
      .map((entry) => join(entry.parentPath ?? entry.path, entry.name))
      .sort()
    : []

// What a pass depends on: the examples, the built packages' types, the installed dependencies.
const hash = createHash("sha256")
for (const example of examples) hash.update(`${example.source}\0${example.code}\0`)
for (const pkg of packages) {
  for (const file of declarations(join(root, "packages", pkg, "dist"))) hash.update(`${file}\0`).update(readFileSync(file))
}
hash.update(readFileSync(join(root, "package-lock.json")))
hash.update(readFileSync(fileURLToPath(import.meta.url)))
const stamp = hash.digest("hex")
if (existsSync(stampFile) && readFileSync(stampFile, "utf8") === stamp) {
  console.log(`check-examples: ✓ ${examples.length} @example blocks unchanged since they last type-checked`)
  process.exit(0)
}

const { default: ts } = await import("typescript")

rmSync(work, { recursive: true, force: true })
mkdirSync(work, { recursive: true })
// ESM, as the packages are (NodeNext reads the nearest package.json).
writeFileSync(join(work, "package.json"), `${JSON.stringify({ type: "module" })}\n`)
for (const [n, example] of examples.entries()) {
  const name = example.source.replace(/^packages\//, "").replace(/\/src\//, "-").replace(/\.ts$/, "")
  example.file = join(work, `${name}-${n}.ts`)
  // `export {}` keeps every example a module of its own, so their top-level names never meet.
  writeFileSync(example.file, `${example.code}\nexport {}\n`)
}

const program = ts.createProgram(examples.map((example) => example.file), {
  target: ts.ScriptTarget.ES2022,
  lib: ["lib.es2022.d.ts", "lib.dom.d.ts"],
  module: ts.ModuleKind.NodeNext,
  moduleResolution: ts.ModuleResolutionKind.NodeNext,
  strict: true,
  exactOptionalPropertyTypes: true,
  noImplicitOverride: true,
  skipLibCheck: true,
  types: ["node"],
  noEmit: true,
  // For unused imports only (below): an example's own top-level values (`program`) are there to be read.
  noUnusedLocals: true
})

/** "Declared but never read" diagnostics count only for what an import declares. */
const unusedCodes = new Set([6133, 6192, 6196, 6198])
const inImport = (file, start) => {
  const find = (node) => (start >= node.getStart(file) && start < node.getEnd() ? (ts.forEachChild(node, find) ?? node) : undefined)
  for (let node = ts.forEachChild(file, find); node !== undefined; node = node.parent) {
    if (ts.isImportDeclaration(node)) return true
  }
  return false
}

const byFile = new Map(examples.map((example) => [example.file, example]))
for (const diagnostic of ts.getPreEmitDiagnostics(program)) {
  const message = ts.flattenDiagnosticMessageText(diagnostic.messageText, "\n")
  const example = diagnostic.file === undefined ? undefined : byFile.get(diagnostic.file.fileName)
  if (diagnostic.file === undefined || diagnostic.start === undefined || example === undefined) {
    failures.push(`${diagnostic.file === undefined ? "tsc" : relative(root, diagnostic.file.fileName)}: ${message}`)
    continue
  }
  if (unusedCodes.has(diagnostic.code) && !inImport(diagnostic.file, diagnostic.start)) continue
  const { line } = diagnostic.file.getLineAndCharacterOfPosition(diagnostic.start)
  failures.push(`${example.source}:${example.line + line}: ${message}`)
}
rmSync(work, { recursive: true, force: true })
if (failures.length > 0) {
  rmSync(stampFile, { force: true })
  report()
}
writeFileSync(stampFile, stamp)
console.log(`check-examples: ✓ ${examples.length} @example blocks of ${modules.length} modules type-check`)
