/**
 * README's table of who may call what is the access policy rendered: a change to one without the
 * other fails here, and the failure shows the table to paste.
 */
import * as HttpApi from "@effect/platform/HttpApi"
import { Context, Option } from "effect"
import { readFileSync } from "node:fs"
import { expect, it } from "vitest"
import { type Reach, roles, whoMay } from "../../../src/auth/policy.js"
import { Api } from "../../../src/http/Api.js"
import { RequiredAction } from "../../../src/http/security.js"

const cell: Record<Reach, string> = { own: "their own", any: "any" }

const renderMatrix = () => {
  const rows: Array<string> = []
  HttpApi.reflect(Api, {
    onGroup: () => {},
    onEndpoint: ({ endpoint, mergedAnnotations }) => {
      Option.map(Context.getOption(mergedAnnotations, RequiredAction), (action) => {
        const grants = new Map(whoMay(action).map(({ reach, role }) => [role, reach]))
        const path = endpoint.path.replace(/:(\w+)/g, "{$1}")
        rows.push(`| \`${endpoint.method} ${path}\` | ${action} | ${roles.map((role) => grants.has(role) ? cell[grants.get(role)!] : "—").join(" | ")} |`)
      })
    }
  })
  return [`| endpoint | action | ${roles.join(" | ")} |`, `|---|---|${roles.map(() => "---").join("|")}|`, ...rows].join("\n")
}

it("README's access matrix is the policy's", () => {
  const readme = readFileSync(new URL("../../../README.md", import.meta.url), "utf8")
  const found = /<!-- access-matrix: generated from src\/auth\/policy\.ts -->\n([\s\S]*?)\n<!-- \/access-matrix -->/.exec(readme)?.[1]
  expect(found, `README.md should hold, between its access-matrix markers:\n${renderMatrix()}`).toBe(renderMatrix())
})
