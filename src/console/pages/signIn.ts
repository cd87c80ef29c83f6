/** The sign-in page: paste a bearer token; in development mode, also mint one for a role. */
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
}

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
<section class="panel" aria-labelledby="token-heading">
  <h2 id="token-heading">Paste a token</h2>
  <form method="post" action="${paths.signIn}" class="stack">
    ${csrfInput(data.csrfToken)}
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
