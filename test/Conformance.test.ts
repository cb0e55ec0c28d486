/**
 * The conformance table: one list of cases, run over real HTTP against the emulator for each of the
 * three wire formats (OpenAI-compatible, Anthropic, Gemini). A case states what every adapter must
 * give for one scenario; where a format cannot express something, its row in `formats` says so and
 * the case checks that format's own (documented) behaviour instead.
 *
 * Then the issue-3 "done when": one program that switches only the Layer gets equal `Completion`s
 * from the same scenario in all three formats.
 */
import { assert, layer } from "@effect/vitest"
import { ChatRequest, Completion, LanguageModel, Policy, type StreamEvent } from "@sluice/core"
import { Emulator, Fault, Scenario } from "@sluice/emulator"
import { Anthropic, Gemini, OpenAiCompatible } from "@sluice/providers"
import { Duration, Effect, Redacted } from "effect"
import * as Adapters from "./support/adapters.js"
import * as Json from "./support/json.js"
import { TestLayer } from "./support/onEmulator.js"

/** What the conformance cases need to know about a format beyond its adapter. */
interface Row {
  readonly format: Adapters.Format
  /**
   * Each finish reason the format can express: the scenario's word (OpenAI's words are translated by the
   * emulator, any other is sent as is), the `Finish.reason` Sluice must give, and the `rawReason` on the wire.
   */
  readonly finishes: ReadonlyArray<readonly [scenario: string, reason: StreamEvent.FinishReason, raw: string]>
  /** How the tool-call fragments of the `tools` scenario arrive: interleaved, one call after the other, or whole. */
  readonly toolFragments: "interleaved" | "sequential" | "whole"
  /** Whether the request can ask for streamed usage (OpenAI's `stream_options.include_usage`); the others always stream it. */
  readonly usageOption: boolean
  /** The tail of the request body that answers the model's tool calls, in the format's shape. */
  readonly roundTripBody: (body: unknown, calls: ReadonlyArray<Completion.ToolCall>) => void
}

const weather = { name: "get_weather", arguments: "{\"city\":\"Paris\"}" }
const time = { name: "get_time", arguments: "{\"timezone\":\"Europe/Paris\"}" }
/** The tool results the caller sends back: one JSON object, one plain text. */
const results = ["{\"temperature\":21,\"unit\":\"celsius\"}", "10:42"] as const

