/**
 * Durations as people type them on a command line: `500ms`, `10s`, `2m`, `1h`, `1.5s`; a bare number is seconds.
 * @internal
 */
import * as Duration from "effect/Duration"
import * as Either from "effect/Either"

const units: Readonly<Record<string, number>> = {
  ms: 1,
  millis: 1,
  s: 1000,
  sec: 1000,
  secs: 1000,
  seconds: 1000,
  m: 60_000,
  min: 60_000,
  minutes: 60_000,
  h: 3_600_000,
  hours: 3_600_000
}

/** Reads a duration, or says what was expected. */
export const parseDuration = (input: string): Either.Either<Duration.Duration, string> => {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(input)
  const unit = match === null ? undefined : (match[2] === "" ? 1000 : units[match[2].toLowerCase()])
  if (match === null || unit === undefined) {
    return Either.left(`expected a duration such as 500ms, 10s or 2m, got ${JSON.stringify(input)}`)
  }
  const ms = Number(match[1]) * unit
  if (!(ms > 0)) return Either.left(`a duration must be positive, got ${JSON.stringify(input)}`)
  return Either.right(Duration.millis(ms))
}
