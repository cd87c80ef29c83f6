/**
 * README's table of who may use which console page is the console's needs rendered through the
 * access policy: a change to either without the README fails here, and shows the table to paste.
 */
import { readFileSync } from "node:fs"
import { expect, it } from "vitest"
import { type Reach, roles, whoMay } from "../../../src/auth/policy.js"
import { consoleAccess } from "../../../src/console/access.js"

const cell: Record<Reach, string> = { own: "their own", any: "any" }

/** A page needing several actions is open as far as the narrowest of them reaches. */
const reachOf = (actions: ReadonlyArray<Parameters<typeof whoMay>[0]>, role: (typeof roles)[number]): Reach | undefined => {
  const reaches = actions.map((action) => whoMay(action).find((grant) => grant.role === role)?.reach)
  if (reaches.some((reach) => reach === undefined)) return undefined
  return reaches.includes("own") ? "own" : "any"
}

const renderTable = () =>
  [
    `| console page | actions | ${roles.join(" | ")} |`,
    `|---|---|${roles.map(() => "---").join("|")}|`,
    ...consoleAccess.map(({ actions, page }) => {
      const cells = roles.map((role) => {
        const reach = reachOf(actions, role)
        return reach === undefined ? "—" : cell[reach]
      })
      return `| \`${page}\` | ${actions.join(", ")} | ${cells.join(" | ")} |`
    })
  ].join("\n")

it("README's table of the console's access is the policy's", () => {
  const readme = readFileSync(new URL("../../../README.md", import.meta.url), "utf8")
  const found = /<!-- console-access: generated from src\/console\/access\.ts -->\n([\s\S]*?)\n<!-- \/console-access -->/.exec(readme)?.[1]
  expect(found, `README.md should hold, between its console-access markers:\n${renderTable()}`).toBe(renderTable())
})
