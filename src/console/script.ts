/**
 * The console's own script, served as /console/assets/console.js (the CSP allows no inline code):
 * a version slider says which version it is at while it moves — in its <output>, which assistive
 * technology announces, and in its aria-valuetext — before htmx swaps the state in; and the live
 * view follows the event feed with an EventSource (which resumes by itself with Last-Event-ID).
 */
export const script = `"use strict";
document.addEventListener("input", function (event) {
  var slider = event.target;
  if (!(slider instanceof HTMLInputElement) || slider.type !== "range" || !slider.dataset.output) return;
  var text = "version " + slider.value + " of " + slider.dataset.of;
  slider.setAttribute("aria-valuetext", text);
  var output = document.getElementById(slider.dataset.output);
  if (output) output.textContent = text;
});
(function () {
  var list = document.getElementById("live-events");
  if (!list || !window.EventSource) return;
  var state = document.getElementById("live-state");
  var feed = new EventSource(list.dataset.feed);
  feed.onopen = function () { if (state) state.textContent = "Following: events appear here as they commit, newest first."; };
  feed.onerror = function () { if (state) state.textContent = "The feed was interrupted; reconnecting…"; };
  feed.onmessage = function (message) {
    var event = JSON.parse(message.data);
    var item = document.createElement("li");
    var when = document.createElement("time");
    when.dateTime = event.recordedAt;
    when.textContent = event.recordedAt.slice(11, 23);
    var type = document.createElement("strong");
    type.textContent = event.type;
    var where = document.createElement(event.streamType === "order" ? "a" : "code");
    where.textContent = event.streamId + " v" + event.version;
    if (event.streamType === "order") where.href = list.dataset.orderPath + encodeURIComponent(event.streamId);
    var position = document.createElement("span");
    position.className = "hint";
    position.textContent = "#" + event.globalPosition;
    item.append(when, " ", type, " ", where, " ", position);
    list.prepend(item);
    while (list.children.length > 200) list.lastElementChild.remove();
  };
})();
`
