/**
 * The Node HTTP server under the API and the ops servers. The platform's server listens as soon as
 * its layer is built and attaches the application's handler only when the layers above it are built
 * too (and detaches it first when it stops); a request in between would get no answer at all.
 * Here it gets 503 with Retry-After, as a server that is not ready says.
 */
import { NodeHttpServer } from "@effect/platform-node"
import { createServer } from "node:http"

const startingServer = () => {
  const server = createServer((_request, response) => {
    // The application's handler is the second listener; once it is there, it answers.
    if (server.listenerCount("request") > 1) return
    response
      .writeHead(503, { "content-type": "application/json", "retry-after": "1", "cache-control": "no-store" })
      .end(JSON.stringify({ error: "not_ready", message: "the server is starting or stopping; retry", retryAfterSeconds: 1 }))
  })
  return server
}

export const layer = (options: { readonly port: number; readonly host: string }) => NodeHttpServer.layer(startingServer, options)
