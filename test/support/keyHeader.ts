/** The request header each wire format carries the key in, and the value it sends for a key. */
export const keyHeader = {
  "openai-compatible": ["authorization", (key: string) => `Bearer ${key}`],
  anthropic: ["x-api-key", (key: string) => key],
  gemini: ["x-goog-api-key", (key: string) => key]
} as const
