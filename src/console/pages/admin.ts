/**
 * The admin pages: the pipeline at a glance (what `status` prints, and the sagas that need a look),
 * the dead letters with requeue, and the quarantine with retry. Pure: data in, markup out.
 */
import type { Part, Status } from "../../observability/pipelineStatus.js"
import type { DeadLetter } from "../../notifications/deadLetters.js"
import { destinations } from "../../outbox/OutboxStore.js"
import type { SagaRow } from "../../processes/ProcessStore.js"
import type { Parked } from "../../quarantine/QuarantineStore.js"
import { id, plural, timeTag } from "../format.js"
import { type Html, html } from "../html.js"
import { csrfInput, type Notice, page, type Viewer } from "../layout.js"
import { paths } from "../paths.js"

const unknown = (error: string) => html`<span class="error-text">unknown: ${error}</span>`

const show = <A>(part: Part<A>, render: (value: A) => Html | string) => part.ok ? render(part.value) : unknown(part.error)

const count = (value: number, warnAbove = 0) => html`<span class="${value > warnAbove ? "count warn" : "count"}">${value}</span>`

const sagaTable = (caption: string, sagas: Part<ReadonlyArray<SagaRow>>, empty: string) =>
  !sagas.ok ? html`<p>${caption}: ${unknown(sagas.error)}</p>` : sagas.value.length === 0 ? html`<p class="empty">${empty}</p>` : html`<table>
  <caption>${caption}</caption>
  <thead><tr><th scope="col">Order</th><th scope="col">Status</th><th scope="col">Step</th><th scope="col" class="num">Failed attempts</th>
    <th scope="col">Next wake</th><th scope="col">Deadline</th><th scope="col">Last error</th><th scope="col">Updated</th></tr></thead>
  <tbody>${sagas.value.map((saga) => html`
    <tr>
      <th scope="row"><a href="${paths.order(saga.sagaId)}#fulfilment">${id(saga.sagaId)}</a></th>
      <td><span class="badge status-${saga.status}">${saga.status}</span></td>
      <td>${saga.currentStep === null ? html`<span class="muted">—</span>` : html`<code>${saga.currentStep}</code>`}</td>
      <td class="num">${saga.attempts}</td>
      <td>${timeTag(saga.nextWakeAt)}</td>
      <td>${timeTag(saga.deadlineAt)}</td>
      <td>${saga.lastError === null ? html`<span class="muted">—</span>` : html`<span class="error-text">${saga.lastError}</span>`}</td>
      <td>${timeTag(saga.updatedAt)}</td>
    </tr>`)}
  </tbody>
</table>`

export const pipelinePage = (viewer: Viewer, data: {
  readonly status: Status
  readonly stuck: Part<ReadonlyArray<SagaRow>>
  readonly running: Part<ReadonlyArray<SagaRow>>
}) => {
  const { status } = data
  return page({
    title: "Pipeline",
    viewer,
    section: "pipeline",
    body: html`<h1>Pipeline</h1>
<p class="hint">Read when this page was loaded; each part on its own, so one that does not answer says so and the rest shows. Reload for fresh numbers.</p>
<table class="status">
  <caption>The pipeline at a glance</caption>
  <tbody>
    <tr><th scope="row">Active relay</th><td>${show(status.activeRelay, (relay) =>
      relay === null ? html`<span class="error-text">none: no relay holds the lock</span>` : html`pid ${relay.pid} from ${relay.client}, since ${timeTag(relay.since)}`)}</td></tr>
    <tr><th scope="row">Outbox backlog</th><td>${show(status.outboxBacklog, (backlog) => html`<ul class="plain">${destinations.map((destination) => {
      const { oldestAgeSeconds, pending } = backlog[destination]
      return html`<li>${destination}: ${count(pending, 100)} waiting${pending === 0 ? "" : ` (oldest ${oldestAgeSeconds.toFixed(1)} s)`}</li>`
    })}</ul>`)}</td></tr>
    <tr><th scope="row">Projection lag</th><td>${show(status.projectorLag, (lags) =>
      lags.length === 0 ? "no partitions" : html`<ul class="plain">${lags.map(({ lag, partition, projection, streamType }) =>
        html`<li><code>${projection}</code> ${streamType} partition ${partition}: ${count(lag, 100)} behind</li>`)}</ul>`)}</td></tr>
    <tr><th scope="row">Dead letters</th><td>${show(status.deadLetters, (depth) => html`${count(depth)} waiting — <a href="${paths.deadLetters}">open the dead letters</a>`)}</td></tr>
    <tr><th scope="row">Quarantined rows</th><td>${show(status.quarantined, (parked) => html`${count(parked)} waiting — <a href="${paths.quarantine}">open the quarantine</a>`)}</td></tr>
    <tr><th scope="row">Stuck deliveries</th><td>${show(status.stuckDeliveries, (stuck) => count(stuck))}</td></tr>
    <tr><th scope="row">Sagas</th><td>${show(status.sagas, (all) => html`<ul class="plain">${all.map((counts) =>
      html`<li><code>${counts.process}</code>: ${counts.running} running, ${count(counts.stuck)} stuck, ${count(counts.parked)} parked;
        feed ${count(counts.feedBehind, 100)} events behind the log</li>`)}</ul>`)}</td></tr>
    <tr><th scope="row">Cluster</th><td>${show(status.cluster, (ownership) =>
      html`${plural(ownership.runners.length, "runner")}, ${ownership.shards - ownership.unowned}/${ownership.shards} shards owned${ownership.unowned === 0 ? "" : html`, ${count(ownership.unowned)} unowned`}`)}</td></tr>
  </tbody>
</table>
<section aria-labelledby="stuck-heading">
  <h2 id="stuck-heading">Sagas that need a look</h2>
  ${sagaTable("Parked, or past a step's deadline with no one running it", data.stuck, "No saga is parked or stuck.")}
</section>
<section aria-labelledby="running-heading">
  <h2 id="running-heading">Running sagas</h2>
  ${sagaTable("Running sagas, newest first (50 at most)", data.running, "No saga is running.")}
</section>`
  })
}