const rows: ReadonlyArray<Row> = [
  {
    format: Adapters.openai,
    finishes: [
      ["stop", "stop", "stop"],
      ["length", "length", "length"],
      ["tool_calls", "tool-calls", "tool_calls"],
      ["function_call", "tool-calls", "function_call"],
      ["content_filter", "content-filter", "content_filter"],
      ["something_new", "other", "something_new"]
    ],
    toolFragments: "interleaved",
    usageOption: true,
    roundTripBody: (body, calls) => {
      assert.deepStrictEqual(Json.items(Json.field(body, "messages")).slice(-3), [
        {
          role: "assistant",
          content: "Let me check.",
          tool_calls: calls.map((c) => ({ id: c.id, type: "function", function: { name: c.name, arguments: c.arguments } }))
        },
        { role: "tool", tool_call_id: calls[0].id, content: results[0] },
        { role: "tool", tool_call_id: calls[1].id, content: results[1] }
      ])
      assert.deepStrictEqual(Json.items(Json.field(body, "tools")).map((t) => [Json.field(t, "type"), Json.at(t, "function", "name")]), [["function", "get_weather"], ["function", "get_time"]])
    }
  },
  {
    format: Adapters.anthropic,
    finishes: [
      ["stop", "stop", "end_turn"],
      ["stop_sequence", "stop", "stop_sequence"],
      ["length", "length", "max_tokens"],
      ["model_context_window_exceeded", "length", "model_context_window_exceeded"],
      ["tool_calls", "tool-calls", "tool_use"],
      ["content_filter", "content-filter", "refusal"],
      ["pause_turn", "other", "pause_turn"]
    ],
    toolFragments: "sequential",
    usageOption: false,
    roundTripBody: (body, calls) => {
      assert.deepStrictEqual(Json.items(Json.field(body, "messages")).slice(-2), [
        {
          role: "assistant",
          content: [
            { type: "text", text: "Let me check." },
            ...calls.map((c) => ({ type: "tool_use", id: c.id, name: c.name, input: JSON.parse(c.arguments) }))
          ]
        },
        // both results of the turn in one user message, as the API requires
        {
          role: "user",
          content: [
            { type: "tool_result", tool_use_id: calls[0].id, content: results[0] },
            { type: "tool_result", tool_use_id: calls[1].id, content: results[1] }
          ]
        }
      ])
      assert.deepStrictEqual(Json.items(Json.field(body, "tools")).map((t) => [Json.field(t, "name"), Json.at(t, "input_schema", "type")]), [["get_weather", "object"], ["get_time", "object"]])
    }
  },
  {
    format: Adapters.gemini,
    finishes: [
      ["stop", "stop", "STOP"],
      ["length", "length", "MAX_TOKENS"],
      ["content_filter", "content-filter", "SAFETY"],
      ["RECITATION", "content-filter", "RECITATION"],
      ["BLOCKLIST", "content-filter", "BLOCKLIST"],
      ["PROHIBITED_CONTENT", "content-filter", "PROHIBITED_CONTENT"],
      ["SPII", "content-filter", "SPII"],
      ["MALFORMED_FUNCTION_CALL", "other", "MALFORMED_FUNCTION_CALL"],
      ["OTHER", "other", "OTHER"]
      // Gemini ends a turn that calls tools with STOP: "tool-calls" is checked with the tools scenario.
    ],
    toolFragments: "whole",
    usageOption: false,
    roundTripBody: (body, calls) => {
      assert.deepStrictEqual(Json.items(Json.field(body, "contents")).slice(-2), [
        {
          role: "model",
          parts: [
            { text: "Let me check." },
            // Gemini 3 wants a thought signature on a replayed call; Sluice sends the documented sentinel
            { functionCall: { name: calls[0].name, args: JSON.parse(calls[0].arguments) }, thoughtSignature: "skip_thought_signature_validator" },
            { functionCall: { name: calls[1].name, args: JSON.parse(calls[1].arguments) } }
          ]
        },
        // Gemini matches results to calls by name and order (no ids); a text result goes under `output`
        {
          role: "user",
          parts: [
            { functionResponse: { name: "get_weather", response: JSON.parse(results[0]) } },
            { functionResponse: { name: "get_time", response: { output: results[1] } } }
          ]
        }
      ])
      assert.deepStrictEqual(Json.field(body, "tools"), [{
        functionDeclarations: [
          { name: "get_weather", parametersJsonSchema: { type: "object", properties: { city: { type: "string" } } } },
          { name: "get_time", parametersJsonSchema: { type: "object", properties: { timezone: { type: "string" } } } }
        ]
      }])
    }
  }
]

const tools: ReadonlyArray<ChatRequest.Tool> = [
  { name: "get_weather", parameters: { type: "object", properties: { city: { type: "string" } } } },
  { name: "get_time", parameters: { type: "object", properties: { timezone: { type: "string" } } } }
]

/** The request every case sends (a system message, so each format's system field is exercised). */
const requestFor = (format: Adapters.Format, extra: Partial<ChatRequest.ChatRequest> = {}): ChatRequest.ChatRequest =>
  ChatRequest.make({
    model: format.model,
    messages: [ChatRequest.system("Be brief."), ChatRequest.user("Tell me something")],
    ...extra
  })

/** The words the emulator cuts text into with `chunking: "word"`. */
const words = (text: string): Array<string> => text.match(/\s*\S+\s*/gu) ?? []

const textDeltas = (received: ReadonlyArray<StreamEvent.StreamEvent>) =>
  received.flatMap((e) => (e._tag === "TextDelta" ? [e.text] : []))

/** The order in which tool-call fragments of calls with `fragments[i]` fragments arrive, by call index. */
const fragmentOrder = (shape: Row["toolFragments"], fragments: ReadonlyArray<number>): Array<number> => {
  switch (shape) {
    case "whole":
      return fragments.map((_, i) => i)
    case "sequential":
      return fragments.flatMap((n, i) => Array.from({ length: n }, () => i))
    case "interleaved": {
      const out: Array<number> = []
      for (let round = 0; round < Math.max(...fragments); round++) {
        fragments.forEach((n, i) => {
          if (round < n) out.push(i)
        })
      }
      return out
    }
  }
}

