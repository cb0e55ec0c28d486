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

const named: Readonly<Record<string, string>> = { "\n": "\\n", "\r": "\\r", "\t": "\\t" }

const escapeChar = (c: string): string => {
  const name = named[c]
  if (name !== undefined) return name
  const code = c.charCodeAt(0)
  return code < 0x100 ? `\\x${code.toString(16).padStart(2, "0")}` : `\\u${code.toString(16).padStart(4, "0")}`
}

/**
 * What a terminal acts on instead of printing: C0 (newline and tab included), DEL, C1, and the bidi
 * controls that reorder what follows them (embeddings, overrides, isolates and the marks).
 */
const lineControls = /[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g

/**
 * Text from a provider (an error message, a code, a tool call's name) made safe to print as part of one
 * line: every control character shows as an escape (`\x1b`, `\r`, `\u202e`) instead of acting on the
 * terminal, so a hostile server can neither retitle the window, clear the screen, nor forge a line.
 */
export const printable = (text: string): string => text.replace(lineControls, escapeChar)

/** As `lineControls`, but newlines and tabs are text and the bidi marks are left to the terminal (real RTL text uses them). */
const textControls = /[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]/g

/**
 * The answer as it goes to a terminal, delta by delta: what `printable` escapes except newlines, tabs,
 * the bidi marks, and a carriage return that ends a line (`\r\n`, held back when a delta ends with `\r`).
 * Off a terminal the answer is data and is written as it came.
 */
export class TerminalText {
  private pendingCr = false

  /** The part of `text` to write now. */
  write(text: string): string {
    let input = this.pendingCr ? `\r${text}` : text
    this.pendingCr = input.endsWith("\r")
    if (this.pendingCr) input = input.slice(0, -1)
    return input.replace(textControls, (c, offset: number) => (c === "\r" && input[offset + 1] === "\n" ? c : escapeChar(c)))
  }

  /** What is still held back, at the end of the answer. */
  end(): string {
    if (!this.pendingCr) return ""
    this.pendingCr = false
    return "\\r"
  }
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
