/**
 * From a scenario, a decoded request and a renderer to the plan of one response: faults are applied
 * here, format-independently, on the renderer's list of events; renderers differ only in encoding.
 *
 * @internal
 */
import type * as Fault from "../Fault.js"
import type * as Scenario from "../Scenario.js"
import * as Answer from "./answer.js"
import type { ErrorSpec, JsonObject, Plan, Renderer, Step, WireEvent } from "./wire.js"
import { awkwardCut, breakJson, utf8 } from "./wire.js"

/** @internal The faults of a scenario active for the `attempt`-th request of its key (1-based). */
export const activeFaults = (scenario: Scenario.Scenario, attempt: number): ReadonlyArray<Fault.Fault> =>
  (scenario.faults ?? []).filter((fault) => fault.times === undefined || attempt <= fault.times)

/** @internal An HTTP error response. */
export const errorPlan = (
  renderer: Renderer,
  error: ErrorSpec,
  extraHeaders: Readonly<Record<string, string>> = {},
  faults: ReadonlyArray<string> = []
): Plan => {
  const bytes = utf8(renderer.encodeBody(renderer.errorBody(error)))
  return {
    head: {
      status: error.status,
      headers: { ...renderer.jsonHeaders, "content-length": String(bytes.length), ...extraHeaders }
    },
    steps: [{ _tag: "Write", bytes, content: false, event: false }],
    ending: "end",
    write: "event",
    buffered: undefined,
    keepAlive: undefined,
    faults
  }
}

const statusPlan = (renderer: Renderer, fault: Fault.Status, model: string | undefined): Plan => {
  const fallback = renderer.defaultError(fault.status, model, fault.code)
  const headers: Record<string, string> = {}
  if (fault.retryAfter !== undefined) headers["retry-after"] = String(fault.retryAfter)
  if (fault.retryAfterMs !== undefined) headers["retry-after-ms"] = String(fault.retryAfterMs)
  return errorPlan(renderer, {
    status: fault.status,
    message: fault.message ?? fallback.message,
    type: fault.errorType ?? fallback.type,
    code: fault.code === undefined ? fallback.code : fault.code
  }, headers, ["status"])
}

type EndingFault = Fault.Truncate | Fault.TruncateMidEvent | Fault.Reset | Fault.ErrorEvent | Fault.Stall

const endingFault = (faults: ReadonlyArray<Fault.Fault>): EndingFault | undefined => {
  for (const fault of faults) {
    switch (fault.type) {
      case "truncate":
      case "truncateMidEvent":
      case "reset":
      case "errorEvent":
      case "stall":
        return fault
    }
  }
  return undefined
}

/** @internal What a plan needs besides the scenario's answer. */
export interface Request {
  readonly prompt: Answer.Prompt
  /** The credential received, for `echoKey`. */
  readonly token: string
}

/** @internal The plan of a response to a well-formed request. */
export const make = (renderer: Renderer, answer: Answer.Answer, request: Request): Plan => {
  const faults = answer.faults
  const status = Answer.findFault(faults, "status")
  if (status !== undefined) return statusPlan(renderer, status, request.prompt.model)
  if (Answer.findFault(faults, "echoKey") !== undefined) {
    return errorPlan(renderer, renderer.keyError(request.token), {}, ["echoKey"])
  }
  if (answer.blocked !== undefined && renderer.blockedError !== undefined) {
    return errorPlan(renderer, renderer.blockedError(answer.blocked), {}, ["promptBlocked"])
  }
  return request.prompt.stream ? streamPlan(renderer, answer, request.prompt) : jsonPlan(renderer, answer, request.prompt)
}

const base = (renderer: Renderer, answer: Answer.Answer): Pick<Plan, "write" | "keepAlive"> => {
  const keepAlive = answer.pacing.keepAlive
  return {
    write: answer.write,
    keepAlive: keepAlive === undefined
      ? undefined
      : { intervalMs: keepAlive.intervalMs, bytes: utf8(renderer.keepAlive(keepAlive.comment)) }
  }
}

