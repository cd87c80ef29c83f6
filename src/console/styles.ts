/**
 * The console's style sheet, served as /console/assets/console.css: calm and dense for a screen
 * read all day — system fonts, dark text on white (contrast above 7:1 for text), monospace for ids
 * and JSON, a visible focus ring on everything that takes focus.
 */
export const styles = `
:root {
  --text: #1b1f24; --muted: #57606a; --line: #d0d7de; --bg: #ffffff; --panel: #f6f8fa;
  --accent: #0b5cad; --accent-dark: #084a8c; --focus: #b35900;
  --ok: #116329; --ok-bg: #dafbe1; --warn: #7d4e00; --warn-bg: #fff3cd; --bad: #a40e26; --bad-bg: #ffebe9;
  --mono: ui-monospace, SFMono-Regular, "SF Mono", Menlo, Consolas, "Liberation Mono", monospace;
  color-scheme: light;
}
* { box-sizing: border-box; }
html { font-size: 15px; }
body { margin: 0; font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
  color: var(--text); background: var(--bg); line-height: 1.45; }
a { color: var(--accent); }
a:hover { color: var(--accent-dark); }
:focus-visible { outline: 3px solid var(--focus); outline-offset: 2px; }
code, pre, .mono, textarea.mono, input.mono { font-family: var(--mono); font-size: 0.92em; }
code.id { background: var(--panel); border: 1px solid var(--line); border-radius: 4px; padding: 0 0.3em; overflow-wrap: anywhere; }
.skip-link { position: absolute; left: 0.5rem; top: -3rem; background: var(--accent); color: #fff; padding: 0.5rem 0.8rem; z-index: 10; border-radius: 4px; }
.skip-link:focus { top: 0.5rem; }
.sr-only { position: absolute; width: 1px; height: 1px; padding: 0; margin: -1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; border: 0; }

.site-header { display: flex; flex-wrap: wrap; align-items: center; gap: 0.5rem 1.5rem; padding: 0.6rem 1.5rem;
  background: #24292f; color: #f6f8fa; }
.site-header a { color: #f6f8fa; }
.site-header .brand a { font-weight: 650; text-decoration: none; font-size: 1.05rem; }
.site-header nav ul { display: flex; gap: 0.25rem; list-style: none; margin: 0; padding: 0; }
.site-header nav a { display: inline-block; padding: 0.3rem 0.7rem; border-radius: 4px; text-decoration: none; }
.site-header nav a:hover { background: #32383f; }
.site-header nav a[aria-current="page"] { background: #f6f8fa; color: #24292f; font-weight: 600; }
.site-header :focus-visible { outline-color: #ffb366; }
.who { margin-left: auto; display: flex; align-items: center; gap: 0.8rem; font-size: 0.92rem; }
.who code.id { background: #32383f; border-color: #57606a; color: #f6f8fa; }
.who form { margin: 0; }
.role { display: inline-block; margin-left: 0.3rem; padding: 0 0.45rem; border-radius: 999px; font-size: 0.82rem; font-weight: 600;
  background: #ddf4ff; color: #0a3069; border: 1px solid #54aeff; }
.site-header .role { background: #ddf4ff; color: #0a3069; }
.link-button { background: none; border: 1px solid #8c959f; color: #f6f8fa; padding: 0.2rem 0.6rem; border-radius: 4px; cursor: pointer; font: inherit; }
.link-button:hover { background: #32383f; }

main { padding: 1rem 1.5rem 3rem; max-width: 110rem; }
main:focus { outline: none; }
h1 { font-size: 1.45rem; margin: 0.4rem 0 1rem; }
h2 { font-size: 1.15rem; margin: 1.8rem 0 0.6rem; padding-bottom: 0.25rem; border-bottom: 1px solid var(--line); }
section > h2:first-child { margin-top: 1.2rem; }
.panel > h2:first-child, .panel h2 { margin-top: 0; border: 0; }
.columns.narrow { max-width: 72rem; }
.hint, .muted { color: var(--muted); }
.hint { font-size: 0.9rem; margin: 0.2rem 0 0.6rem; }
.empty { color: var(--muted); font-style: italic; }

.columns { display: grid; grid-template-columns: repeat(auto-fit, minmax(22rem, 1fr)); gap: 1rem; align-items: start; }
.panel { background: var(--panel); border: 1px solid var(--line); border-radius: 6px; padding: 1rem 1.2rem; }
.problem { max-width: 48rem; }
.stack > * + * { margin-top: 0.8rem; }
.field label { display: block; font-weight: 600; margin-bottom: 0.25rem; }
fieldset { border: 1px solid var(--line); border-radius: 4px; padding: 0.4rem 0.8rem 0.6rem; margin: 0; }
fieldset label { margin-right: 1rem; white-space: nowrap; }
legend { font-weight: 600; padding: 0 0.3rem; }
input, textarea, select, button { font: inherit; }
input:not([type]), input[type="text"], textarea { width: 100%; padding: 0.4rem 0.5rem; border: 1px solid #8c959f; border-radius: 4px; background: #fff; color: var(--text); }
button { background: var(--accent); color: #fff; border: 1px solid var(--accent-dark); border-radius: 4px; padding: 0.35rem 0.9rem; cursor: pointer; font-weight: 600; }
button:hover { background: var(--accent-dark); }
.inline-form { display: flex; gap: 0.6rem; align-items: end; }
.inline-form .field { flex: 1; }
.toolbar { margin: 0.5rem 0; }

.notice { padding: 0.55rem 0.8rem; border-radius: 4px; border: 1px solid; margin: 0 0 1rem; }
.notice-success { background: var(--ok-bg); color: var(--ok); border-color: #4ac26b; }
.notice-error { background: var(--bad-bg); color: var(--bad); border-color: #ff8182; }
.notice-info { background: #ddf4ff; color: #0a3069; border-color: #54aeff; }
.error-text { color: var(--bad); }

table { border-collapse: collapse; width: 100%; margin: 0.4rem 0 1rem; font-size: 0.92rem; }
caption { text-align: left; font-weight: 600; padding: 0.3rem 0; color: var(--muted); }
th, td { text-align: left; vertical-align: top; padding: 0.35rem 0.55rem; border-bottom: 1px solid var(--line); }
thead th { background: var(--panel); border-bottom: 2px solid var(--line); font-weight: 600; white-space: nowrap; }
tbody th { font-weight: 500; }
tbody tr:hover { background: #f6f8fa; }
tr.selected { background: #fff8c5; }
tr.selected:hover { background: #fff8c5; }
tr.parked { background: var(--bad-bg); }
.num { text-align: right; font-variant-numeric: tabular-nums; }
table.status th { width: 12rem; }
ul.plain { list-style: none; margin: 0; padding: 0; }

.badge { display: inline-block; padding: 0 0.5rem; border-radius: 999px; font-size: 0.82rem; font-weight: 600; border: 1px solid var(--line);
  background: #eaeef2; color: var(--text); white-space: nowrap; }
.status-paid, .status-delivered, .status-shipped, .status-sent, .status-succeeded, .status-finished, .status-fulfilled { background: var(--ok-bg); color: var(--ok); border-color: #4ac26b; }
.status-cancelled, .status-dead, .status-parked { background: var(--bad-bg); color: var(--bad); border-color: #ff8182; }
.status-paymentPending, .status-retrying, .status-sending, .status-waiting, .status-relayed, .status-scheduled, .status-running,
.status-awaitingPayment, .status-confirmed { background: var(--warn-bg); color: var(--warn); border-color: #d4a72c; }
.count.warn { color: var(--bad); font-weight: 700; }

dl.facts { display: grid; grid-template-columns: repeat(auto-fill, minmax(14rem, 1fr)); gap: 0.4rem 1.2rem; margin: 0 0 1rem; }
dl.facts div { border-left: 3px solid var(--line); padding-left: 0.6rem; }
dl.facts dt { font-size: 0.8rem; text-transform: uppercase; letter-spacing: 0.03em; color: var(--muted); }
dl.facts dd { margin: 0; }
dl.ids { margin: 0; font-size: 0.8rem; }
dl.ids div { white-space: nowrap; }
dl.ids dt { display: inline-block; width: 6.5em; color: var(--muted); }
dl.ids dd { display: inline; margin: 0; }
dl.ids code.id { word-break: normal; white-space: nowrap; }
table.timeline td:nth-child(5) { min-width: 16rem; }
table.timeline td:nth-child(4) { min-width: 10rem; }

pre.json { background: var(--panel); border: 1px solid var(--line); border-radius: 4px; padding: 0.5rem 0.7rem; overflow: auto;
  max-height: 22rem; margin: 0.3rem 0; font-size: 0.85rem; }
details summary { cursor: pointer; color: var(--accent); font-size: 0.85rem; }
ul.diff { list-style: none; margin: 0; padding: 0; font-family: var(--mono); font-size: 0.85rem; }
ul.diff li { padding: 0.05rem 0; overflow-wrap: anywhere; }
ul.diff del { background: var(--bad-bg); color: var(--bad); text-decoration: line-through; padding: 0 0.2rem; }
ul.diff ins { background: var(--ok-bg); color: var(--ok); text-decoration: none; padding: 0 0.2rem; }

.slider-form { display: flex; flex-wrap: wrap; align-items: center; gap: 0.8rem; margin: 0.4rem 0 0.6rem; }
.slider-form label { font-weight: 600; }
.slider-form input[type="range"] { flex: 1; min-width: 14rem; max-width: 40rem; accent-color: var(--accent); }
.slider-form output { font-family: var(--mono); min-width: 9rem; }
.state-caption { margin: 0.2rem 0; }

nav.on-this-page ul, nav.pager ul { display: flex; flex-wrap: wrap; gap: 0.3rem 1rem; list-style: none; margin: 0 0 0.5rem; padding: 0; font-size: 0.92rem; }
nav.pager a[aria-current="page"] { font-weight: 700; color: var(--text); text-decoration: none; }

ol.live-events { list-style: none; margin: 0.6rem 0; padding: 0; border-top: 1px solid var(--line); }
ol.live-events li { display: flex; flex-wrap: wrap; gap: 0.2rem 0.8rem; align-items: baseline; padding: 0.35rem 0.5rem;
  border-bottom: 1px solid var(--line); font-size: 0.92rem; }
ol.live-events li:nth-child(odd) { background: var(--panel); }
ol.live-events time, ol.live-events a, ol.live-events code { font-family: var(--mono); }
`