export const deadLettersPage = (viewer: Viewer, letters: Part<ReadonlyArray<DeadLetter>>, notice: Notice | undefined) =>
  page({
    title: "Dead letters",
    viewer,
    section: "dead-letters",
    notice,
    body: html`<h1>Dead letters</h1>
<p class="hint">Push-notification tasks a worker gave up on. Requeue sends a task back to the push queue with fresh attempts; fix the cause first (see the reason).</p>
${!letters.ok ? html`<p class="notice notice-error">The dead-letter queue could not be read: ${letters.error}</p>` : letters.value.length === 0
  ? html`<p class="empty">The dead-letter queue is empty.</p>`
  : html`<form method="post" action="${paths.requeue}" class="toolbar">
  ${csrfInput(viewer.csrfToken)}
  <input type="hidden" name="all" value="true">
  <button type="submit">Requeue all ${plural(letters.value.length, "task")}</button>
</form>
<table>
  <caption>Tasks in the dead-letter queue (100 at most)</caption>
  <thead><tr><th scope="col">Event</th><th scope="col">Routing key</th><th scope="col" class="num">Attempts</th><th scope="col">Dead-lettered</th>
    <th scope="col">Why</th><th scope="col">Action</th></tr></thead>
  <tbody>${letters.value.map((letter) => html`
    <tr>
      <th scope="row">${id(letter.eventId)}</th>
      <td><code>${letter.routingKey}</code></td>
      <td class="num">${letter.attempts}</td>
      <td>${timeTag(letter.deadLetteredAt)}</td>
      <td><span class="error-text">${letter.reason}</span></td>
      <td><form method="post" action="${paths.requeue}">
        ${csrfInput(viewer.csrfToken)}
        <input type="hidden" name="eventId" value="${letter.eventId}">
        <button type="submit" aria-label="Requeue task ${letter.eventId}">Requeue</button>
      </form></td>
    </tr>`)}
  </tbody>
</table>`}`
  })

export const quarantinePage = (viewer: Viewer, parked: Part<ReadonlyArray<Parked>>, notice: Notice | undefined) =>
  page({
    title: "Quarantine",
    viewer,
    section: "quarantine",
    notice,
    body: html`<h1>Quarantine</h1>
<p class="hint">What could never be processed, parked so that its stream moved on. Retry puts an outbox row back in line, or applies a parked message through its projection again; fix the cause first.</p>
${!parked.ok ? html`<p class="notice notice-error">The quarantine could not be read: ${parked.error}</p>` : parked.value.length === 0
  ? html`<p class="empty">Nothing is waiting in the quarantine.</p>`
  : html`<table>
  <caption>Parked entries waiting for an operator, oldest first</caption>
  <thead><tr><th scope="col" class="num">Id</th><th scope="col">Source</th><th scope="col" class="num">Event position</th><th scope="col">Parked</th>
    <th scope="col">Why</th><th scope="col">Action</th></tr></thead>
  <tbody>${parked.value.map((entry) => html`
    <tr>
      <th scope="row" class="num">${entry.id}</th>
      <td><code>${entry.source}</code></td>
      <td class="num">${entry.globalPosition ?? "—"}</td>
      <td>${timeTag(entry.quarantinedAt)}</td>
      <td><span class="error-text">${entry.reason}</span></td>
      <td><form method="post" action="${paths.retry}">
        ${csrfInput(viewer.csrfToken)}
        <input type="hidden" name="id" value="${entry.id}">
        <button type="submit" aria-label="Retry entry ${entry.id}">Retry</button>
      </form></td>
    </tr>`)}
  </tbody>
</table>`}`
  })
