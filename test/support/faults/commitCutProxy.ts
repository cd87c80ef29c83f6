/**
 * A TCP proxy in front of PostgreSQL that understands just enough of the wire protocol to lose the
 * reply of a commit: when a statement that inserts into `events` has run and its transaction has
 * committed — the server then says ReadyForQuery, idle — the proxy can drop that ReadyForQuery and
 * close both sides. The rows are durable; the client hears "connection terminated" and cannot know.
 *
 * Messages after the startup exchange are framed as a type byte and a 4-byte length (which counts
 * itself): enough to find Parse ('P') and simple Query ('Q') texts going up, and CommandComplete
 * ('C'), ErrorResponse ('E') and ReadyForQuery ('Z') coming down. Everything else passes untouched.
 */
import { Effect } from "effect"
import net from "node:net"

export interface CommitCutProxy {
  readonly port: number
  /**
   * Lose the reply of the next `count` commits of an insert into `events`; with `thenRefuse`, refuse
   * every connection after the cut, until `restore`, so that nobody can ask what happened.
   */
  readonly cutNext: (count: number, options?: { readonly thenRefuse?: boolean }) => void
  /** Accept connections again after a cut with `thenRefuse`. */
  readonly restore: () => void
  /** From now on, lose the reply of each such commit with this probability (0 stops it). */
  readonly cutWithProbability: (probability: number) => void
  /** Commit replies lost so far. */
  readonly cuts: () => number
  /** Inserts into `events` whose commit reply went through. */
  readonly passed: () => number
}

/** Scans a byte stream for framed messages, calling `onMessage(type, body)`; `skipStartup` for the client side. */
const framer = (skipStartup: boolean, onMessage: (type: number, body: Buffer) => void) => {
  let buffered: Buffer = Buffer.alloc(0)
  let startup = skipStartup
  return (chunk: Buffer) => {
    buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk])
    for (;;) {
      if (startup) {
        // StartupMessage (or SSLRequest): an int32 length and no type byte.
        if (buffered.length < 4) return
        const length = buffered.readInt32BE(0)
        if (buffered.length < length) return
        buffered = buffered.subarray(length)
        startup = false
        continue
      }
      if (buffered.length < 5) return
      const length = buffered.readInt32BE(1)
      if (buffered.length < 1 + length) return
      onMessage(buffered[0]!, buffered.subarray(5, 1 + length))
      buffered = buffered.subarray(1 + length)
    }
  }
}

const INSERT_INTO_EVENTS = /INSERT\s+INTO\s+events\s*\(/i
const [PARSE, QUERY, COMMAND_COMPLETE, ERROR, READY] = ["P", "Q", "C", "E", "Z"].map((c) => c.charCodeAt(0))

/** Starts the proxy on a free port in front of `upstream`; it stops when the scope closes. */
export const commitCutProxy = (upstream: { readonly host: string; readonly port: number }) =>
  Effect.acquireRelease(
    Effect.async<{ proxy: CommitCutProxy; server: net.Server; sockets: Set<net.Socket> }>((resume) => {
      let toCut = 0
      let refuseAfterCut = false
      let refusing = false
      let probability = 0
      let cuts = 0
      let passed = 0
      const sockets = new Set<net.Socket>()

      const server = net.createServer((client) => {
        if (refusing) return void client.destroy()
        const database = net.connect(upstream.port, upstream.host)
        sockets.add(client).add(database)
        const close = () => {
          client.destroy()
          database.destroy()
          sockets.delete(client)
          sockets.delete(database)
        }
        client.on("error", close).on("close", close)
        database.on("error", close).on("close", close)

        /** An insert into `events` was sent and has not yet reached ReadyForQuery; `failed` once it errored. */
        let insert: { failed: boolean; completed: boolean } | undefined
        client.on(
          "data",
          framer(true, (type, body) => {
            if ((type === PARSE || type === QUERY) && INSERT_INTO_EVENTS.test(body.toString("utf8"))) {
              insert = { failed: false, completed: false }
            }
          })
        )
        client.pipe(database)

        // Downstream, each message is forwarded as soon as it is complete, unless it is the one to lose.
        database.on(
          "data",
          framer(false, (type, body) => {
            if (client.destroyed) return
            if (insert !== undefined && type === ERROR) insert.failed = true
            if (insert !== undefined && type === COMMAND_COMPLETE) insert.completed = true
            if (insert !== undefined && type === READY) {
              const committed = insert.completed && !insert.failed && body[0] === "I".charCodeAt(0)
              insert = undefined
              if (committed) {
                const cut = toCut > 0 || (probability > 0 && Math.random() < probability)
                if (cut) {
                  if (toCut > 0) toCut--
                  cuts++
                  if (refuseAfterCut) {
                    refusing = true
                    for (const socket of sockets) socket.destroy()
                  }
                  close()
                  return
                }
                passed++
              }
            }
            const frame = Buffer.alloc(5 + body.length)
            frame[0] = type
            frame.writeInt32BE(4 + body.length, 1)
            body.copy(frame, 5)
            client.write(frame)
          })
        )
      })
      server.listen(0, "127.0.0.1", () => {
        const port = (server.address() as net.AddressInfo).port
        resume(Effect.succeed({
          server,
          sockets,
          proxy: {
            port,
            cutNext: (count, options) => {
              toCut += count
              refuseAfterCut = options?.thenRefuse === true
            },
            restore: () => void (refusing = false),
            cutWithProbability: (p) => void (probability = p),
            cuts: () => cuts,
            passed: () => passed
          }
        }))
      })
    }),
    ({ server, sockets }) =>
      Effect.async<void>((resume) => {
        for (const socket of sockets) socket.destroy()
        server.close(() => resume(Effect.void))
      })
  ).pipe(Effect.map(({ proxy }) => proxy))

/** The same database URL, through a proxy listening on `port`. */
export const throughProxy = (databaseUrl: string, port: number) => {
  const url = new URL(databaseUrl)
  url.hostname = "127.0.0.1"
  url.port = String(port)
  return url.toString()
}
