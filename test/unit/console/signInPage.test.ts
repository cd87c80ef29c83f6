/** The sign-in page: the provider offered only when configured, and the page that moves on once signed in. */
import { describe, expect, it } from "vitest"
import { signedInPage, signInPage } from "../../../src/console/pages/signIn.js"

const base = { csrfToken: "t".repeat(32), devMode: false, suggestedCustomer: "c" }

describe("the sign-in page", () => {
  it("offers the provider, as a form POST with the sign-in token and where to go next", () => {
    const page = signInPage({ ...base, provider: "id.example.com", next: "/console/orders/1" }).value
    expect(page).toMatch(/<form method="post" action="\/console\/sign-in\/provider"[^]*name="csrf" value="t{32}"[^]*name="next" value="\/console\/orders\/1"[^]*Sign in with id\.example\.com<\/button>/)
  })

  it("does not offer it when the console is no client of the provider", () => {
    expect(signInPage(base).value).not.toContain("Sign in with")
  })

  it("once signed in: moves on with a meta refresh (no script), and links there too", () => {
    const page = signedInPage({ subject: "staff-1", next: "/console/orders/1?version=2&page=1" }).value
    expect(page).toContain(`<meta http-equiv="refresh" content="0; url=/console/orders/1?version=2&amp;page=1">`)
    expect(page).toContain(`<a href="/console/orders/1?version=2&amp;page=1">Continue to the console</a>`)
    expect(page).not.toContain("<script>")
  })
})