/** Records the faults that shaped a response, in the order they were applied. */
const tracker = () => {
  const used: Array<string> = []
  const use = <F extends Fault.Fault>(fault: F | undefined): F | undefined => {
    if (fault !== undefined) used.push(fault.type)
    return fault
  }
  return { used, use }
}

const streamPlan = (renderer: Renderer, answer: Answer.Answer, prompt: Answer.Prompt): Plan => {
  const faults = answer.faults
  const { used, use } = tracker()
  if (answer.blocked !== undefined) used.push("promptBlocked")
  const head = { status: 200, headers: renderer.streamHeaders }
  if (use(Answer.findFault(faults, "headersOnly")) !== undefined) {
    return { head, steps: [], ending: "hang", ...base(renderer, answer), buffered: undefined, faults: used }
  }
  const omit = use(Answer.findFault(faults, "omitUsage"))
  const inflate = use(Answer.findFault(faults, "inflateUsage"))
  const usage = omit !== undefined
    ? undefined
    : inflate !== undefined
    ? Answer.inflate(answer.usage, inflate.factor)
    : answer.usage
  const dropFinish = use(Answer.findFault(faults, "dropFinish")) !== undefined
  let events: ReadonlyArray<WireEvent> = renderer.streamEvents(answer, prompt, { usage, finish: !dropFinish })
  // A format without an end marker (Gemini) is not shaped by `dropDone`.
  if (Answer.findFault(faults, "dropDone") !== undefined && events.some((e) => e.kind === "done")) {
    used.push("dropDone")
    events = events.filter((e) => e.kind !== "done")
  }

  // Content events are numbered from 1; `positions[n]` is the index in `events` of content event n.
  const positions: Array<number> = [-1]
  events.forEach((e, i) => {
    if (e.kind === "content") positions.push(i)
  })
  const contentCount = positions.length - 1
  const firstAfterPreamble = events.findIndex((e) => e.kind !== "preamble" && e.kind !== "frame")
  /** The index in `events` just after content event `n` (n = 0: before the first non-preamble event), clamped. */
  const cutAfter = (n: number): number => {
    const clamped = Math.min(n, contentCount)
    return clamped === 0 ? (firstAfterPreamble === -1 ? events.length : firstAfterPreamble) : positions[clamped] + 1
  }
  /** The index of content event `n`, or past the last one, the finish event (else the last event). */
  const target = (n: number): number => {
    if (n <= contentCount) return positions[n]
    const finish = events.findIndex((e) => e.kind === "finish")
    return finish === -1 ? events.length - 1 : finish
  }

  const data = new Map<number, string>()
  const malformed = use(Answer.findFault(faults, "malformedJson"))
  if (malformed !== undefined && events.length > 0) {
    const event = events[target(malformed.atEvent)]
    const json = typeof event.payload === "string" ? event.payload : renderer.serialize(event.payload)
    data.set(target(malformed.atEvent), breakJson(json))
  }
  const wrong = use(Answer.findFault(faults, "wrongSchema"))
  if (wrong !== undefined && events.length > 0) {
    const event = events[target(wrong.atEvent)]
    if (typeof event.payload !== "string") {
      data.set(target(wrong.atEvent), renderer.serialize(renderer.wrongSchema(event.payload)))
    }
  }

  const pauseBefore = (kind: WireEvent["kind"], contentIndex: number): number => {
    const { firstTokenDelayMs, gapMs } = answer.pacing
    if (kind === "content") return contentIndex === 1 ? firstTokenDelayMs : gapMs
    if (kind === "finish" || kind === "error") return contentIndex === 0 ? firstTokenDelayMs : gapMs
    return 0
  }

  const steps: Array<Step> = []
  let contentSeen = 0
  const push = (event: WireEvent, index: number | undefined) => {
    if (event.kind === "content") contentSeen++
    const ms = pauseBefore(event.kind, contentSeen)
    if (ms > 0) steps.push({ _tag: "Pause", ms })
    const override = index === undefined ? undefined : data.get(index)
    steps.push({
      _tag: "Write",
      bytes: utf8(renderer.encodeEvent(event, override)),
      content: event.kind === "content",
      event: true
    })
  }

  const ending = use(endingFault(faults))
  const cut = ending === undefined ? events.length : cutAfter(ending.afterEvents)
  for (let i = 0; i < cut; i++) push(events[i], i)
  const bufferedReplay = use(Answer.findFault(faults, "bufferedReplay"))
  const plan = (end: Plan["ending"]): Plan => ({
    head,
    steps,
    ending: end,
    ...base(renderer, answer),
    buffered: bufferedReplay === undefined ? undefined : (bufferedReplay.afterEvents ?? 0),
    faults: used
  })
  if (ending === undefined) return plan("end")
  switch (ending.type) {
    case "truncate":
      return plan("end")
    case "truncateMidEvent": {
      if (cut < events.length) {
        const bytes = utf8(renderer.encodeEvent(events[cut], data.get(cut)))
        const size = ending.bytes === undefined ? awkwardCut(bytes) : Math.min(ending.bytes, bytes.length - 1)
        steps.push({ _tag: "Write", bytes: bytes.subarray(0, size), content: false, event: false })
      }
      return plan("end")
    }
    case "reset":
      return plan(ending.rst === true ? "rst" : "reset")
    case "errorEvent": {
      push(renderer.errorEvent({ ...renderer.streamError(prompt.model), ...definedOf(ending) }), undefined)
      return plan("end")
    }
    case "stall":
      return plan("stall")
  }
}

