/** Pages that say why a request got nothing else, and what to do about it. */
import { type Viewer, page } from "../layout.js"
import { html, type Interpolation } from "../html.js"
import { paths } from "../paths.js"

export interface Problem {
  readonly status: number
  readonly title: string
  readonly message: Interpolation
  readonly next: Interpolation
}

export const problemPage = (problem: Problem, viewer: Viewer | undefined) =>
  page({
    title: problem.title,
    viewer,
    body: html`<h1>${problem.title}</h1>
<section class="panel problem">
  <p>${problem.message}</p>
  <p>${problem.next}</p>
</section>`
  })

/** An order that does not exist, or that the viewer may not see: the same words for both. */
export const orderNotFound = (orderId: string): Problem => ({
  status: 404,
  title: "Order not found",
  message: html`There is no order <code class="id">${orderId}</code>.`,
  next: html`Check the id, or <a href="${paths.home}">find an order</a> by its customer.`
})

export const forbidden = (what: string, principalRoles: ReadonlyArray<string>): Problem => ({
  status: 403,
  title: "Not allowed",
  message: `Your role (${principalRoles.join(", ") || "none"}) may not ${what}.`,
  next: html`Sign in with a token whose role may, or go back to <a href="${paths.home}">Orders</a>.`
})

export const csrfRefused = (reason: string): Problem => ({
  status: 403,
  title: "Form refused",
  message: `This form could not be accepted: ${reason}.`,
  next: html`Nothing was changed. Go back, reload the page (that gives the form a fresh token) and send it again. If it keeps happening, sign out and in again.`
})

export const failed = (message: string): Problem => ({
  status: 503,
  title: "Something did not answer",
  message,
  next: "Nothing was changed. Try again in a moment; if it persists, check the service's health and logs."
})

export const pageNotFound = (path: string): Problem => ({
  status: 404,
  title: "Page not found",
  message: html`The console has no page at <code>${path}</code>.`,
  next: html`Go to <a href="${paths.home}">Orders</a>.`
})

/** Over the rate limit: when to try again (the answer's Retry-After says it to machines). */
export const tooManyRequests = (retryAfterSeconds: number, who: "session" | "address"): Problem => ({
  status: 429,
  title: "Too many requests",
  message: who === "session"
    ? `Your session has made more requests than the console allows in a short time.`
    : `This address has made more requests than the console allows without a session in a short time.`,
  next: `Wait ${retryAfterSeconds === 1 ? "a second" : `${retryAfterSeconds} seconds`}, then reload the page. Nothing was done.`
})
