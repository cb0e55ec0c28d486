/** An `HttpClient` without a network, for the adapter tests that look at the requests an adapter sends. */
import * as HttpClient from "@effect/platform/HttpClient"
import type * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import { Effect, Layer } from "effect"

/** A client that answers every request with `answer`, keeping the requests in `requests`. */
export const fakeHttpClient = (answer: (request: HttpClientRequest.HttpClientRequest) => Response) => {
  const requests: Array<HttpClientRequest.HttpClientRequest> = []
  const client = HttpClient.make((request) =>
    Effect.sync(() => {
      requests.push(request)
      return HttpClientResponse.fromWeb(request, answer(request))
    })
  )
  return { requests, layer: Layer.succeed(HttpClient.HttpClient, client) }
}
