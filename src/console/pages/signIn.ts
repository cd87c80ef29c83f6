/**
 * The sign-in page: with the identity provider (when the console is its client), by pasting a bearer
 * token, and in development mode by minting one for a role. Also the page the provider's redirect
 * back ends on once signed in.
 */
import { csrfInput, type Notice, page } from "../layout.js"
import { html } from "../html.js"
import { paths } from "../paths.js"

export interface SignInPage {
  readonly csrfToken: string
  /** Why the visitor is here (expired, signed out, a refused token). */
  readonly notice?: Notice | undefined
  /** The auth mode is `dev`: offer to mint a token with the development key. */
  readonly devMode: boolean
  /** A customer id to suggest for a minted customer token. */
  readonly suggestedCustomer: string
  /** The provider's name (its issuer's host) when the console signs in with it; else not offered. */
  readonly provider?: string | undefined
  /** The console page to go to once signed in. */
  readonly next?: string | undefined
}

const nextInput = (next: string | undefined) => next === undefined ? "" : html`<input type="hidden" name="next" value="${next}">`

/**
 * Sign-in with the provider starts with a form POST carrying the sign-in token (double submit),
 * not with a link: another site cannot start a flow in this browser (and overwrite one under way),
 * and that token keys the MAC of the flow's cookie, which the start must therefore see.
 */
const withProvider = (data: SignInPage, provider: string) =>
  html`<section class="panel" aria-labelledby="provider-heading">
  <h2 id="provider-heading">Your identity provider</h2>
  <form method="post" action="${paths.providerStart}" class="stack">
    ${csrfInput(data.csrfToken)}
    ${nextInput(data.next)}
    <button type="submit">Sign in with ${provider}</button>
  </form>
  <p class="hint">You sign in at ${provider} and come back here, signed in with the token it gives the console.</p>
</section>`

const devMint = (data: SignInPage) =>
  html`<section class="panel" aria-labelledby="mint-heading">
  <h2 id="mint-heading">Development: mint a token</h2>
  <p class="hint">This server signs development tokens with its own key (<code>AUTH_MODE=dev</code>). Never offered with an identity provider.</p>
  <form method="post" action="${paths.devToken}" class="stack">
    ${csrfInput(data.csrfToken)}
    <fieldset>
      <legend>Role</legend>
      <label><input type="radio" name="role" value="customer" checked> customer</label>
      <label><input type="radio" name="role" value="staff"> staff</label>
      <label><input type="radio" name="role" value="admin"> admin</label>
    </fieldset>
    <div class="field">
      <label for="subject">Customer id (for a customer token)</label>
      <input id="subject" name="subject" class="mono" value="${data.suggestedCustomer}" autocomplete="off" spellcheck="false"
        aria-describedby="subject-hint">
      <p id="subject-hint" class="hint">A customer's token names them (a UUID): they see only their own orders. Staff and admin tokens get a subject of their own.</p>
    </div>
    <button type="submit">Mint a token and sign in</button>
  </form>
</section>`

export const signInPage = (data: SignInPage) =>
  page({
    title: "Sign in",
    section: "sign-in",
    notice: data.notice,
    body: html`<h1>Sign in</h1>
<div class="columns narrow">
${data.provider !== undefined && withProvider(data, data.provider)}
<section class="panel" aria-labelledby="token-heading">
  <h2 id="token-heading">Paste a token</h2>
  <form method="post" action="${paths.signIn}" class="stack">
    ${csrfInput(data.csrfToken)}
    ${nextInput(data.next)}
    <div class="field">
      <label for="token">Bearer token</label>
      <textarea id="token" name="token" rows="5" class="mono" required autocomplete="off" spellcheck="false"
        aria-describedby="token-hint"></textarea>
      <p id="token-hint" class="hint">A token the API accepts (the same issuer, audience and keys). It is kept in a cookie only this console reads, until it expires.</p>
    </div>
    <button type="submit">Sign in</button>
  </form>
</section>
${data.devMode && devMint(data)}
</div>`
  })

/**
 * Signed in with the provider: the page the callback answers, which moves on to `next` at once (a
 * meta refresh; the Content-Security-Policy allows no inline script) and links there too. Not a
 * redirect: the session cookie is SameSite=Strict, and a browser does not send it on a redirect chain
 * that began at the provider's site; a navigation this page starts is same-site, so it does.
 */
export const signedInPage = (data: { readonly subject: string; readonly next: string }) =>
  page({
    title: "Signed in",
    section: "sign-in",
    refreshTo: data.next,
    notice: { tone: "success", text: html`Signed in as <code class="id">${data.subject}</code>.` },
    body: html`<h1>Signed in</h1>
<section class="panel">
  <p><a href="${data.next}">Continue to the console</a>.</p>
</section>`
  })
