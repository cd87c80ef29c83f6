/**
 * The order page: its current state and lines; the state at any version (a slider, with version
 * links in the timeline); its timeline, each event with its data, when, who, its ids and what it
 * changed; its notifications; and its fulfilment saga. Pure: the data read for it in, markup out.
 */
import type { OrderState } from "../../domain/order/index.js"
import type { EventMetadata } from "../../eventstore/EventStore.js"
import type { Change } from "../diff.js"
import { id, inlineJson, json, money, plural, timeTag, traceIdOf, traceUrl } from "../format.js"
import { type Html, html } from "../html.js"
import { page, type Viewer } from "../layout.js"
import { paths } from "../paths.js"
import type { FulfilmentView } from "../../processes/fulfilment/view.js"
import type { NotificationRow } from "../readers.js"

/** A part of the page read on its own: what it holds, or why it could not be read. */
export type Part<A> = { readonly ok: true; readonly value: A } | { readonly ok: false; readonly error: string }

export interface TimelineRow {
  readonly version: number
  readonly type: string
  readonly schemaVersion: number
  readonly data: unknown
  readonly metadata: EventMetadata
  readonly recordedAt: Date
  readonly eventId: string
  readonly globalPosition: number
  readonly changes: ReadonlyArray<Change>
}

export interface TimelinePage {
  readonly rows: ReadonlyArray<TimelineRow>
  /** 1-based. */
  readonly page: number
  readonly pages: number
  readonly total: number
}

export interface SelectedVersion {
  readonly version: number
  readonly of: number
  readonly state: OrderState
  readonly type: string
  readonly recordedAt: Date
}

export interface OrderPage {
  readonly orderId: string
  readonly state: OrderState
  readonly version: number
  /** Undefined: the viewer may not read the order's history. */
  readonly timeline: Part<TimelinePage> | undefined
  readonly selected: SelectedVersion | undefined
  readonly notifications: Part<ReadonlyArray<NotificationRow>> | undefined
  /** Undefined: the viewer may not read it; a value of undefined: the order was never confirmed. */
  readonly fulfilment: Part<FulfilmentView | undefined> | undefined
  readonly traceUrlTemplate: string | undefined
  /** The viewer may list the customer's orders. */
  readonly linkCustomer: boolean
}

const unreadable = (what: string, error: string) => html`<p class="notice notice-error">The ${what} could not be read: ${error}</p>`

const badge = (status: string) => html`<span class="badge status-${status}">${status}</span>`

const orderFacts = (data: OrderPage) => {
  const { state } = data
  return html`<dl class="facts">
  <div><dt>Status</dt><dd>${badge(state.status)}</dd></div>
  <div><dt>Customer</dt><dd>${data.linkCustomer && state.customerId !== null
    ? html`<a href="${paths.customer(state.customerId)}">${id(state.customerId)}</a>`
    : id(state.customerId)}</dd></div>
  <div><dt>Total</dt><dd>${money(state.totalCents, state.currency)}</dd></div>
  <div><dt>Version</dt><dd>${data.version}</dd></div>
  ${state.lastDecline !== null && html`<div><dt>Last decline</dt><dd>attempt ${state.lastDecline.attempt}: ${state.lastDecline.reason}</dd></div>`}
  ${state.payment !== null && html`<div><dt>Paid</dt><dd>${money(state.payment.amountCents, state.currency)} by ${state.payment.method}</dd></div>`}
  ${state.refundedCents !== null && html`<div><dt>Refunded</dt><dd>${money(state.refundedCents, state.currency)}</dd></div>`}
  ${state.shipment !== null && html`<div><dt>Shipment</dt><dd>${state.shipment.carrier} <code class="id">${state.shipment.trackingNumber}</code></dd></div>`}
  ${state.cancelReason !== null && html`<div><dt>Cancelled because</dt><dd>${state.cancelReason}</dd></div>`}
</dl>`
}

