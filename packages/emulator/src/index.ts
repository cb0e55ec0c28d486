/**
 * `@sluice/emulator`: a local HTTP server speaking LLM providers' streaming wire formats, with fault injection.
 *
 * @since 0.1.0
 */

/**
 * The emulator service, its layer and its request log.
 * @since 0.1.0
 */
export * as Emulator from "./Emulator.js"

/**
 * Faults to inject into an answer.
 * @since 0.1.0
 */
export * as Fault from "./Fault.js"

/**
 * Scenarios: the format-independent description of one answer.
 * @since 0.1.0
 */
export * as Scenario from "./Scenario.js"
