// The answer every client receives, in the three wire formats, built once per process.
// OpenAI: the stream bench/decode.mjs builds (role chunk, 99,997 content chunks, a finish chunk, a usage
// chunk with `choices: []`, `[DONE]`): 100,000 chunk events, ~21 MiB. Anthropic and Gemini carry the same
// text deltas in their own framing (Gemini with CRLF line ends, as Google's servers send it).
//
// Each body comes with two sets of cuts: `bulk` (writes of 1-16 KiB from a seeded generator, so every run and
// client sees the same boundaries) and `event` (one SSE event per write).

/** Model name in OpenRouter's `vendor/model` form: @effect/ai-openrouter's chunk schema requires the slash. */
export const MODEL = "sluice/bench"
const WORDS = ["the ", "quick ", "brown ", "fox ", "jumps ", "over ", "lazy ", "dog ", "— ", "naïve ", "日本 "]
const encoder = new TextEncoder()

export const openAiChunk = (delta, finish = null) =>
  `data: ${
    JSON.stringify({
      id: "chatcmpl-bench",
      object: "chat.completion.chunk",
      created: 1700000000,
      model: MODEL,
      system_fingerprint: "fp_bench",
      choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }]
    })
  }\n\n`
const openAiUsage = (tokens) =>
  `data: ${
    JSON.stringify({
      id: "chatcmpl-bench",
      object: "chat.completion.chunk",
      created: 1700000000,
      model: MODEL,
      choices: [],
      usage: { prompt_tokens: 10, completion_tokens: tokens, total_tokens: tokens + 10 }
    })
  }\n\n`

const anthropicEvent = (type, json) => `event: ${type}\ndata: ${JSON.stringify(json)}\n\n`
const anthropicDelta = (text) =>
  anthropicEvent("content_block_delta", { type: "content_block_delta", index: 0, delta: { type: "text_delta", text } })

const geminiChunk = (text, tokens, finish) =>
  `data: ${
    JSON.stringify({
      candidates: [{ content: { parts: [{ text }], role: "model" }, ...(finish ? { finishReason: finish } : {}), index: 0 }],
      usageMetadata: { promptTokenCount: 10, candidatesTokenCount: tokens, totalTokenCount: tokens + 10 },
      modelVersion: "gemini-2.0-flash",
      responseId: "bench-response"
    })
  }\r\n\r\n`

/**
 * The parts of an answer with `deltas` text deltas: `head` (events before the first delta), a delta maker,
 * `tail` (events after the last). Separate so the 1,000,000-event stream can be written without building it.
 */
export const formats = {
  openai: {
    head: (first = "") => [openAiChunk({ role: "assistant", content: first, refusal: null })],
    delta: (i) => openAiChunk({ content: WORDS[i % WORDS.length] }),
    tail: (deltas) => [openAiChunk({}, "stop"), openAiUsage(deltas + 1), "data: [DONE]\n\n"],
    /** Events on the wire besides [DONE]: role chunk + deltas + finish + usage. */
    events: (deltas) => deltas + 3
  },
  anthropic: {
    head: (first) => [
      anthropicEvent("message_start", {
        type: "message_start",
        message: {
          id: "msg_bench",
          type: "message",
          role: "assistant",
          model: "claude-bench",
          content: [],
          stop_reason: null,
          stop_sequence: null,
          usage: { input_tokens: 10, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: 1 }
        }
      }),
      anthropicEvent("content_block_start", { type: "content_block_start", index: 0, content_block: { type: "text", text: "" } }),
      `event: ping\ndata: {"type": "ping"}\n\n`,
      ...(first === undefined ? [] : [anthropicDelta(first)])
    ],
    delta: (i) => anthropicDelta(WORDS[i % WORDS.length]),
    tail: (deltas) => [
      anthropicEvent("content_block_stop", { type: "content_block_stop", index: 0 }),
      anthropicEvent("message_delta", {
        type: "message_delta",
        delta: { stop_reason: "end_turn", stop_sequence: null },
        usage: { output_tokens: deltas }
      }),
      anthropicEvent("message_stop", { type: "message_stop" })
    ],
    events: (deltas) => deltas + 6
  },
  gemini: {
    head: (first) => (first === undefined ? [] : [geminiChunk(first, 1)]),
    delta: (i) => geminiChunk(WORDS[i % WORDS.length], i + 1),
    tail: (deltas) => [geminiChunk("", deltas, "STOP")],
    events: (deltas) => deltas + 1
  }
}

/** Text deltas in the standard answer: 100,000 OpenAI chunk events, as bench/decode.mjs has it. */
export const DELTAS = 99_997

/** One body as an array of SSE events (strings). */
export const eventsOf = (format, deltas) => {
  const f = formats[format]
  const events = [...f.head(format === "openai" ? "" : undefined)]
  for (let i = 0; i < deltas; i++) events.push(f.delta(i))
  events.push(...f.tail(deltas))
  return events
}

/** Seeded generator of write sizes of 1-16 KiB. */
export const bulkCuts = (length, seed = 42) => {
  let state = seed
  const random = () => ((state = (state * 1103515245 + 12345) % 2147483648) / 2147483648)
  const cuts = [0]
  for (let at = 0; at < length;) {
    at = Math.min(length, at + 1024 + Math.floor(random() * 15 * 1024))
    cuts.push(at)
  }
  return cuts
}

/** A prebuilt body with its two cut sets. */
export const body = (format, deltas) => {
  const events = eventsOf(format, deltas)
  const parts = events.map((e) => encoder.encode(e))
  const bytes = Buffer.concat(parts)
  const eventCuts = [0]
  for (const p of parts) eventCuts.push(eventCuts[eventCuts.length - 1] + p.length)
  return { bytes, cuts: { bulk: bulkCuts(bytes.length), event: eventCuts }, events: formats[format].events(deltas) }
}
