import { assert, describe, it } from "@effect/vitest"
import { Completion, StreamEvent } from "@sluice/core"
import { Schema } from "effect"
import * as fc from "fast-check"

describe("Completion.Accumulator", () => {
  it("keeps the text of many deltas exact, read at any point (pieces are joined in runs)", () => {
    const acc = Completion.accumulator()
    let text = ""
    let reasoning = ""
    for (let i = 0; i < 2_000; i++) {
      const piece = i % 7 === 0 ? "" : `w${i} `
      if (i % 3 === 0) {
        acc.add(StreamEvent.reasoningDelta(piece))
        reasoning += piece
      } else {
        acc.add(StreamEvent.textDelta(piece))
        text += piece
      }
      if (i % 97 === 0) assert.strictEqual(acc.text, text)
    }
    assert.strictEqual(acc.text, text)
    assert.strictEqual(acc.reasoning, reasoning)
    assert.strictEqual(acc.events, 2_000)
    const snapshot = acc.snapshot()
    assert.strictEqual(snapshot.text, text)
    assert.strictEqual(snapshot.reasoning, reasoning)
  })

  it("folds the same completion as concatenating the deltas, for any sequence and any reads in between", () =>
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.boolean(), fc.string({ maxLength: 4 }), fc.boolean()), { maxLength: 1_200 }),
        (steps) => {
          const acc = Completion.accumulator()
          let text = ""
          let reasoning = ""
          for (const [isText, piece, look] of steps) {
            acc.add(isText ? StreamEvent.textDelta(piece) : StreamEvent.reasoningDelta(piece))
            if (isText) text += piece
            else reasoning += piece
            if (look) assert.strictEqual(acc.text + "|" + acc.reasoning, text + "|" + reasoning)
          }
          assert.deepStrictEqual(Completion.fromEvents(steps.map(([isText, piece]) => isText ? StreamEvent.textDelta(piece) : StreamEvent.reasoningDelta(piece))), {
            text,
            reasoning,
            toolCalls: [],
            usage: null,
            finishReason: null
          })
          assert.strictEqual(acc.text, text)
          assert.strictEqual(acc.reasoning, reasoning)
        }
      ),
      { numRuns: 200 }
    ))
})

describe("Completion.Usage", () => {
  it("has the figures of a Usage event, without its tag", () => {
    assert.deepStrictEqual(Object.keys(Completion.Usage.fields), Object.keys(StreamEvent.Usage.fields).filter((key) => key !== "_tag"))
    const figures = { inputTokens: 3, outputTokens: 4, totalTokens: 7, cachedInputTokens: 1, reasoningTokens: 2 }
    assert.deepStrictEqual(Schema.decodeUnknownSync(Completion.Usage)(figures), figures)
    assert.deepStrictEqual(Completion.usageFromEvent(StreamEvent.usage(figures)), figures)
    assert.deepStrictEqual(Completion.usageFromEvent(StreamEvent.usage({ inputTokens: 3, outputTokens: 4, totalTokens: 7 })), { inputTokens: 3, outputTokens: 4, totalTokens: 7 })
    assert.throws(() => Schema.decodeUnknownSync(Completion.Usage)({ ...figures, inputTokens: 1.5 }))
  })
})
