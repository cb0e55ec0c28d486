/**
 * Where the CLI writes and how: stdout for the answer, stderr for everything a person reads beside
 * it (spinner, stats, the error line), colour only on a TTY and never with `NO_COLOR`.
 * @internal
 */

/** ANSI styling that turns into the identity when colour is off. */
export interface Style {
  readonly bold: (s: string) => string
  readonly dim: (s: string) => string
  readonly red: (s: string) => string
  readonly green: (s: string) => string
  readonly yellow: (s: string) => string
  readonly cyan: (s: string) => string
}

const sgr = (open: number, close: number) => (s: string): string => `\x1b[${open}m${s}\x1b[${close}m`
const identity = (s: string): string => s

/** Styling, on or off. */
export const style = (color: boolean): Style =>
  color
    ? { bold: sgr(1, 22), dim: sgr(2, 22), red: sgr(31, 39), green: sgr(32, 39), yellow: sgr(33, 39), cyan: sgr(36, 39) }
    : { bold: identity, dim: identity, red: identity, green: identity, yellow: identity, cyan: identity }

/** `NO_COLOR` set to anything but the empty string turns colour off (https://no-color.org). */
export const noColor = (): boolean => {
  const value = process.env.NO_COLOR
  return value !== undefined && value !== ""
}

/** The two output streams and what they are connected to. */
export interface Terminal {
  /** Writes to stdout (the answer). */
  readonly out: (text: string) => void
  /** Writes to stderr (what a person reads beside the answer). */
  readonly err: (text: string) => void
  readonly outIsTty: boolean
  readonly errIsTty: boolean
  /** Styling for stderr. */
  readonly style: Style
  /** Styling for stdout (reports that are the command's output, as `audit`'s). */
  readonly outStyle: Style
}

/** The process's own stdout and stderr. */
export const processTerminal = (): Terminal => {
  const errIsTty = process.stderr.isTTY === true
  const outIsTty = process.stdout.isTTY === true
  return {
    out: (text) => {
      process.stdout.write(text)
    },
    err: (text) => {
      process.stderr.write(text)
    },
    outIsTty,
    errIsTty,
    style: style(errIsTty && !noColor()),
    outStyle: style(outIsTty && !noColor())
  }
}

const frames = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"]

/** A spinner with the elapsed time; it draws only on a TTY and stops for good at the first token. */
export interface Spinner {
  /** Changes the words beside the spinner (e.g. "retrying after RateLimited"). */
  readonly note: (text: string) => void
  /** Clears the line and stops; idempotent. */
  readonly stop: () => void
}

const inert: Spinner = { note: () => {}, stop: () => {} }

/** Starts a spinner on `terminal`'s stderr when that is a TTY; else does nothing. */
export const spinner = (terminal: Terminal, label: string, startedAt: number): Spinner => {
  if (!terminal.errIsTty) return inert
  let note = ""
  let frame = 0
  let running = true
  const draw = () => {
    const elapsed = ((performance.now() - startedAt) / 1000).toFixed(1)
    const text = `${terminal.style.cyan(frames[frame++ % frames.length])} ${label}${note === "" ? "" : ` · ${note}`} ${terminal.style.dim(`${elapsed}s`)}`
    terminal.err(`\r${text}\x1b[K`)
  }
  const timer = setInterval(draw, 80)
  timer.unref()
  draw()
  return {
    note: (text) => {
      note = text
    },
    stop: () => {
      if (!running) return
      running = false
      clearInterval(timer)
      terminal.err("\r\x1b[K")
    }
  }
}
