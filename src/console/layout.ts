/**
 * The frame of every console page: a skip link, a header that says who is signed in and with which
 * role (and signs out), the navigation, the main region, and one polite live region where the
 * outcome of an action is announced. Pure: data in, markup out.
 */
import type { Principal } from "../auth/policy.js"
import { grantOf } from "../auth/policy.js"
import { csrfField } from "./csrf.js"
import { type Html, html, type Interpolation } from "./html.js"
import { paths } from "./paths.js"

/** Who is signed in, as the header shows them, and the token their forms carry. */
export interface Viewer {
  readonly principal: Principal
  readonly csrfToken: string
}

/** A notice for the live region: what an action did, or what went wrong. */
export interface Notice {
  readonly tone: "success" | "error" | "info"
  readonly text: Interpolation
}

export type Section = "orders" | "live" | "pipeline" | "dead-letters" | "quarantine" | "sign-in" | "none"

interface NavItem {
  readonly section: Section
  readonly href: string
  readonly label: string
}

/** The live event view, for whoever may read the whole log's feed. */
const liveEvents = (principal: Principal): ReadonlyArray<NavItem> =>
  grantOf(principal, "readEventFeed") === undefined ? [] : [{ section: "live", href: paths.live, label: "Live events" }]

const navigation = (principal: Principal): ReadonlyArray<NavItem> => [
  { section: "orders", href: paths.home, label: "Orders" },
  ...liveEvents(principal),
  ...(grantOf(principal, "operate") === undefined ? [] : [
    { section: "pipeline", href: paths.pipeline, label: "Pipeline" },
    { section: "dead-letters", href: paths.deadLetters, label: "Dead letters" },
    { section: "quarantine", href: paths.quarantine, label: "Quarantine" }
  ] satisfies ReadonlyArray<NavItem>)
]

/** The hidden field that carries a form's CSRF token. */
export const csrfInput = (token: string): Html => html`<input type="hidden" name="${csrfField}" value="${token}">`

const header = (viewer: Viewer | undefined, section: Section) =>
  html`<header class="site-header">
  <div class="brand"><a href="${paths.home}">Orders console</a></div>
  ${viewer === undefined ? "" : html`<nav aria-label="Main">
    <ul>${navigation(viewer.principal).map((item) => html`
      <li><a href="${item.href}"${item.section === section ? html` aria-current="page"` : ""}>${item.label}</a></li>`)}
    </ul>
  </nav>
  <div class="who">
    <span>Signed in as <code class="id">${viewer.principal.subject}</code>
      <span class="role">${viewer.principal.roles.join(", ") || "no role"}</span></span>
    <form method="post" action="${paths.signOut}">
      ${csrfInput(viewer.csrfToken)}
      <button type="submit" class="link-button">Sign out</button>
    </form>
  </div>`}
</header>`

const noticeView = (notice: Notice | undefined) =>
  notice === undefined ? "" : html`<p class="notice notice-${notice.tone}">${notice.text}</p>`

export const page = (options: {
  readonly title: string
  readonly viewer?: Viewer | undefined
  readonly section?: Section
  readonly notice?: Notice | undefined
  /** A console path the page moves on to at once (a meta refresh: no script needed). */
  readonly refreshTo?: string | undefined
  readonly body: Html
}): Html =>
  html`<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>${options.title} · Orders console</title>
  ${options.refreshTo !== undefined && html`<meta http-equiv="refresh" content="0; url=${options.refreshTo}">`}
  <link rel="stylesheet" href="${paths.css}">
  <script src="${paths.htmx}" defer></script>
  <script src="${paths.script}" defer></script>
</head>
<body>
  <a class="skip-link" href="#main">Skip to content</a>
  ${header(options.viewer, options.section ?? "none")}
  <main id="main" tabindex="-1">
    <div id="status" role="status" aria-live="polite">${noticeView(options.notice)}</div>
    ${options.body}
  </main>
</body>
</html>`
