/** Servers of a test's own on loopback, for the tests that need a server to misbehave in ways the emulator does not. */
import { Effect, type Scope } from "effect"
import type * as Http from "node:http"
import type * as Net from "node:net"

/**
 * Listens on 127.0.0.1 at a free port for the life of the scope and gives the server's URL; when the
 * scope closes, `closeConnections` ends the open connections and the server closes.
 */
export const listen = (server: Net.Server, closeConnections: () => void): Effect.Effect<string, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.async<number>((resume) => {
      server.listen(0, "127.0.0.1", () => {
        const address = server.address()
        resume(Effect.succeed(typeof address === "object" && address !== null ? address.port : 0))
      })
    }),
    () =>
      Effect.async<void>((resume) => {
        closeConnections()
        server.close(() => resume(Effect.void))
      })
  ).pipe(Effect.map((port) => `http://127.0.0.1:${port}`))

/** An HTTP server on loopback for the life of the scope (see `listen`). */
export const serve = (server: Http.Server): Effect.Effect<string, never, Scope.Scope> =>
  listen(server, () => server.closeAllConnections())
