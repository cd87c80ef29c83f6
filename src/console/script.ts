/**
 * The console's own script, served as /console/assets/console.js (the CSP allows no inline code):
 * a version slider says which version it is at while it moves — in its <output>, which assistive
 * technology announces, and in its aria-valuetext — before htmx swaps the state in.
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
`
