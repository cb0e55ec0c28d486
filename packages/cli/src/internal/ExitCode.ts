/**
 * The exit codes of docs/contract.md ("Exit codes"), one per class of failure a caller acts on.
 * @internal
 */
import type { LlmError } from "@sluice/core"

/** Everything went as asked. */
export const ok = 0
/** A failure Sluice did not foresee (a bug, or the machine). */
export const unexpected = 1
/** The command line or the configuration (a missing key, an unknown provider). */
export const usage = 2
/** `AuthenticationFailed`. */
export const authentication = 3
/** `RateLimited`. */
export const rateLimited = 4
/** `Timeout`. */
export const timeout = 5
/** `IncompleteStream`. */
export const incomplete = 6
/** The provider failed or refused: `ServerError`, `ProviderStreamError`, `InvalidRequest`, `ContextLengthExceeded`, `TransportError` (and `CircuitOpen`, `BufferedStream`). */
export const provider = 7
/** What arrived could not be trusted: `DecodeError`, `MissingUsage`. */
export const data = 8
/** Interrupted with Ctrl-C (128 + SIGINT). */
export const interrupted = 130
/** Stopped with SIGTERM (128 + 15). */
export const terminated = 143

/** The exit code of a Sluice failure. */
export const ofError = (error: LlmError.LlmError): number => {
  switch (error._tag) {
    case "AuthenticationFailed":
      return authentication
    case "RateLimited":
      return rateLimited
    case "Timeout":
      return timeout
    case "IncompleteStream":
      return incomplete
    case "ServerError":
    case "ProviderStreamError":
    case "InvalidRequest":
    case "ContextLengthExceeded":
    case "TransportError":
    case "CircuitOpen":
    case "BufferedStream":
      return provider
    case "DecodeError":
    case "MissingUsage":
      return data
  }
}
