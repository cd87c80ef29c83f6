/** A small SVG line chart with logarithmic axes, for benchmark results (no dependencies). */

export interface Series {
  readonly name: string
  readonly color: string
  readonly points: ReadonlyArray<{ readonly x: number; readonly y: number }>
}

const WIDTH = 720
const HEIGHT = 440
const MARGIN = { left: 70, right: 150, top: 40, bottom: 55 }

const decades = (min: number, max: number) => {
  const ticks: Array<number> = []
  for (let power = Math.floor(Math.log10(min)); power <= Math.ceil(Math.log10(max)); power++) ticks.push(10 ** power)
  return ticks
}

const label = (value: number) => value >= 1 ? value.toLocaleString("en") : String(value)

export const logLogChart = (options: {
  readonly title: string
  readonly xLabel: string
  readonly yLabel: string
  readonly series: ReadonlyArray<Series>
}) => {
  const all = options.series.flatMap((series) => series.points).filter((point) => point.x > 0 && point.y > 0)
  const xTicks = decades(Math.min(...all.map((p) => p.x)), Math.max(...all.map((p) => p.x)))
  const yTicks = decades(Math.min(...all.map((p) => p.y)), Math.max(...all.map((p) => p.y)))
  const [x0, x1] = [Math.log10(xTicks[0]!), Math.log10(xTicks[xTicks.length - 1]!)]
  const [y0, y1] = [Math.log10(yTicks[0]!), Math.log10(yTicks[yTicks.length - 1]!)]
  const plotWidth = WIDTH - MARGIN.left - MARGIN.right
  const plotHeight = HEIGHT - MARGIN.top - MARGIN.bottom
  const sx = (x: number) => MARGIN.left + ((Math.log10(x) - x0) / Math.max(1e-9, x1 - x0)) * plotWidth
  const sy = (y: number) => MARGIN.top + plotHeight - ((Math.log10(y) - y0) / Math.max(1e-9, y1 - y0)) * plotHeight

  const grid = [
    ...xTicks.map((x) =>
      `<line x1="${sx(x)}" y1="${MARGIN.top}" x2="${sx(x)}" y2="${MARGIN.top + plotHeight}" stroke="#ddd"/>` +
      `<text x="${sx(x)}" y="${MARGIN.top + plotHeight + 18}" text-anchor="middle">${label(x)}</text>`
    ),
    ...yTicks.map((y) =>
      `<line x1="${MARGIN.left}" y1="${sy(y)}" x2="${MARGIN.left + plotWidth}" y2="${sy(y)}" stroke="#ddd"/>` +
      `<text x="${MARGIN.left - 8}" y="${sy(y) + 4}" text-anchor="end">${label(y)}</text>`
    )
  ]
  const lines = options.series.map((series, i) => {
    const points = series.points.filter((point) => point.x > 0 && point.y > 0)
    const path = points.map((point, j) => `${j === 0 ? "M" : "L"}${sx(point.x).toFixed(1)},${sy(point.y).toFixed(1)}`).join(" ")
    const dots = points.map((point) => `<circle cx="${sx(point.x).toFixed(1)}" cy="${sy(point.y).toFixed(1)}" r="4" fill="${series.color}"/>`)
    const legendY = MARGIN.top + 10 + i * 22
    return `<path d="${path}" fill="none" stroke="${series.color}" stroke-width="2.5"/>${dots.join("")}` +
      `<rect x="${WIDTH - MARGIN.right + 16}" y="${legendY - 9}" width="14" height="4" fill="${series.color}"/>` +
      `<text x="${WIDTH - MARGIN.right + 36}" y="${legendY - 3}">${series.name}</text>`
  })
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" font-family="sans-serif" font-size="12">
<rect width="100%" height="100%" fill="white"/>
<text x="${MARGIN.left}" y="22" font-size="15" font-weight="bold">${options.title}</text>
${grid.join("\n")}
<rect x="${MARGIN.left}" y="${MARGIN.top}" width="${plotWidth}" height="${plotHeight}" fill="none" stroke="#888"/>
${lines.join("\n")}
<text x="${MARGIN.left + plotWidth / 2}" y="${HEIGHT - 12}" text-anchor="middle">${options.xLabel}</text>
<text x="16" y="${MARGIN.top + plotHeight / 2}" text-anchor="middle" transform="rotate(-90 16 ${MARGIN.top + plotHeight / 2})">${options.yLabel}</text>
</svg>
`
}
