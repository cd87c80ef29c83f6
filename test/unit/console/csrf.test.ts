/** CSRF: the token of the session, checked with where the request says it came from. */
import { describe, expect, it } from "vitest"
import { checkCsrf, csrfTokenOf } from "../../../src/console/csrf.js"

const token = csrfTokenOf("header.payload.signature")

describe("checkCsrf", () => {
  it("is the same token for the same session on any node, and another for another session", () => {
    expect(csrfTokenOf("header.payload.signature")).toBe(token)
    expect(csrfTokenOf("another.session.token")).not.toBe(token)
  })

  it("accepts the session's token from the console's own origin", () => {
    expect(checkCsrf({ "sec-fetch-site": "same-origin" }, token, token)).toEqual({ ok: true })
    expect(checkCsrf({ origin: "http://console.test:3000", host: "console.test:3000" }, token, token)).toEqual({ ok: true })
    // A client that says nothing of where it came from is judged by the token alone.
    expect(checkCsrf({}, token, token)).toEqual({ ok: true })
  })

  it("refuses a missing or wrong token, and another site, saying why", () => {
    expect(checkCsrf({ "sec-fetch-site": "same-origin" }, token, undefined)).toEqual({ ok: false, reason: "the form carried no CSRF token" })
    expect(checkCsrf({ "sec-fetch-site": "same-origin" }, token, "forged")).toMatchObject({ ok: false, reason: expect.stringMatching(/does not match/) })
    expect(checkCsrf({ "sec-fetch-site": "cross-site" }, token, token)).toMatchObject({ ok: false, reason: expect.stringMatching(/another site/) })
    expect(checkCsrf({ origin: "https://evil.example", host: "console.test:3000" }, token, token)).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/evil\.example/)
    })
  })
})
