/**
 * The emulator's routes: the providers' endpoints, the `/_emulator` control endpoints, and 404s in
 * the provider's error format.
 *
 * @internal
 */
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as NodeHttpServerRequest from "@effect/platform-node/NodeHttpServerRequest"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import * as FiberSet from "effect/FiberSet"
import type * as Http from "node:http"
import * as Scenario from "../Scenario.js"
import * as Answer from "./answer.js"
import * as Connection from "./connection.js"
import * as OpenAi from "./openai.js"
import * as Plans from "./plan.js"
import type { RequestLog } from "./requestLog.js"
import type { Plan, Renderer } from "./wire.js"

/** @internal The state one server shares between requests. */
export interface State {
  readonly log: RequestLog
  /** Requests seen per scenario key, for `times`. */
  readonly counters: Map<string, number>
  readonly registry: Scenario.Registry
  readonly defaultScenario: Scenario.Scenario
  readonly fibers: FiberSet.FiberSet<void, never>
}

const headerRecord = (headers: Http.IncomingHttpHeaders): Record<string, string> => {
  const out: Record<string, string> = {}
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined) out[name] = Array.isArray(value) ? value.join(", ") : value
  }
  return out
}

const scenarioHeader = (incoming: Http.IncomingMessage): string | undefined => {
  const value = incoming.headers[Scenario.HeaderName]
  return Array.isArray(value) ? value[0] : value
}

const bearer = (authorization: string | undefined): string => {
  if (authorization === undefined) return ""
  const match = /^\s*Bearer\s+(.*)$/i.exec(authorization)
  return match === null ? authorization : match[1]
}

/** Runs a plan for the request in the emulator's fiber set, so shutdown interrupts and awaits it. */
const respond = (state: State, res: Http.ServerResponse, plan: Plan, tracker: Connection.Tracker) =>
  Effect.gen(function*() {
    const fiber = yield* FiberSet.run(state.fibers, Connection.run(res, plan, tracker))
    yield* Fiber.join(fiber).pipe(Effect.onInterrupt(() => Fiber.interrupt(fiber)))
    return HttpServerResponse.empty()
  })

/** Adds `x-request-id`; drops our `connection: keep-alive` when the client asked to close. */
const finalHeaders = (plan: Plan, id: string, incoming: Http.IncomingMessage): Plan => {
  if (plan.head === undefined) return plan
  const headers: Record<string, string> = { ...plan.head.headers, "x-request-id": id }
  if (/\bclose\b/i.test(incoming.headers.connection ?? "")) delete headers.connection
  return { ...plan, head: { status: plan.head.status, headers } }
}

const completions = (state: State, renderer: Renderer) =>
  Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    const res = NodeHttpServerRequest.toServerResponse(request)
    const incoming = NodeHttpServerRequest.toIncomingMessage(request)
    const { id, number } = state.log.nextId()
    const rawKey = scenarioHeader(incoming)
    const scenarioKey = rawKey ?? Scenario.DefaultKey
    const attempt = (state.counters.get(scenarioKey) ?? 0) + 1
    state.counters.set(scenarioKey, attempt)
    const entry = state.log.start({
      id,
      method: request.method,
      path: request.url,
      headers: headerRecord(incoming.headers),
      body: null,
      scenarioKey,
      attempt,
      stream: false,
      faults: []
    }, res)
    const body = yield* Effect.either(request.json)
    const run = (plan: Plan) => {
      entry.update({ faults: plan.faults })
      return respond(state, res, finalHeaders(plan, id, incoming), entry.tracker)
    }
    if (Either.isLeft(body)) {
      return yield* run(Plans.errorPlan(renderer, {
        ...renderer.defaultError(400, undefined),
        message: "We could not parse the JSON body of your request."
      }))
    }
    entry.update({ body: body.right })
    const scenario = rawKey === undefined ? Either.right(state.defaultScenario) : Scenario.parse(rawKey, state.registry)
    if (Either.isLeft(scenario)) {
      return yield* run(Plans.errorPlan(renderer, {
        status: 400,
        message: scenario.left.message,
        type: "invalid_request_error",
        code: "invalid_scenario"
      }))
    }
    const prompt = renderer.decodeRequest(body.right)
    if (Either.isLeft(prompt)) {
      return yield* run(Plans.errorPlan(renderer, { ...renderer.defaultError(400, undefined), message: prompt.left }))
    }
    entry.update({ stream: prompt.right.stream })
    const now = yield* Clock.currentTimeMillis
    const answer = Answer.resolve(scenario.right, prompt.right, {
      requestNumber: number,
      nowSeconds: Math.floor(now / 1000),
      faults: Plans.activeFaults(scenario.right, attempt)
    })
    const token = bearer(incoming.headers.authorization)
    return yield* run(Plans.make(renderer, answer, { prompt: prompt.right, token }))
  })

const notFound = (state: State, renderer: Renderer) =>
  Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    const res = NodeHttpServerRequest.toServerResponse(request)
    const incoming = NodeHttpServerRequest.toIncomingMessage(request)
    const { id } = state.log.nextId()
    const entry = state.log.start({
      id,
      method: request.method,
      path: request.url,
      headers: headerRecord(incoming.headers),
      body: null,
      scenarioKey: scenarioHeader(incoming) ?? Scenario.DefaultKey,
      attempt: 0,
      stream: false,
      faults: []
    }, res)
    const plan = Plans.errorPlan(renderer, {
      status: 404,
      message: `Invalid URL (${request.method} ${request.url})`,
      type: "invalid_request_error",
      code: null
    })
    return yield* respond(state, res, finalHeaders(plan, id, incoming), entry.tracker)
  })

/** @internal The emulator's HTTP app. */
export const app = (state: State) =>
  HttpRouter.empty.pipe(
    HttpRouter.post("/v1/chat/completions", completions(state, OpenAi.renderer)),
    HttpRouter.get("/_emulator/health", Effect.succeed(HttpServerResponse.unsafeJson({ ok: true }))),
    HttpRouter.get("/_emulator/requests", Effect.sync(() => HttpServerResponse.unsafeJson(state.log.snapshot()))),
    HttpRouter.post(
      "/_emulator/reset",
      Effect.sync(() => {
        state.log.clear()
        state.counters.clear()
        return HttpServerResponse.unsafeJson({ ok: true })
      })
    ),
    Effect.catchTag("RouteNotFound", () => notFound(state, OpenAi.renderer))
  )
