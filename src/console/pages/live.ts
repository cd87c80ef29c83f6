/**
 * The live view: events as they commit, newest first, from the same feed as GET /events/stream
 * (the console's own route reads it with the session, since an EventSource sends no bearer token).
 * The list is a polite live region; without JavaScript the page says where the feed is.
 */
import { html } from "../html.js"
import { page, type Viewer } from "../layout.js"
import { paths } from "../paths.js"

export interface LiveFilter {
  readonly type: string
  readonly streamType: string
}

export const liveStreamUrl = (filter: LiveFilter) => {
  const query = new URLSearchParams(Object.entries(filter).filter(([, value]) => value !== "")).toString()
  return query === "" ? paths.liveStream : `${paths.liveStream}?${query}`
}

export const livePage = (viewer: Viewer, filter: LiveFilter) =>
  page({
    title: "Live events",
    viewer,
    section: "live",
    body: html`<h1>Live events</h1>
<section class="panel" aria-labelledby="live-filter">
  <h2 id="live-filter">What to follow</h2>
  <form method="get" action="${paths.live}" class="inline-form">
    <div class="field">
      <label for="type">Event types <span class="hint">(comma-separated, e.g. OrderPlaced,OrderPaid)</span></label>
      <input id="type" name="type" class="mono" value="${filter.type}" autocomplete="off" spellcheck="false">
    </div>
    <div class="field">
      <label for="streamType">Stream types <span class="hint">(e.g. order, inventory, payment)</span></label>
      <input id="streamType" name="streamType" class="mono" value="${filter.streamType}" autocomplete="off" spellcheck="false">
    </div>
    <button type="submit">Follow</button>
  </form>
</section>
<p id="live-state" class="hint">Events appear here as they commit, newest first (the last 200 are kept).
  <noscript>This view needs JavaScript; the same feed is GET /events/stream.</noscript></p>
<ol id="live-events" class="live-events" aria-live="polite" aria-label="Events as they commit" data-feed="${liveStreamUrl(filter)}"
  data-order-path="${paths.order("")}"></ol>`
  })
