/**
 * The OpenAPI document against the server, both ways. For every operation, requests are generated
 * from the document alone (its parameters', headers' and bodies' schemas): each must be taken as
 * well-formed (never 400, 405, 413 or 415), and each answer must be one the operation declares, with
 * the declared media type, a body valid against the declared schema, and the declared headers.
 * Path ids are drawn from real orders and SKUs as well as random ones, so that successes are
 * checked as well as not-founds and failed preconditions.
 */
import { describe, expect, layer } from "@effect/vitest"
import { Ajv2020 } from "ajv/dist/2020.js"
import { Effect, FastCheck as fc } from "effect"
import { randomUUID } from "node:crypto"
import { adminToken, bearer } from "../support/auth.js"
import { arbitraryOf, type JsonSchema, resolver } from "../support/jsonSchemaArbitrary.js"
import { BaseUrl, get, placeOrder, serverLayer } from "../support/http.js"

interface Operation {
  readonly operationId?: string
  readonly parameters?: ReadonlyArray<{ readonly name: string; readonly in: "path" | "query" | "header"; readonly required: boolean; readonly schema: JsonSchema }>
  readonly requestBody?: { readonly content: Record<string, { readonly schema: JsonSchema }> }
  readonly responses: Record<string, {
    readonly content?: Record<string, { readonly schema: JsonSchema }>
    readonly headers?: Record<string, { readonly required?: boolean } & JsonSchema>
  }>
}

interface GeneratedRequest {
  readonly path: string
  readonly query: string
  readonly headers: Record<string, string>
  readonly body: unknown
}

/** A JSON pointer into the document, as Ajv takes it in a schema reference. */
const pointer = (...segments: ReadonlyArray<string>) =>
  "#/" + segments.map((segment) => encodeURIComponent(segment.replaceAll("~", "~0").replaceAll("/", "~1"))).join("/")

/** Statuses that say the request itself was not acceptable: never for a request the document allows. */
const refusals = new Set([400, 405, 413, 415])

const runsPerOperation = 12