const linesTable = (state: OrderState) =>
  state.lines.length === 0 ? html`<p class="empty">No lines.</p>` : html`<table>
  <caption>Lines</caption>
  <thead><tr><th scope="col">SKU</th><th scope="col" class="num">Quantity</th><th scope="col" class="num">Unit price</th><th scope="col" class="num">Amount</th></tr></thead>
  <tbody>${state.lines.map((line) => html`
    <tr><th scope="row"><code class="id">${line.sku}</code></th><td class="num">${line.quantity}</td>
      <td class="num">${money(line.unitPriceCents, state.currency)}</td><td class="num">${money(line.quantity * line.unitPriceCents, state.currency)}</td></tr>`)}
  </tbody>
</table>`

/** The state after a version: what the slider swaps in. */
export const stateView = (orderId: string, selected: SelectedVersion) =>
  html`<div id="state-view" class="state-view">
  <p class="state-caption">After version <strong>${selected.version}</strong> of ${selected.of}:
    <code>${selected.type}</code>, ${timeTag(selected.recordedAt)}</p>
  <pre class="json" aria-label="State of order ${orderId} after version ${selected.version}">${json(selected.state)}</pre>
</div>`

const versionText = (version: number, of: number) => `version ${version} of ${of}`

const stateSection = (data: OrderPage, selected: SelectedVersion, timelinePage: number) =>
  html`<section id="state" aria-labelledby="state-heading">
  <h2 id="state-heading">State at a version</h2>
  <form method="get" action="${paths.order(data.orderId)}#state" class="slider-form">
    <input type="hidden" name="page" value="${timelinePage}">
    <label for="version-slider">Version</label>
    <input type="range" id="version-slider" name="version" min="1" max="${selected.of}" step="1" value="${selected.version}"
      aria-valuetext="${versionText(selected.version, selected.of)}" data-of="${selected.of}" data-output="version-output"
      hx-get="${paths.orderState(data.orderId)}" hx-trigger="input changed delay:150ms" hx-target="#state-view" hx-swap="outerHTML">
    <output id="version-output" for="version-slider">${versionText(selected.version, selected.of)}</output>
    <button type="submit">Show</button>
  </form>
  ${stateView(data.orderId, selected)}
</section>`

const changeItem = (change: Change) => {
  switch (change.kind) {
    case "added":
      return html`<li class="added"><code>${change.path}</code> <span class="sr-only">set to</span><ins>${inlineJson(change.after)}</ins></li>`
    case "removed":
      return html`<li class="removed"><code>${change.path}</code> <span class="sr-only">removed, was</span><del>${inlineJson(change.before)}</del></li>`
    case "changed":
      return html`<li class="changed"><code>${change.path}</code> <span class="sr-only">from</span><del>${inlineJson(change.before)}</del>
        <span aria-hidden="true">→</span><span class="sr-only">to</span> <ins>${inlineJson(change.after)}</ins></li>`
  }
}

const changesList = (changes: ReadonlyArray<Change>) =>
  changes.length === 0 ? html`<span class="muted">no change to the state</span>` : html`<ul class="diff">${changes.map(changeItem)}</ul>`

const who = (metadata: EventMetadata) =>
  metadata.userId === null
    ? html`<span class="muted">this system</span>${metadata.role === undefined ? "" : html` <span class="role">${metadata.role}</span>`}`
    : html`${id(metadata.userId)}${metadata.role === undefined ? "" : html` <span class="role">${metadata.role}</span>`}`

const idsOf = (row: TimelineRow, traceTemplate: string | undefined) => {
  const traceId = traceIdOf(row.metadata.traceparent)
  return html`<dl class="ids">
    <div><dt>event</dt><dd>${id(row.eventId)}</dd></div>
    <div><dt>correlation</dt><dd>${id(row.metadata.correlationId)}</dd></div>
    <div><dt>causation</dt><dd>${id(row.metadata.causationId)}</dd></div>
    ${row.metadata.commandId !== undefined && html`<div><dt>command</dt><dd>${id(row.metadata.commandId)}</dd></div>`}
    <div><dt>position</dt><dd><code class="id">${row.globalPosition}</code></dd></div>
    ${traceId !== undefined && html`<div><dt>trace</dt><dd>${traceTemplate === undefined
      ? id(traceId)
      : html`<a href="${traceUrl(traceTemplate, traceId)}" rel="noopener">${id(traceId)}<span class="sr-only"> (open the trace)</span></a>`}</dd></div>`}
  </dl>`
}

