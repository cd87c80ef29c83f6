/**
 * Console requests and the rate limits: the API's anonymous limit leaves the console alone; the
 * console counts a session against its principal, anything else against the address, its static
 * files against nothing; over the limit, a page that says when to try again.
 */
import { describe, expect, it } from "vitest"
import { countsAsAnonymous } from "../../../src/http/authenticate.js"
import { problemPage, tooManyRequests } from "../../../src/console/pages/problem.js"
import { chargeOf, isAsset } from "../../../src/console/rateLimit.js"

describe("the API's anonymous limit", () => {
  const publicPaths = new Set(["/health", "/openapi.json"])

  it("counts requests without a token, and public paths, by address", () => {
    expect(countsAsAnonymous("/orders/1", false, publicPaths)).toBe(true)
    expect(countsAsAnonymous("/orders/1", true, publicPaths)).toBe(false)
    expect(countsAsAnonymous("/health", true, publicPaths)).toBe(true)
    expect(countsAsAnonymous("/docs/index.html", true, publicPaths)).toBe(true)
  })

  it("never counts the console's requests, which the console counts itself", () => {
    for (const path of ["/console", "/console/sign-in", "/console/orders/1", "/console/assets/console.css"]) {
      expect(countsAsAnonymous(path, false, publicPaths)).toBe(false)
    }
    // Only the console's own prefix.
    expect(countsAsAnonymous("/consoles", false, publicPaths)).toBe(true)
  })
})

describe("the console's own count", () => {
  it("a session's requests against its principal; without one, against the address", () => {
    expect(chargeOf("/console/orders/1", "staff-1")).toEqual({ bucket: "principal", subject: "staff-1" })
    expect(chargeOf("/console/sign-in", undefined)).toEqual({ bucket: "address" })
    expect(chargeOf("/console/sign-in/callback", undefined)).toEqual({ bucket: "address" })
  })

  it("never the static files", () => {
    expect(isAsset("/console/assets/htmx.min.js")).toBe(true)
    expect(chargeOf("/console/assets/console.css", undefined)).toEqual({ bucket: "none" })
    expect(chargeOf("/console/assets/console.js", "staff-1")).toEqual({ bucket: "none" })
    expect(isAsset("/console/assetsx")).toBe(false)
  })

  it("over the limit: a 429 page that says when to try again", () => {
    const problem = tooManyRequests(3, "session")
    expect(problem.status).toBe(429)
    const page = problemPage(problem, undefined).value
    expect(page).toContain("Too many requests")
    expect(page).toContain("Wait 3 seconds, then reload the page")
    expect(problemPage(tooManyRequests(1, "address"), undefined).value).toMatch(/This address.*Wait a second/s)
  })
})
