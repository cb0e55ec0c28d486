// Bundles the CLI into one ESM file, dist/sluice.mjs, with nothing external but Node's built-ins.
// Run after `tsc -b` (the workspace packages it imports are resolved from their dist/).
import * as esbuild from "esbuild"
import { chmodSync, readFileSync, statSync, writeFileSync } from "node:fs"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"

const here = dirname(fileURLToPath(import.meta.url))
const { version } = JSON.parse(readFileSync(join(here, "package.json"), "utf8"))
const outfile = join(here, "dist", "sluice.mjs")

const result = await esbuild.build({
  entryPoints: [join(here, "src", "main.ts")],
  outfile,
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  minify: true,
  legalComments: "none",
  metafile: true,
  logLevel: "warning",
  define: { SLUICE_VERSION: JSON.stringify(version) },
  banner: {
    // CommonJS dependencies (undici) call require() on Node's built-ins; ESM has none of its own.
    js: "#!/usr/bin/env node\nimport { createRequire as __sluiceRequire } from \"node:module\";const require = __sluiceRequire(import.meta.url);"
  }
})

// Optional native add-ons must not be reachable from the bundle: they cannot be bundled, and the CLI needs none.
const inputs = Object.keys(result.metafile.inputs)
const native = inputs.filter((path) => /msgpackr|@parcel[\\/]watcher|\.node$/.test(path))
if (native.length > 0) {
  console.error(`sluice bundle pulls in native modules: ${native.join(", ")}`)
  process.exit(1)
}
// Executable, so the bundle also runs on its own (`./packages/cli/dist/sluice.mjs`); `npx sluice` goes
// through the committed bin/sluice.mjs, which npm can link before the bundle exists.
chmodSync(outfile, 0o755)
writeFileSync(join(here, "dist", "meta.json"), JSON.stringify(result.metafile))
const size = statSync(outfile).size
console.log(`packages/cli/dist/sluice.mjs: ${(size / 1024).toFixed(0)} KiB from ${inputs.length} modules`)
