/**
 * The floor for HTTP commands: a bare `node:http` server that answers each command with one INSERT
 * of an event-sized row through a plain pg pool, and each read from memory. Nothing of ours in
 * between: what the service does beyond this is what it costs.
 *
 *   node --import tsx bench/http/floorServer.ts <port> <database url> <pool size>
 */
import { createServer } from "node:http"
import { randomUUID } from "node:crypto"
import pg from "pg"

const [port, url, poolSize] = process.argv.slice(2)
const pool = new pg.Pool({ connectionString: url, max: Number(poolSize) })
pool.on("error", () => undefined)

await pool.query(`CREATE TABLE IF NOT EXISTS floor_events (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, stream_id text NOT NULL, event_type text NOT NULL,
  payload jsonb, metadata jsonb NOT NULL, recorded_at timestamptz NOT NULL DEFAULT now())`)

const server = createServer((request, response) => {
  const chunks: Array<Buffer> = []
  request.on("data", (chunk: Buffer) => chunks.push(chunk))
  request.on("end", () => {
    const answer = (status: number, body: string) => {
      response.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(body) })
      response.end(body)
    }
    if (request.method === "GET") return answer(200, `{"status":"ok","path":${JSON.stringify(request.url)}}`)
    const body = Buffer.concat(chunks).toString()
    pool.query("INSERT INTO floor_events (stream_id, event_type, payload, metadata) VALUES ($1, $2, $3, $4) RETURNING id", [
      request.url ?? "/",
      request.method ?? "POST",
      body === "" ? null : body,
      JSON.stringify({ correlationId: randomUUID(), causationId: null, userId: null })
    ]).then(
      (result) => answer(200, `{"id":${result.rows[0].id}}`),
      (error: Error) => answer(503, JSON.stringify({ error: error.message }))
    )
  })
})
server.keepAliveTimeout = 60_000
server.listen(Number(port), "127.0.0.1", () => console.log(`listening ${port}`))
