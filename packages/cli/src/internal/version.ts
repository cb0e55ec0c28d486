/**
 * The CLI's version, put in by the bundler from packages/cli/package.json.
 * @internal
 */
declare const SLUICE_VERSION: string | undefined

/** The version `sluice --version` prints. */
export const version: string = typeof SLUICE_VERSION === "string" ? SLUICE_VERSION : "0.0.0-dev"
