/** A progress bar per benchmark phase (cli-progress), or nothing when quiet (the suite's tiny runs). */
import cliProgress from "cli-progress"
import { Effect } from "effect"

export interface Progress {
  readonly update: (value: number, payload?: Record<string, string | number>) => void
}

/** Runs `use` with a bar of `total` steps titled `title`; the bar is stopped however `use` ends. */
export const withProgress = <A, E, R>(
  title: string,
  total: number,
  quiet: boolean,
  use: (progress: Progress) => Effect.Effect<A, E, R>
) =>
  quiet
    ? use({ update: () => undefined })
    : Effect.acquireUseRelease(
      Effect.sync(() => {
        const bar = new cliProgress.SingleBar({
          format: `${title.padEnd(34)} {bar} {percentage}% | {value}/{total} {unit} | {detail}`,
          hideCursor: true,
          noTTYOutput: true,
          notTTYSchedule: 5_000
        }, cliProgress.Presets.shades_classic)
        bar.start(total, 0, { unit: "", detail: "" })
        return bar
      }),
      (bar) => use({ update: (value, payload) => bar.update(value, payload) }),
      (bar) => Effect.sync(() => bar.stop())
    )
