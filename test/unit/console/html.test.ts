/** The console's one escaping place: every interpolation is escaped unless it is already Html. */
import { describe, expect, it } from "vitest"
import { escape, html, join, trusted } from "../../../src/console/html.js"

describe("html", () => {
  it("escapes every interpolated text, in content and in attributes", () => {
    const name = `<script>alert("x")</script>`
    const attribute = `" onmouseover="alert('x')`
    expect(html`<p title="${attribute}">${name}</p>`.value).toBe(
      `<p title="&quot; onmouseover=&quot;alert(&#39;x&#39;)">&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;</p>`
    )
  })

  it("leaves Html made by the template as it is, once: nothing is escaped twice", () => {
    const inner = html`<b>${"a & b"}</b>`
    expect(html`<p>${inner}</p>`.value).toBe("<p><b>a &amp; b</b></p>")
  })

  it("joins lists, and renders nothing for null, undefined and false", () => {
    expect(html`<ul>${["<a>", html`<li>b</li>`]}</ul>`.value).toBe("<ul>&lt;a&gt;<li>b</li></ul>")
    expect(html`[${null}${undefined}${false}${0}]`.value).toBe("[0]")
    expect(join(["x", "<y>"], html`<br>`).value).toBe("x<br>&lt;y&gt;")
  })

  it("escapes the characters that end a value or open markup", () => {
    expect(escape("&<>\"'`")).toBe("&amp;&lt;&gt;&quot;&#39;&#96;")
    expect(trusted("<hr>").value).toBe("<hr>")
  })
})
