/**
 * The CLI's own failures: a bad command line or configuration (exit 2), and a command that already
 * reported its failure and only needs its exit code passed on.
 * @internal
 */
import * as Schema from "effect/Schema"

/** The command line or the configuration is wrong; `message` is the one line printed on stderr. */
export class UsageError extends Schema.TaggedError<UsageError>()("UsageError", {
  reason: Schema.String
}) {
  override get message(): string {
    return this.reason
  }
}

/** The command failed and said why already; only its exit code is left to give. */
export class Failed extends Schema.TaggedError<Failed>()("Failed", {
  exitCode: Schema.Int
}) {
  override get message(): string {
    return `failed with exit code ${this.exitCode}`
  }
}