for (const row of rows) {
  const format = row.format
  const where = { provider: format.name, model: format.model }
  const request = requestFor(format)

  /** The adapter on the emulator, answering `scenario`. */
  const model = (scenario: Scenario.Scenario | string, options: Adapters.AdapterOptions = {}) =>
    Effect.flatMap(Emulator.Emulator, (emulator) => format.make(emulator.url, scenario, options))

  const streamOf = (scenario: Scenario.Scenario | string, req: ChatRequest.ChatRequest = request, options: Adapters.AdapterOptions = {}) =>
    Effect.flatMap(model(scenario, options), (m) => Adapters.consume(m.stream(req)))

  /** The last request the emulator received for this scenario (scenario headers are unique per case). */
  const lastRecord = (scenario: Scenario.Scenario | string) =>
    Effect.map(Emulator.requests, (records) => {
      const key = Scenario.encodeHeader(scenario)
      const mine = records.filter((r) => r.scenarioKey === key)
      assert.isAbove(mine.length, 0, `no request logged for ${key}`)
      return mine[mine.length - 1]
    })

  layer(TestLayer, { excludeTestServices: true })(`Conformance: ${format.name}`, (it) => {
    it.effect("text cut by word arrives delta by delta, finished and with usage", () =>
      Effect.gen(function*() {
        const text = "one two  three four, five."
        const outcome = yield* streamOf({ text, chunking: "word" })
        const completion = Adapters.expectSuccess(outcome, "word")
        assert.deepStrictEqual(textDeltas(outcome.received), words(text))
        assert.strictEqual(completion.text, text)
        assert.strictEqual(completion.finishReason, "stop")
        assert.isNotNull(completion.usage)
        // nothing after the finish but usage
        const finishAt = outcome.received.findIndex((e) => e._tag === "Finish")
        assert.isTrue(outcome.received.slice(finishAt + 1).every((e) => e._tag === "Usage"))
      }))

    it.effect("text cut by character, multi-byte characters and emoji included", () =>
      Effect.gen(function*() {
        const text = "héllo wörld 你好 🌍👩‍💻!"
        const outcome = yield* streamOf({ text, chunking: "char" })
        Adapters.expectSuccess(outcome, "char")
        assert.deepStrictEqual(textDeltas(outcome.received), Array.from(text))
      }))

    it.effect("UTF-8 split across writes (mid-character), in one bulk write and event by event: the same text", () =>
      Effect.gen(function*() {
        for (const write of ["split", "bulk", "event"] as const) {
          const outcome = yield* streamOf({ extends: "unicode", write })
          const completion = Adapters.expectSuccess(outcome, write)
          assert.strictEqual(completion.text, Scenario.named.unicode.text, write)
          assert.notInclude(completion.text, "\uFFFD", write)
          assert.deepStrictEqual(textDeltas(outcome.received), Array.from(Scenario.named.unicode.text).reduce<Array<string>>((out, c, i) => {
            if (i % 3 === 0) out.push(c)
            else out[out.length - 1] += c
            return out
          }, []), write)
        }
      }))

    it.effect("tool calls: interleaved, fragmented arguments assembled exactly, each with an id", () =>
      Effect.gen(function*() {
        const scenario = Scenario.named.tools
        // a fixed response id: Gemini's generated tool-call ids derive from it, so `complete` gets the same
        const tagged = { extends: "tools", responseId: "tools" }
        const outcome = yield* streamOf(tagged, requestFor(format, { tools }))
        const completion = Adapters.expectSuccess(outcome, "tools")
        assert.deepStrictEqual(completion.toolCalls.map((c) => [c.name, c.arguments]), scenario.toolCalls.map((c) => [c.name, c.arguments]))
        assert.strictEqual(completion.finishReason, "tool-calls")
        assert.strictEqual(completion.text, "")
        const ids = completion.toolCalls.map((c) => c.id)
        assert.isTrue(ids.every((id) => id.length > 0))
        assert.strictEqual(new Set(ids).size, ids.length)
        // how the fragments arrive is the format's own: OpenAI interleaves them, Anthropic streams one
        // block after the other, Gemini sends each call whole
        const fragments = scenario.toolCalls.map((c) => 1 + Math.ceil(c.arguments.length / scenario.argumentsChunk))
        const order = outcome.received.flatMap((e) => (e._tag === "ToolCallDelta" ? [e.index] : []))
        assert.deepStrictEqual(order, fragmentOrder(row.toolFragments, fragments))
        // id and name come once, with the first fragment of each call
        const firsts = outcome.received.filter((e): e is StreamEvent.ToolCallDelta => e._tag === "ToolCallDelta" && e.name !== undefined)
        assert.deepStrictEqual(firsts.map((e) => [e.index, e.name]), [[0, "get_weather"], [1, "get_time"]])
        assert.deepStrictEqual(yield* Effect.flatMap(model(tagged), (m) => m.complete(requestFor(format, { tools }))), completion)
      }))

    it.effect("tool calls with `{}` arguments (Anthropic sends no input delta at all)", () =>
      Effect.gen(function*() {
        const scenario = {
          toolCalls: [{ name: "list_files", arguments: "{}" }, { name: "get_time", arguments: "{\"tz\":\"UTC\"}" }],
          responseId: "empty-args"
        }
        const outcome = yield* streamOf(scenario)
        const completion = Adapters.expectSuccess(outcome, "{}")
        assert.deepStrictEqual(completion.toolCalls.map((c) => [c.name, c.arguments]), [["list_files", "{}"], ["get_time", "{\"tz\":\"UTC\"}"]])
        assert.strictEqual(completion.finishReason, "tool-calls")
        assert.deepStrictEqual(yield* Effect.flatMap(model(scenario), (m) => m.complete(request)), completion)
      }))

    it.effect("reasoning (thinking) comes before the text, as ReasoningDelta", () =>
      Effect.gen(function*() {
        const outcome = yield* streamOf("reasoning")
        const completion = Adapters.expectSuccess(outcome, "reasoning")
        assert.strictEqual(completion.reasoning, Scenario.named.reasoning.reasoning)
        assert.strictEqual(completion.text, Scenario.named.reasoning.text)
        const tags = outcome.received.map((e) => e._tag)
        assert.isBelow(tags.lastIndexOf("ReasoningDelta"), tags.indexOf("TextDelta"))
        assert.deepStrictEqual(
          outcome.received.flatMap((e) => (e._tag === "ReasoningDelta" ? [e.text] : [])),
          words(Scenario.named.reasoning.reasoning)
        )
      }))

    it.effect("usage streamed equals usage non-streamed (`complete`), and the whole completion with it", () =>
      Effect.gen(function*() {
        const cases = (["hello", "long", "reasoning", "tools", "unicode"] as const).flatMap((name) =>
          [{}, { cachedInputTokens: 5 }].map((usage) => ({ name, usage }))
        )
        yield* Effect.forEach(cases, ({ name, usage }) =>
          Effect.gen(function*() {
            // a fixed response id: Gemini's generated tool-call ids derive from it
            const m = yield* model({ extends: name, usage, responseId: `usage-${name}` })
            const streamed = Adapters.expectSuccess(yield* Adapters.consume(m.stream(request)), name)
            const complete = yield* m.complete(request)
            assert.isNotNull(streamed.usage, name)
            assert.deepStrictEqual(streamed, complete, name)
          }), { concurrency: 4, discard: true })
      }))

    it.effect("each finish reason the format can express; both calls agree", () =>
      Effect.gen(function*() {
        for (const [word, reason, raw] of row.finishes) {
          const scenario = { text: "Some text.", finishReason: word }
          const outcome = yield* streamOf(scenario)
          Adapters.expectSuccess(outcome, word)
          const finishes = outcome.received.filter((e) => e._tag === "Finish")
          assert.deepStrictEqual(finishes, [{ _tag: "Finish", reason, rawReason: raw }], word)
          const complete = yield* Effect.flatMap(model(scenario), (m) => m.complete(request))
          assert.strictEqual(complete.finishReason, reason, `${word} (complete)`)
        }
        // maxTokens cuts the answer: "length" in every format, with exactly the text sent
        const cut = yield* streamOf({ text: "one two three four five" }, requestFor(format, { maxTokens: 2 }))
        assert.strictEqual(Adapters.expectSuccess(cut, "maxTokens").finishReason, "length")
        assert.strictEqual(cut.completion.text, "one two ")
      }))

    it.effect("usage left out on the wire: a complete answer without usage; required, it is MissingUsage", () =>
      Effect.gen(function*() {
        const scenario = { text: "No usage here.", faults: [Fault.omitUsage()] }
        const outcome = yield* streamOf(scenario)
        const completion = Adapters.expectSuccess(outcome, "omitUsage")
        assert.deepStrictEqual(completion, { text: "No usage here.", reasoning: "", toolCalls: [], usage: null, finishReason: "stop" })
        assert.deepStrictEqual(yield* Effect.flatMap(model(scenario), (m) => m.complete(request)), completion)
        const required = yield* Effect.flatMap(model(scenario), (m) => Adapters.consume(m.pipe(Policy.guard({ requireUsage: true })).stream(request)))
        Adapters.expectFailure(required, "MissingUsage", where)
        assert.strictEqual(required.completion.text, "No usage here.")
      }))

    it.effect(row.usageOption ? "includeUsage: false asks for no usage and gets none" : "usage is always streamed (the format has no option to ask for it)", () =>
      Effect.gen(function*() {
        const scenario = { text: "Usage or not.", responseId: "include-usage" }
        if (row.usageOption) {
          const without = yield* streamOf(scenario, request, { includeUsage: false })
          assert.isNull(Adapters.expectSuccess(without, "includeUsage: false").usage)
          assert.notProperty((yield* lastRecord(scenario)).body, "stream_options")
          const withUsage = yield* streamOf(scenario, request, { includeUsage: true })
          assert.isNotNull(Adapters.expectSuccess(withUsage, "includeUsage: true").usage)
          assert.deepInclude((yield* lastRecord(scenario)).body, { stream_options: { include_usage: true } })
        } else {
          const outcome = yield* streamOf(scenario)
          assert.isNotNull(Adapters.expectSuccess(outcome, "usage").usage)
        }
      }))

    it.effect("keep-alives (comments, Anthropic's ping) change nothing, and are not a first token", () =>
      Effect.gen(function*() {
        const text = "Kept alive."
        const plain = Adapters.expectSuccess(yield* streamOf({ text, responseId: "keepalive" }), "plain")
        const kept = yield* streamOf({ text, responseId: "keepalive", firstTokenDelayMs: 80, gapMs: 25, keepAlive: 10 })
        assert.deepStrictEqual(Adapters.expectSuccess(kept, "keepAlive"), plain)
        const late = yield* Effect.flatMap(
          model({ text, firstTokenDelayMs: 2000, keepAlive: 10 }),
          (m) => Adapters.consume(m.pipe(Policy.timeout({ firstToken: "150 millis" })).stream(request))
        )
        const error = Adapters.expectFailure(late, "Timeout", where)
        assert.strictEqual(error.phase, "first-token")
        assert.deepStrictEqual(error.after, Duration.millis(150))
      }))

    it.effect("a full tool round trip: the model calls two tools, the caller answers, the model finishes", () =>
      Effect.gen(function*() {
        const ask = { text: "Let me check.", toolCalls: [weather, time], responseId: `round-trip-${format.name}` }
        const first = Adapters.expectSuccess(yield* streamOf(ask, requestFor(format, { tools })), "ask")
        assert.strictEqual(first.finishReason, "tool-calls")
        assert.deepStrictEqual(first.toolCalls.map((c) => [c.name, c.arguments]), [[weather.name, weather.arguments], [time.name, time.arguments]])
        const answer = { text: "It is 21 °C in Paris, and 10:42.", responseId: `round-trip-answer-${format.name}` }
        const followUp = requestFor(format, {
          tools,
          messages: [
            ...request.messages,
            ChatRequest.assistant(first.text, first.toolCalls),
            ChatRequest.toolResult(first.toolCalls[0].id, results[0]),
            ChatRequest.toolResult(first.toolCalls[1].id, results[1])
          ]
        })
        const second = Adapters.expectSuccess(yield* streamOf(answer, followUp), "answer")
        assert.strictEqual(second.text, answer.text)
        assert.strictEqual(second.finishReason, "stop")
        assert.deepStrictEqual(second.toolCalls, [])
        // the emulator received the calls and results in the format's own shape
        const record = yield* lastRecord(answer)
        assert.isTrue(record.path.startsWith(format.streamPath), record.path)
        row.roundTripBody(record.body, first.toolCalls)
        // and counted the results as input (system, user, assistant, two tool results)
        assert.isAbove(second.usage?.inputTokens ?? 0, Adapters.expectSuccess(yield* streamOf(answer), "plain answer").usage?.inputTokens ?? 0)
      }))
  })
}

