/**
 * What the generated OpenAPI document cannot say by itself: the package's version, and the response
 * headers the server sets. Each header is declared by the rule the server follows to set it, stated
 * once here: a command's answer carries ETag and X-Correlation-Id, a conditional GET's ETag, 429 and
 * 503 Retry-After, a refused token WWW-Authenticate. An operation with no parameters and no body
 * cannot fail to decode, so its 400 is dropped.
 */
import { createRequire } from "node:module"

/** The package's version (src/http and dist/http are both two levels below it). */
export const packageVersion: string = (createRequire(import.meta.url)("../../package.json") as { version: string }).version

const headers = {
  ETag: {
    description: "The aggregate's version as an entity tag: send it back in If-Match (commands) or If-None-Match (reads)",
    schema: { type: "string", pattern: "^\"(0|[1-9][0-9]*)\"$" }
  },
  Location: { description: "Where the created order is read", schema: { type: "string", pattern: "^/orders/[0-9a-f-]{36}$" } },
  "Retry-After": { description: "Seconds to wait before trying again", schema: { type: "integer", minimum: 0 } },
  "X-Correlation-Id": {
    description: "The correlation id recorded with the command's events: the request's, or a new one",
    schema: { type: "string", minLength: 1 }
  },
  "X-Read-Model-Stale": {
    description: "`true`: the read model had not reached minVersion when the wait ended; the answer is older",
    schema: { type: "string", enum: ["true"] }
  },
  "WWW-Authenticate": { description: "The bearer challenge (RFC 6750), with the error when a token was refused", schema: { type: "string" } },
  Link: { description: "The next page (RFC 8288, `rel=\"next\"`), while more follow", schema: { type: "string" } }
} as const

type HeaderName = keyof typeof headers

interface Operation {
  readonly parameters?: ReadonlyArray<{ readonly name: string; readonly in: string }>
  readonly requestBody?: unknown
  responses: Record<string, { headers?: Record<string, unknown> }>
}

const hasParameter = (op: Operation, name: string) => (op.parameters ?? []).some((parameter) => parameter.name === name)

/** Which headers a response carries (required: always; else: sometimes). */
const rules: ReadonlyArray<{
  readonly header: HeaderName
  readonly required: boolean
  readonly applies: (op: Operation, status: number) => boolean
}> = [
  // sendCommand (commands.ts): every command has Idempotency-Key among its headers.
  { header: "ETag", required: true, applies: (op, status) => hasParameter(op, "idempotency-key") && status < 300 },
  { header: "X-Correlation-Id", required: true, applies: (op, status) => hasParameter(op, "idempotency-key") && status < 300 },
  { header: "Location", required: true, applies: (_op, status) => status === 201 },
  // answerWithEtag (commands.ts): every conditional GET, of the current state only (not ?atVersion, ?at).
  { header: "ETag", required: true, applies: (op, status) => hasParameter(op, "if-none-match") && status === 304 },
  {
    header: "ETag",
    required: true,
    applies: (op, status) => hasParameter(op, "if-none-match") && !hasParameter(op, "atVersion") && status === 200
  },
  {
    header: "ETag",
    required: false,
    applies: (op, status) => hasParameter(op, "if-none-match") && hasParameter(op, "atVersion") && status === 200
  },
  { header: "X-Read-Model-Stale", required: false, applies: (op, status) => hasParameter(op, "minVersion") && (status === 200 || status === 404) },
  { header: "Link", required: false, applies: (op, status) => hasParameter(op, "afterVersion") && status === 200 },
  { header: "Retry-After", required: true, applies: (_op, status) => status === 429 },
  // Not after outcome_unknown: a blind retry could apply the command twice.
  { header: "Retry-After", required: false, applies: (_op, status) => status === 503 },
  { header: "WWW-Authenticate", required: true, applies: (_op, status) => status === 401 },
  // Only when the token's roles fall short, not when a handler refuses.
  { header: "WWW-Authenticate", required: false, applies: (_op, status) => status === 403 }
]

const declareOperation = (op: Operation) => {
  if ((op.parameters ?? []).length === 0 && op.requestBody === undefined) delete op.responses["400"]
  for (const [status, response] of Object.entries(op.responses)) {
    for (const rule of rules.filter((rule) => rule.applies(op, Number(status)))) {
      response.headers = { ...response.headers, [rule.header]: { $ref: `#/components/headers/${rule.header}`, required: rule.required } }
    }
  }
  return op
}

/** The API's `OpenApi.Transform`. */
export const completeDocument = (spec: Record<string, any>): Record<string, any> => {
  for (const operations of Object.values(spec.paths as Record<string, Record<string, Operation>>)) {
    for (const op of Object.values(operations)) declareOperation(op)
  }
  return { ...spec, info: { ...spec.info, version: packageVersion }, components: { ...spec.components, headers } }
}
