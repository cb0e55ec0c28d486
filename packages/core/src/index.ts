/**
 * @since 0.1.0
 */
export * as ChatRequest from "./ChatRequest.js"
export * as Completion from "./Completion.js"
export * as LlmError from "./LlmError.js"
export * as StreamEvent from "./StreamEvent.js"
