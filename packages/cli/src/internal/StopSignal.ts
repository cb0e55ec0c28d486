/**
 * Which signal stopped the CLI, so that what it prints on the way out names it ("Ctrl-C" or "SIGTERM").
 * @internal
 */
import * as Context from "effect/Context"

/** The signals the CLI stops on. */
export type Signal = "SIGINT" | "SIGTERM"

/** The signal received so far, if any; main provides it (the demo runs without). */
export class StopSignal extends Context.Tag("@sluice/cli/StopSignal")<StopSignal, {
  readonly received: () => Signal | undefined
}>() {}

/** How the way out names a signal: Ctrl-C is what a person pressed, SIGTERM what a supervisor sent. */
export const describe = (signal: Signal | undefined): string =>
  signal === "SIGTERM" ? "SIGTERM" : signal === "SIGINT" ? "Ctrl-C" : "interrupted"
