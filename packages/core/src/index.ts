/**
 * @since 0.1.0
 */
export * as Adapter from "./Adapter.js"
export * as ChatRequest from "./ChatRequest.js"
export * as Completion from "./Completion.js"
export * as LanguageModel from "./LanguageModel.js"
export * as LlmError from "./LlmError.js"
export * as Policy from "./Policy.js"
export * as Sse from "./Sse.js"
export * as StreamEvent from "./StreamEvent.js"
export * as WireDecoder from "./WireDecoder.js"
