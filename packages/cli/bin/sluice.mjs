#!/usr/bin/env node
// The `sluice` command's bin entry. npm links a bin only if its file exists at install time, and in a
// fresh clone the bundle is built after `npm ci`; this committed file always exists, so `npx sluice`
// works once `npm run build` has run, and says what to do when it has not.
import { existsSync } from "node:fs"

const bundle = new URL("../dist/sluice.mjs", import.meta.url)
if (existsSync(bundle)) {
  await import(bundle.href)
} else {
  process.stderr.write("sluice: the CLI is not built (packages/cli/dist/sluice.mjs is missing): run `npm run build` first\n")
  process.exitCode = 1
}
