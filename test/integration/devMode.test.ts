/**
 * Local development as the README shows it: `make token` prints a token signed with the development
 * key and nothing else, `serve` (compiled, as `make run` starts it) accepts it, its metrics are on
 * the ops port and not on the API's, and development keys are refused in production.
 */
import { expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { execFile } from "node:child_process"
import { randomUUID } from "node:crypto"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import path from "node:path"
import { promisify } from "node:util"
import { startBuiltCli } from "../../bench/lib/processes.js"
import { freePort } from "../support/faults/toxiproxy.js"
import { databaseUrl } from "../support/layers.js"

const run = promisify(execFile)

/** The environment of a make run by a user: none of the calling make's own settings. */
const userEnvironment = (extra: Record<string, string>) => {
  const { MAKEFLAGS: _flags, MAKELEVEL: _level, MFLAGS: _mflags, ...rest } = process.env
  return { ...rest, ...extra }
}

const JWT = /^[\w-]+\.[\w-]+\.[\w-]+$/

it.scopedLive("make token prints only a token, which serve in development mode accepts; metrics are on the ops port only", () =>
  Effect.gen(function*() {
    const keyFile = path.join(mkdtempSync(path.join(tmpdir(), "actors-dev-")), "dev-signing-key.json")
    const customerId = randomUUID()
    const printed = yield* Effect.promise(() =>
      run("make", ["--no-print-directory", "token", "ROLE=customer", `SUBJECT=${customerId}`], {
        env: userEnvironment({ AUTH_DEV_KEY_FILE: keyFile })
      })
    )
    const lines = printed.stdout.split("\n").filter((line) => line.length > 0)
    expect(lines).toHaveLength(1)
    expect(lines[0]).toMatch(JWT)

    const serve = yield* startBuiltCli(["serve"], {
      DATABASE_URL: databaseUrl(),
      AUTH_DEV_KEY_FILE: keyFile,
      PORT: String(yield* freePort),
      OPS_PORT: "0",
      OUTBOX_RELAY: "false",
      PROJECTOR: "false"
    })
    const api = /Listening on (http:\/\/[^\s"]+)/.exec(yield* serve.waitForLine(/Listening on http/, 60_000))![1]!.replace("0.0.0.0", "127.0.0.1")
    const ops = /ops server .* at (http:\/\/[^\s"]+)/.exec(yield* serve.waitForLine(/ops server .* at http/, 60_000))![1]!
    expect(serve.lines.join("\n")).toContain("development tokens")
    expect(new URL(ops).hostname).toBe("127.0.0.1")

    const placed = yield* Effect.promise(() =>
      fetch(`${api}/orders`, {
        method: "POST",
        headers: { authorization: `Bearer ${lines[0]}`, "content-type": "application/json" },
        body: JSON.stringify({ customerId, lines: [{ sku: "A", quantity: 1, unitPriceCents: 100 }], currency: "EUR" })
      })
    )
    expect(placed.status).toBe(201)
    const elsewhere = yield* Effect.promise(() =>
      fetch(`${api}/orders`, {
        method: "POST",
        headers: { authorization: `Bearer ${lines[0]}`, "content-type": "application/json" },
        body: JSON.stringify({ customerId: randomUUID(), lines: [{ sku: "A", quantity: 1, unitPriceCents: 100 }], currency: "EUR" })
      })
    )
    expect(elsewhere.status).toBe(403)

    expect((yield* Effect.promise(() => fetch(`${api}/metrics`))).status).toBe(404)
    const metrics = yield* Effect.promise(() => fetch(`${ops}/metrics`).then((response) => response.text()))
    expect(metrics).toMatch(/^actor_commands_total\{.*outcome="ok".*\} 1$/m)
    expect((yield* Effect.promise(() => fetch(`${ops}/ready`))).status).toBe(200)
  }), { timeout: 120_000 })

it.scopedLive("development keys are refused in production: serve stops at once and says what to set", () =>
  Effect.gen(function*() {
    const serve = yield* startBuiltCli(["serve"], { DATABASE_URL: databaseUrl(), NODE_ENV: "production", PORT: String(yield* freePort), OPS_PORT: "0" })
    const exit = yield* serve.exited
    expect(exit.code).not.toBe(0)
    expect(serve.lines.join("\n")).toMatch(/NODE_ENV=production.*AUTH_JWKS_URL/)
  }), { timeout: 60_000 })

it.scopedLive("make token refuses when tokens come from an identity provider", () =>
  Effect.gen(function*() {
    const refused = yield* Effect.promise(() =>
      run("make", ["--no-print-directory", "token", "ROLE=admin"], {
        env: userEnvironment({ AUTH_JWKS_URL: "https://id.example.com/jwks.json", AUTH_ISSUER: "https://id.example.com/", AUTH_AUDIENCE: "orders" })
      }).then(() => ({ failed: false, output: "" }), (error: { stdout: string; stderr: string }) => ({
        failed: true,
        output: `${error.stdout}${error.stderr}`
      }))
    )
    expect(refused.failed).toBe(true)
    expect(refused.output).toContain("get tokens from your identity provider")
  }), { timeout: 60_000 })
