/**
 * @since 0.1.0
 */
export * as OpenAiCompatible from "./OpenAiCompatible.js"