layer(serverLayer(), { excludeTestServices: true })("the OpenAPI document against the server", (it) => {
  describe("generated valid requests are accepted, and every answer is as declared", () => {
    it.effect("for every operation", () =>
      Effect.gen(function*() {
        const base = yield* BaseUrl
        const document = (yield* get("/openapi.json")).json as JsonSchema
        const ajv = new Ajv2020({ strict: false, validateFormats: false, allErrors: true })
        // Effect marks each `unknown` schema with the same `$id`; Ajv takes ids as unique.
        ajv.addSchema(JSON.parse(JSON.stringify(document).replaceAll(`"$id":"/schemas/unknown",`, "")), "api")
        const arbitrary = arbitraryOf(document)
        const resolve = resolver(document)

        // Real ids beside random ones, so that answers other than 404 are checked too.
        const orders = [yield* placeOrder(), yield* placeOrder()]
        const skus = ["A", `SKU-${randomUUID().slice(0, 8)}`]
        const customers = [randomUUID()]
        const pools: Record<string, fc.Arbitrary<string>> = {
          orderId: fc.constantFrom(...orders),
          sku: fc.constantFrom(...skus),
          customerId: fc.constantFrom(...customers)
        }
        // A feed position is 0 or an event's (the document says so): drawn from those.
        const positions = fc.constantFrom("0", String((yield* get(`/orders/${orders[0]}/events`)).json[0].globalPosition))
        pools.after = positions
        pools["last-event-id"] = positions
        // A read-your-writes wait is honoured to the millisecond: the test does not sit through 30 s of them.
        pools.waitMs = fc.integer({ min: 0, max: 50 }).map(String)
        // An opaque cursor is valid only as the API gave it (the document says so): none is generated.
        const givenOnly = new Set(["cursor"])

        const requestOf = (template: string, op: Operation): fc.Arbitrary<GeneratedRequest> => {
          const parameters = (op.parameters ?? []).filter((parameter) => !givenOnly.has(parameter.name))
          const valueOf = (parameter: (typeof parameters)[number]) => {
            const generated = arbitrary(parameter.schema).map((value) => String(value))
            const pool = pools[parameter.name]
            if (["waitMs", "after", "last-event-id"].includes(parameter.name)) return pools[parameter.name]!
            return parameter.in === "path" && pool !== undefined ? fc.oneof(pool, generated) : generated
          }
          const values = fc.record(
            Object.fromEntries(parameters.map((parameter) => [`${parameter.in}:${parameter.name}`, valueOf(parameter)])),
            { requiredKeys: parameters.filter((parameter) => parameter.required).map((parameter) => `${parameter.in}:${parameter.name}`) }
          )
          const bodySchema = op.requestBody?.content["application/json"]?.schema
          return fc.tuple(values, bodySchema === undefined ? fc.constant(undefined) : arbitrary(bodySchema)).map(([given, body]) => {
            const entries = Object.entries(given as Record<string, string>)
            const of = (kind: string) =>
              entries.filter(([key]) => key.startsWith(`${kind}:`)).map(([key, value]): [string, string] => [key.slice(kind.length + 1), value])
            const path = of("path").reduce((path, [name, value]) => path.replace(`{${name}}`, encodeURIComponent(value)), template)
            return { path, query: new URLSearchParams(of("query")).toString(), headers: Object.fromEntries(of("header")), body }
          })
        }

        let checked = 0
        const statuses = new Map<string, Set<number>>()
        for (const [template, operations] of Object.entries(document.paths as Record<string, Record<string, Operation>>)) {
          for (const [method, op] of Object.entries(operations)) {
            const name = `${method.toUpperCase()} ${template}`
            const samples = fc.sample(requestOf(template, op), { numRuns: runsPerOperation, seed: 17 })
            for (const request of samples) {
              const url = `${base}${request.path}${request.query === "" ? "" : `?${request.query}`}`
              const headers: Record<string, string> = { ...bearer(adminToken), ...request.headers }
              if (request.body !== undefined) headers["content-type"] = "application/json"
              const response = yield* Effect.promise(() =>
                fetch(url, { method: method.toUpperCase(), headers, ...(request.body === undefined ? {} : { body: JSON.stringify(request.body) }) })
              )
              // A live feed never ends: its first bytes are enough to check.
              const text = (response.headers.get("content-type") ?? "").startsWith("text/event-stream")
                ? yield* Effect.promise(async () => {
                  const reader = response.body!.getReader()
                  const first = await reader.read()
                  await reader.cancel()
                  return new TextDecoder().decode(first.value)
                })
                : yield* Effect.promise(() => response.text())
              const context = `${name}: ${method.toUpperCase()} ${url} ${JSON.stringify(request.headers)} ${JSON.stringify(request.body)} → ${response.status} ${text}`
              statuses.set(name, (statuses.get(name) ?? new Set()).add(response.status))

              expect(refusals.has(response.status), `a request the document allows was refused: ${context}`).toBe(false)
              const declared = op.responses[String(response.status)]
              expect(declared, `an undeclared status: ${context}`).toBeDefined()
              if (declared === undefined) continue

              const contentType = (response.headers.get("content-type") ?? "").split(";")[0]!.trim()
              if (declared.content === undefined) {
                expect(text, `a body where none is declared: ${context}`).toBe("")
              } else {
                expect(Object.keys(declared.content), `an undeclared media type ${contentType}: ${context}`).toContain(contentType)
                const validate = ajv.getSchema(`api${pointer("paths", template, method, "responses", String(response.status), "content", contentType, "schema")}`)!
                const body = contentType.endsWith("json") ? JSON.parse(text) : text
                expect(validate(body), `the body does not match its schema (${ajv.errorsText(validate.errors)}): ${context}`).toBe(true)
              }
              for (const [header, declaration] of Object.entries(declared.headers ?? {})) {
                const value = response.headers.get(header)
                if (value === null) {
                  expect(declaration.required !== true, `the required header ${header} is missing: ${context}`).toBe(true)
                  continue
                }
                const schema = resolve(resolve(declaration).schema)
                const validate = ajv.compile(schema)
                const typed = schema.type === "integer" ? Number(value) : value
                expect(validate(typed), `header ${header}: ${value} does not match ${JSON.stringify(schema)}: ${context}`).toBe(true)
              }
              checked++
            }
          }
        }
        expect(checked).toBeGreaterThan(100)
        // The generated requests reached past the edge: commands were applied, and reads answered.
        expect(statuses.get("POST /orders")).toContain(201)
        expect(statuses.get("GET /orders/{orderId}")).toContain(200)
        expect([...statuses.get("POST /orders/{orderId}/items")!]).toEqual(expect.arrayContaining([200, 404]))
      }), { timeout: 120_000 })
  })

  describe("the document", () => {
    it.effect("is the package's version, and declares the headers the server sets", () =>
      Effect.gen(function*() {
        const document = (yield* get("/openapi.json")).json
        const { version } = JSON.parse(yield* Effect.promise(() => import("node:fs/promises").then((fs) => fs.readFile("package.json", "utf8"))))
        expect(document.info.version).toBe(version)
        expect(Object.keys(document.components.headers)).toEqual(
          expect.arrayContaining(["ETag", "Location", "Retry-After", "X-Correlation-Id", "X-Read-Model-Stale"])
        )
        const place = document.paths["/orders"].post.responses
        expect(Object.keys(place["201"].headers)).toEqual(expect.arrayContaining(["ETag", "Location", "X-Correlation-Id"]))
        expect(place["429"].headers["Retry-After"].required).toBe(true)
        expect(Object.keys(place["409"].content)).toEqual(["application/problem+json"])
        // Nothing to decode, nothing to refuse: no 400 on the public endpoints.
        expect(Object.keys(document.paths["/health"].get.responses).sort()).toEqual(["200", "429"])
      }))
  })
})
