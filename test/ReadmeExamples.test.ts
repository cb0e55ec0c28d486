/**
 * The composed-policy example of docs/policies.md is a real program: its copy in `test/examples/composedPolicy.ts`
 * is type-checked with the tests (`tsc -p test`), and this test holds the page's block and the copy equal.
 */
import { assert, describe, it } from "@effect/vitest"
import { readFileSync } from "node:fs"
import { fileURLToPath } from "node:url"

const read = (path: string): string => readFileSync(fileURLToPath(new URL(path, import.meta.url)), "utf8")

/** The first ```ts block after `heading` in a Markdown page. */
const blockAfter = (page: string, heading: string): string => {
  const at = page.indexOf(`\n${heading}\n`)
  assert.isAtLeast(at, 0, `the page has no "${heading}"`)
  const match = /```ts\n([\s\S]*?)```/.exec(page.slice(at))
  assert.isNotNull(match, `no ts block after "${heading}"`)
  return match?.[1] ?? ""
}

describe("README examples", () => {
  it("the composed example is test/examples/composedPolicy.ts, which type-checks", () => {
    // The copy without its header comment.
    const lines = read("./examples/composedPolicy.ts").split("\n")
    let start = 0
    while (lines[start].startsWith("//")) start++
    const copy = lines.slice(start).join("\n")
    assert.strictEqual(blockAfter(read("../docs/policies.md"), "## A composed example"), copy)
  })
})