const pager = (orderId: string, timeline: TimelinePage, selectedVersion: number | undefined) =>
  timeline.pages <= 1 ? "" : html`<nav class="pager" aria-label="Timeline pages"><ul>${
    Array.from({ length: timeline.pages }, (_, index) => index + 1).map((number) =>
      html`<li><a href="${paths.order(orderId)}?page=${number}${selectedVersion === undefined ? "" : `&version=${selectedVersion}`}#timeline"${
        number === timeline.page ? html` aria-current="page"` : ""
      }>Page ${number}</a></li>`
    )
  }</ul></nav>`

const timelineSection = (data: OrderPage, timeline: TimelinePage) => {
  const first = timeline.rows[0]?.version ?? 0
  const last = timeline.rows.at(-1)?.version ?? 0
  return html`<section id="timeline" aria-labelledby="timeline-heading">
  <h2 id="timeline-heading">Timeline</h2>
  ${pager(data.orderId, timeline, data.selected?.version)}
  <table class="timeline">
    <caption>Events ${first}–${last} of ${timeline.total}, oldest first${timeline.pages > 1 ? `, page ${timeline.page} of ${timeline.pages}` : ""}</caption>
    <thead><tr>
      <th scope="col" class="num">Version</th><th scope="col">Event</th><th scope="col">When</th><th scope="col">Who</th>
      <th scope="col">What it changed</th><th scope="col">Ids</th>
    </tr></thead>
    <tbody>${timeline.rows.map((row) => html`
      <tr${row.version === data.selected?.version ? html` class="selected"` : ""}>
        <th scope="row" class="num"><a href="${paths.order(data.orderId)}?page=${timeline.page}&version=${row.version}#state"
          aria-label="State after version ${row.version}">${row.version}</a></th>
        <td><code class="event-type">${row.type}</code>${row.schemaVersion > 1 ? html` <span class="muted">(schema ${row.schemaVersion})</span>` : ""}
          <details><summary>data</summary><pre class="json">${json(row.data)}</pre></details></td>
        <td>${timeTag(row.recordedAt)}</td>
        <td>${who(row.metadata)}</td>
        <td>${changesList(row.changes)}</td>
        <td>${idsOf(row, data.traceUrlTemplate)}</td>
      </tr>`)}
    </tbody>
  </table>
  ${pager(data.orderId, timeline, data.selected?.version)}
</section>`
}

const notificationsSection = (notifications: Part<ReadonlyArray<NotificationRow>>) =>
  html`<section id="notifications" aria-labelledby="notifications-heading">
  <h2 id="notifications-heading">Notifications</h2>
  ${!notifications.ok ? unreadable("notifications", notifications.error) : notifications.value.length === 0
    ? html`<p class="empty">No notifications for this order (none of its events is one a customer hears about, or their records have expired).</p>`
    : html`<table>
    <caption>Push notifications to the customer</caption>
    <thead><tr><th scope="col" class="num">Version</th><th scope="col">Notification</th><th scope="col">Status</th>
      <th scope="col" class="num">Attempts</th><th scope="col">Sent</th><th scope="col">Last change</th><th scope="col">Last error</th></tr></thead>
    <tbody>${notifications.value.map((row) => html`
      <tr>
        <th scope="row" class="num">${row.version}</th>
        <td>${row.notification ?? "—"} <span class="muted">(${row.eventType})</span></td>
        <td>${badge(row.status)}${row.tookOver ? html` <span class="muted">(may have been pushed twice)</span>` : ""}</td>
        <td class="num">${row.attempts}</td>
        <td>${timeTag(row.sentAt)}</td>
        <td>${timeTag(row.updatedAt)}</td>
        <td>${row.lastError === null ? html`<span class="muted">—</span>` : html`<span class="error-text">${row.lastError}</span>`}</td>
      </tr>`)}
    </tbody>
  </table>`}
</section>`