/**
 * Normalises what the formats truly cannot carry alike, and nothing else:
 * - tool-call ids: each format makes its own (`call_sluice_0`, `toolu_sluice_0`; Gemini sends none and
 *   Sluice generates one), so they become `call_<index>`;
 * - `usage.reasoningTokens`: Anthropic reports no separate reasoning count (thinking is inside
 *   `output_tokens`), so the field is dropped (the output count, which includes it, stays compared).
 */
const normalise = (completion: Completion.Completion): Completion.Completion => ({
  ...completion,
  toolCalls: completion.toolCalls.map((call, i) => ({ ...call, id: `call_${i}` })),
  usage: completion.usage === null ? null : (({ reasoningTokens: _, ...rest }) => rest)(completion.usage)
})

layer(TestLayer, { excludeTestServices: true })("Conformance: one program, three Layers", (it) => {
  it.effect("switching only the Layer streams the same scenario into equal Completions", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator.Emulator
      const scenario: Scenario.Scenario = {
        reasoning: "The user wants the weather; one tool call first.",
        text: "Checking Zürich — un momento 🌦️.",
        toolCalls: [weather, time],
        interleaveToolCalls: true,
        argumentsChunk: 5,
        // Gemini leaves a zero cache count out; a non-zero one is carried by every format
        usage: { cachedInputTokens: 4 },
        write: "split",
        // Gemini's generated tool-call ids derive from the response id: fixed, streamed and complete agree
        responseId: "one-program"
      }
      const headers = Scenario.headers(scenario)
      const apiKey = Redacted.make(Adapters.KEY)
      const layers = [
        OpenAiCompatible.layer({ baseUrl: emulator.openAiBaseUrl, apiKey, headers }),
        Anthropic.layer({ baseUrl: emulator.anthropicBaseUrl, apiKey, headers }),
        Gemini.layer({ baseUrl: emulator.geminiBaseUrl, apiKey, headers })
      ]
      const request = ChatRequest.make({
        model: "any-model",
        messages: [ChatRequest.system("Be brief."), ChatRequest.user("What is the weather in Zürich?")],
        tools
      })
      // the program: written once, against the LanguageModel service only
      const program = Effect.all({
        streamed: LanguageModel.stream(request).pipe(Completion.fromStream),
        complete: LanguageModel.complete(request)
      })
      const results = yield* Effect.forEach(layers, (l) => program.pipe(Effect.provide(l)))
      const [reference] = results.map((r) => normalise(r.streamed))
      assert.deepStrictEqual(reference, {
        text: scenario.text ?? "",
        reasoning: scenario.reasoning ?? "",
        toolCalls: [
          { id: "call_0", name: weather.name, arguments: weather.arguments },
          { id: "call_1", name: time.name, arguments: time.arguments }
        ],
        usage: reference.usage,
        finishReason: "tool-calls"
      })
      assert.isNotNull(reference.usage)
      assert.strictEqual(reference.usage?.cachedInputTokens, 4)
      for (const [i, { complete, streamed }] of results.entries()) {
        assert.deepStrictEqual(normalise(streamed), reference, `format ${i}: streamed`)
        assert.deepStrictEqual(normalise(complete), reference, `format ${i}: complete`)
        // within one format nothing needs normalising: streamed equals complete exactly
        assert.deepStrictEqual(streamed, complete, `format ${i}: streamed vs complete`)
      }
    }))
})
