/**
 * @since 0.1.0
 */
export * as OpenAiCompatible from "./OpenAiCompatible.js"

/**
 * @since 0.1.0
 */
export * as Anthropic from "./Anthropic.js"

/**
 * @since 0.1.0
 */
export * as Gemini from "./Gemini.js"

/**
 * @since 0.1.0
 */
export * as Presets from "./Presets.js"

/**
 * @since 0.1.0
 */
export * as Providers from "./Providers.js"
