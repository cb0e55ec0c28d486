/**
 * An error's message as the CLI shows it: one line for stderr (and `--json`'s `error.message`), the
 * whole text kept as `detail` when that line had to leave some out (a schema dump, a provider's
 * multi-line message, a long copy of the offending data).
 * @internal
 */

/** The longest error line the CLI prints. */
const maxLine = 240

/** The one-line message and, when it is shorter than the error's own, the whole text. */
export interface ErrorText {
  readonly message: string
  readonly detail?: string | undefined
}

/**
 * Cuts `message` to its first line and at most `maxLine` characters (never inside a surrogate pair);
 * a long line stops before the structure it embeds (`: {`, as a schema or a JSON body begins).
 */
export const errorText = (message: string): ErrorText => {
  const newline = message.indexOf("\n")
  let line = (newline < 0 ? message : message.slice(0, newline)).trimEnd()
  if (line.length > maxLine) {
    const structure = line.indexOf(": {")
    let cut = structure > 0 && structure < maxLine ? structure : maxLine - 1
    const code = line.charCodeAt(cut - 1)
    if (code >= 0xd800 && code <= 0xdbff) cut--
    line = line.slice(0, cut)
  }
  return line === message ? { message } : { message: `${line}…`, detail: message }
}