const fulfilmentSection = (fulfilment: Part<FulfilmentView | undefined>) => {
  const body = (): Html => {
    if (!fulfilment.ok) return unreadable("fulfilment saga", fulfilment.error)
    const saga = fulfilment.value
    if (saga === undefined) return html`<p class="empty">No fulfilment yet: it starts when the order is confirmed.</p>`
    return html`<dl class="facts">
    <div><dt>Phase</dt><dd>${badge(saga.phase)}</dd></div>
    <div><dt>Saga</dt><dd>${saga.status}${saga.outcome === null ? "" : `: ${saga.outcome}`}</dd></div>
    <div><dt>Compensating</dt><dd>${saga.compensating ? "yes" : "no"}</dd></div>
    ${saga.cancelReason !== null && html`<div><dt>Cancel reason</dt><dd>${saga.cancelReason}</dd></div>`}
    <div><dt>Started</dt><dd>${timeTag(saga.startedAt)}</dd></div>
    <div><dt>Finished</dt><dd>${timeTag(saga.finishedAt)}</dd></div>
    <div><dt>Definition</dt><dd>version ${saga.definitionVersion}</dd></div>
  </dl>
  <table>
    <caption>Steps (${plural(saga.steps.length, "step")}), in the order they were scheduled</caption>
    <thead><tr><th scope="col">Step</th><th scope="col">Status</th><th scope="col" class="num">Failed attempts</th><th scope="col">Scheduled</th>
      <th scope="col">Finished</th><th scope="col">Compensation</th><th scope="col">Last error</th><th scope="col">Input and output</th></tr></thead>
    <tbody>${saga.steps.map((step) => html`
      <tr${step.status === "parked" ? html` class="parked"` : ""}>
        <th scope="row"><code>${step.step}</code></th>
        <td>${badge(step.status)}</td>
        <td class="num">${step.attempts}</td>
        <td>${timeTag(step.scheduledAt)}</td>
        <td>${timeTag(step.finishedAt)}</td>
        <td>${step.compensation ? "yes" : "no"}</td>
        <td>${step.lastError === null ? html`<span class="muted">—</span>` : html`<span class="error-text">${step.lastError}</span>`}</td>
        <td><details><summary>input / output</summary><pre class="json">${json({ input: step.input, output: step.output })}</pre></details></td>
      </tr>`)}
    </tbody>
  </table>
  ${saga.timers.length === 0 ? html`<p class="muted">No timers set.</p>` : html`<table>
    <caption>Timers</caption>
    <thead><tr><th scope="col">Timer</th><th scope="col">Due</th></tr></thead>
    <tbody>${saga.timers.map((timer) => html`<tr><th scope="row"><code>${timer.timer}</code></th><td>${timeTag(timer.dueAt)}</td></tr>`)}</tbody>
  </table>`}`
  }
  return html`<section id="fulfilment" aria-labelledby="fulfilment-heading">
  <h2 id="fulfilment-heading">Fulfilment</h2>
  ${body()}
</section>`
}

export const orderPage = (viewer: Viewer, data: OrderPage) =>
  page({
    title: `Order ${data.orderId}`,
    viewer,
    section: "orders",
    body: html`<h1>Order <code class="id">${data.orderId}</code></h1>
<nav class="on-this-page" aria-label="On this page"><ul>
  <li><a href="#current">Current state</a></li>
  ${data.timeline !== undefined && html`<li><a href="#timeline">Timeline</a></li>`}
  ${data.selected !== undefined && html`<li><a href="#state">State at a version</a></li>`}
  ${data.notifications !== undefined && html`<li><a href="#notifications">Notifications</a></li>`}
  ${data.fulfilment !== undefined && html`<li><a href="#fulfilment">Fulfilment</a></li>`}
</ul></nav>
<section id="current" aria-labelledby="current-heading">
  <h2 id="current-heading">Current state</h2>
  ${orderFacts(data)}
  ${linesTable(data.state)}
</section>
${data.timeline !== undefined && (data.timeline.ok ? timelineSection(data, data.timeline.value) : unreadable("timeline", data.timeline.error))}
${data.selected !== undefined && data.timeline?.ok === true && stateSection(data, data.selected, data.timeline.value.page)}
${data.notifications !== undefined && notificationsSection(data.notifications)}
${data.fulfilment !== undefined && fulfilmentSection(data.fulfilment)}`
  })
