/**
 * The emulator's routes: the providers' endpoints (`POST /v1/chat/completions`, `POST /v1/messages`,
 * `POST /v1beta/models/{model}:streamGenerateContent?alt=sse` and `…:generateContent`), the
 * `/_emulator` control endpoints, and 404s in the provider's error format.
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
import * as Anthropic from "./anthropic.js"
import * as Answer from "./answer.js"
import * as Connection from "./connection.js"
import * as Gemini from "./gemini.js"
import * as OpenAi from "./openai.js"
import * as Plans from "./plan.js"
import type { RequestLog } from "./requestLog.js"
import type { ErrorSpec, Incoming, Plan, Renderer, Target } from "./wire.js"

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

const incomingOf = (incoming: Http.IncomingMessage): Incoming => {
  const headers: Record<string, string | undefined> = {}
  for (const [name, value] of Object.entries(incoming.headers)) {
    headers[name] = Array.isArray(value) ? value.join(", ") : value
  }
  const url = incoming.url ?? "/"
  const q = url.indexOf("?")
  return { headers, query: new URLSearchParams(q === -1 ? "" : url.slice(q + 1)) }
}

/** Runs a plan for the request in the emulator's fiber set, so shutdown interrupts and awaits it. */
const respond = (state: State, res: Http.ServerResponse, plan: Plan, tracker: Connection.Tracker) =>
  Effect.gen(function*() {
    const fiber = yield* FiberSet.run(state.fibers, Connection.run(res, plan, tracker))
    yield* Fiber.join(fiber).pipe(Effect.onInterrupt(() => Fiber.interrupt(fiber)))
    return HttpServerResponse.empty()
  })

/**
 * Adds `x-request-id` (and the format's own request-id header); drops our `connection: keep-alive`
 * when the client asked to close.
 */
const finalHeaders = (renderer: Renderer, plan: Plan, id: string, incoming: Http.IncomingMessage): Plan => {
  if (plan.head === undefined) return plan
  const headers: Record<string, string> = { ...plan.head.headers, "x-request-id": id }
  if (renderer.requestIdHeader !== undefined) headers[renderer.requestIdHeader] = id
  if (/\bclose\b/i.test(incoming.headers.connection ?? "")) delete headers.connection
  return { ...plan, head: { status: plan.head.status, headers } }
}

/**
 * Answers one completion request in `renderer`'s format; `route` reads the URL (Gemini puts the
 * model and the mode there) and may refuse it with an error of the format.
 */
const completions = (
  state: State,
  renderer: Renderer,
  route: (path: string, query: URLSearchParams) => Either.Either<Target, ErrorSpec> = () =>
    Either.right({ model: undefined, stream: undefined })
) =>
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
      faults: [],
      continuation: null
    }, res)
    const run = (plan: Plan) => {
      entry.update({ faults: plan.faults })
      return respond(state, res, finalHeaders(renderer, plan, id, incoming), entry.tracker)
    }
    const body = yield* Effect.either(request.json)
    if (Either.isRight(body)) entry.update({ body: body.right })
    // As a provider does: the route, then the credentials, then the body.
    const info = incomingOf(incoming)
    const target = route(request.url.split("?")[0], info.query)
    if (Either.isLeft(target)) return yield* run(Plans.errorPlan(renderer, target.left))
    const refused = renderer.authenticate(info)
    if (refused !== undefined) return yield* run(Plans.errorPlan(renderer, refused))
    if (Either.isLeft(body)) {
      return yield* run(Plans.errorPlan(renderer, renderer.invalidRequest(renderer.invalidJsonMessage)))
    }
    const scenario = rawKey === undefined ? Either.right(state.defaultScenario) : Scenario.parse(rawKey, state.registry)
    if (Either.isLeft(scenario)) {
      return yield* run(Plans.errorPlan(renderer, {
        ...renderer.invalidRequest(scenario.left.message),
        code: "invalid_scenario"
      }))
    }
    const prompt = renderer.decodeRequest(body.right, target.right)
    if (Either.isLeft(prompt)) {
      return yield* run(Plans.errorPlan(renderer, renderer.invalidRequest(prompt.left)))
    }
    entry.update({ stream: prompt.right.stream })
    const now = yield* Clock.currentTimeMillis
    const answer = Answer.resolve(scenario.right, prompt.right, {
      requestNumber: number,
      nowSeconds: Math.floor(now / 1000),
      faults: Plans.activeFaults(scenario.right, attempt),
      defaultId: renderer.defaultId(number)
    })
    if (answer.continuation !== undefined) entry.update({ continuation: answer.continuation })
    return yield* run(Plans.make(renderer, answer, { prompt: prompt.right, token: renderer.token(info) }))
  })

const notFound = (state: State) =>
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
      faults: [],
      continuation: null
    }, res)
    const renderer = notFoundRenderer(request.url, incomingOf(incoming))
    const plan = Plans.errorPlan(renderer, renderer.notFound(request.method, request.url))
    return yield* respond(state, res, finalHeaders(renderer, plan, id, incoming), entry.tracker)
  })

/** The format of a 404: Gemini's under `/v1beta`, Anthropic's for a request with Anthropic's headers, else OpenAI's. */
const notFoundRenderer = (url: string, incoming: Incoming): Renderer => {
  if (url.startsWith("/v1beta/")) return Gemini.renderer
  if (incoming.headers["anthropic-version"] !== undefined || incoming.headers["x-api-key"] !== undefined) {
    return Anthropic.renderer
  }
  return OpenAi.renderer
}

const geminiMethod = /^\/v1beta\/models\/([^/:]+):(streamGenerateContent|generateContent)$/

/** Reads `/v1beta/models/{model}:streamGenerateContent?alt=sse` and `…:generateContent`. */
const geminiRoute = (path: string, query: URLSearchParams): Either.Either<Target, ErrorSpec> => {
  const match = geminiMethod.exec(path)
  if (match === null) return Either.left(Gemini.renderer.notFound("POST", path))
  const model = decodeURIComponent(match[1])
  if (match[2] === "generateContent") return Either.right({ model, stream: false })
  if (query.get("alt") !== "sse") {
    return Either.left(Gemini.renderer.invalidRequest(
      "The Sluice emulator streams Gemini answers only as server-sent events: add ?alt=sse (the JSON-array stream is not emulated)."
    ))
  }
  return Either.right({ model, stream: true })
}

/** @internal The emulator's HTTP app. */
export const app = (state: State) =>
  HttpRouter.empty.pipe(
    HttpRouter.post("/v1/chat/completions", completions(state, OpenAi.renderer)),
    HttpRouter.post("/v1/messages", completions(state, Anthropic.renderer)),
    HttpRouter.post("/v1beta/models/*", completions(state, Gemini.renderer, geminiRoute)),
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
    Effect.catchTag("RouteNotFound", () => notFound(state))
  )
