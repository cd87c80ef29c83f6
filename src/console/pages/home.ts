/** The home page (find an order by its id, or a customer's orders) and a customer's order list. */
import type { OrderSummary } from "../../projections/orderSummary.js"
import { id, money, timeTag } from "../format.js"
import { html } from "../html.js"
import { type Notice, page, type Viewer } from "../layout.js"
import { paths } from "../paths.js"

const findForms = (values: { readonly orderId?: string; readonly customerId?: string }, byCustomer: boolean) =>
  html`<div class="columns narrow">
<section class="panel" aria-labelledby="find-order">
  <h2 id="find-order">Find an order</h2>
  <form method="get" action="${paths.find}" class="inline-form">
    <div class="field">
      <label for="orderId">Order id</label>
      <input id="orderId" name="orderId" class="mono" required value="${values.orderId ?? ""}" autocomplete="off" spellcheck="false"
        placeholder="e.g. 3f6c2a1e-…">
    </div>
    <button type="submit">Open order</button>
  </form>
</section>
${byCustomer && html`<section class="panel" aria-labelledby="find-customer">
  <h2 id="find-customer">A customer's orders</h2>
  <form method="get" action="${paths.find}" class="inline-form">
    <div class="field">
      <label for="customerId">Customer id</label>
      <input id="customerId" name="customerId" class="mono" required value="${values.customerId ?? ""}" autocomplete="off" spellcheck="false">
    </div>
    <button type="submit">List orders</button>
  </form>
</section>`}
</div>`

export const summariesTable = (caption: string, orders: ReadonlyArray<OrderSummary>) =>
  orders.length === 0
    ? html`<p class="empty">${caption}: none in the read model yet. Orders appear here once the projector has them (usually within a second).</p>`
    : html`<table>
  <caption>${caption}</caption>
  <thead><tr>
    <th scope="col">Order</th><th scope="col">Status</th><th scope="col" class="num">Total</th>
    <th scope="col" class="num">Items</th><th scope="col" class="num">Version</th><th scope="col">Placed</th><th scope="col">Updated</th>
  </tr></thead>
  <tbody>${orders.map((order) => html`
    <tr>
      <th scope="row"><a href="${paths.order(order.orderId)}">${id(order.orderId)}</a></th>
      <td><span class="badge status-${order.status}">${order.status}</span></td>
      <td class="num">${money(order.totalCents, order.currency)}</td>
      <td class="num">${order.itemCount}</td>
      <td class="num">${order.lastVersion}</td>
      <td>${timeTag(order.placedAt)}</td>
      <td>${timeTag(order.updatedAt)}</td>
    </tr>`)}
  </tbody>
</table>`

export const homePage = (viewer: Viewer, options: {
  readonly notice?: Notice | undefined
  readonly values?: { readonly orderId?: string; readonly customerId?: string }
  /** A customer's own orders, shown at once. */
  readonly ownOrders?: ReadonlyArray<OrderSummary> | undefined
}) =>
  page({
    title: "Orders",
    viewer,
    section: "orders",
    notice: options.notice,
    body: html`<h1>Orders</h1>
${findForms(options.values ?? {}, options.ownOrders === undefined)}
${options.ownOrders !== undefined && html`<section aria-labelledby="own-orders"><h2 id="own-orders">Your orders</h2>
${summariesTable("Your orders, newest first", options.ownOrders)}</section>`}`
  })

export const customerPage = (viewer: Viewer, customerId: string, orders: ReadonlyArray<OrderSummary>, nextHref: string | undefined) =>
  page({
    title: `Customer ${customerId}`,
    viewer,
    section: "orders",
    body: html`<h1>Customer <code class="id">${customerId}</code></h1>
${summariesTable("Orders of this customer, newest first", orders)}
${nextHref !== undefined && html`<nav aria-label="More orders" class="pager"><a href="${nextHref}">Older orders</a></nav>`}`
  })
