/**
 * Regenerates README.md's performance tables from `bench/results/*.md` (`make bench-readme`).
 *
 *   node --import tsx bench/readme.ts           rewrite the stale sections
 *   node --import tsx bench/readme.ts --check   write nothing; exit 1 naming what is stale
 */
import { parseArgs } from "node:util"
import { describeSync, inSync, syncReadme } from "./lib/readme.js"

const { values } = parseArgs({ options: { check: { type: "boolean", default: false } } })

try {
  const sync = syncReadme({ check: values.check })
  for (const line of describeSync(sync, values.check)) console.log(line)
  if (values.check) {
    if (!inSync(sync)) process.exit(1)
    console.log("README.md: the performance tables match bench/results/")
  } else if (!sync.written) {
    console.log("README.md: the performance tables were already up to date")
  }
} catch (error) {
  console.error(`README.md: ${error instanceof Error ? error.message : String(error)}`)
  process.exit(1)
}