const jsonPlan = (renderer: Renderer, answer: Answer.Answer, prompt: Answer.Prompt): Plan => {
  const faults = answer.faults
  const { used, use } = tracker()
  if (answer.blocked !== undefined) used.push("promptBlocked")
  const silent = (ending: Plan["ending"], head: Plan["head"]): Plan => ({
    head,
    steps: [],
    ending,
    write: answer.write,
    buffered: undefined,
    keepAlive: undefined,
    faults: used
  })
  if (use(Answer.findFault(faults, "headersOnly")) !== undefined) {
    return silent("hang", { status: 200, headers: renderer.jsonHeaders })
  }
  const ending = use(endingFault(faults))
  if (ending?.type === "stall") return silent("hang", undefined)
  if (ending?.type === "reset") return silent(ending.rst === true ? "rst" : "reset", undefined)

  const usage = use(Answer.findFault(faults, "omitUsage")) !== undefined ? undefined : answer.usage
  const finish = use(Answer.findFault(faults, "dropFinish")) === undefined
  let body: JsonObject = ending?.type === "errorEvent"
    ? renderer.errorBody({ ...renderer.streamError(prompt.model), ...definedOf(ending) })
    : renderer.completion(answer, prompt, { usage, finish })
  if (use(Answer.findFault(faults, "wrongSchema")) !== undefined) body = renderer.wrongSchema(body)
  let text = renderer.encodeBody(body)
  if (use(Answer.findFault(faults, "malformedJson")) !== undefined) text = breakJson(text)
  let bytes = utf8(text)
  const truncated = ending?.type === "truncate" || ending?.type === "truncateMidEvent"
  if (ending?.type === "truncateMidEvent" && ending.bytes !== undefined) {
    bytes = bytes.subarray(0, Math.min(ending.bytes, bytes.length - 1))
  } else if (truncated) {
    bytes = bytes.subarray(0, awkwardCut(bytes))
  }
  const delay = Answer.pacedDurationMs(answer)
  const steps: Array<Step> = []
  if (delay > 0) steps.push({ _tag: "Pause", ms: delay })
  steps.push({ _tag: "Write", bytes, content: false, event: false })
  return {
    head: {
      status: 200,
      headers: truncated ? renderer.jsonHeaders : { ...renderer.jsonHeaders, "content-length": String(bytes.length) }
    },
    steps,
    ending: "end",
    write: answer.write,
    buffered: undefined,
    keepAlive: undefined,
    faults: used
  }
}

const definedOf = (fault: Fault.ErrorEvent): Partial<ErrorSpec> => ({
  ...(fault.message === undefined ? {} : { message: fault.message }),
  ...(fault.errorType === undefined ? {} : { type: fault.errorType }),
  ...(fault.code === undefined ? {} : { code: fault.code })
})
