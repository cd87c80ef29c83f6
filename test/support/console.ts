/**
 * Driving the web console in a real browser: headless Chromium from the system's package (or
 * CHROMIUM_PATH) through playwright-core, a context per user, signing in as the pages do, and full
 * page screenshots kept under test-artifacts/console/ to be looked at.
 */
import { Effect, Option } from "effect"
import { mkdirSync, mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import path from "node:path"
import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core"
import { afterAll, beforeAll } from "vitest"
import { authSettings } from "./auth.js"
import { BaseUrl } from "./http.js"

export const chromiumPath = process.env["CHROMIUM_PATH"] ?? "/usr/bin/chromium"

/** Chromium without its background traffic: it would otherwise try to reach the internet and stall. */
export const launchChromium = (): Promise<Browser> =>
  chromium.launch({
    executablePath: chromiumPath,
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"]
  })

export const screenshotDirectory = path.resolve("test-artifacts/console")

/** A full-page screenshot of what the page shows now, as test-artifacts/console/<name>.png. */
export const screenshot = async (page: Page, name: string) => {
  mkdirSync(screenshotDirectory, { recursive: true })
  await page.screenshot({ path: path.join(screenshotDirectory, `${name}.png`), fullPage: true })
}

/** A fresh browser context (its own cookies): one signed-in user. */
export const newUser = (browser: Browser, baseUrl: string): Promise<BrowserContext> =>
  browser.newContext({ baseURL: baseUrl, viewport: { width: 1440, height: 900 } })

/**
 * One Chromium for a test file, launched before its tests and closed after them; `asUser` runs a
 * browser session as a fresh user (cookies of its own) against the server under test.
 */
export const sharedBrowser = () => {
  let browser: Browser | undefined
  beforeAll(async () => {
    browser = await launchChromium()
  })
  afterAll(async () => {
    await browser?.close()
  })
  const asUser = <A>(use: (page: Page) => Promise<A>) =>
    Effect.gen(function*() {
      const base = yield* BaseUrl
      return yield* Effect.promise(async () => {
        const context = await newUser(browser!, base)
        try {
          return await use(await context.newPage())
        } finally {
          await context.close()
        }
      })
    })
  return { asUser }
}

/** Signs in on the sign-in page by pasting the token, and waits for the console's home. */
export const signIn = async (page: Page, token: string) => {
  await page.goto("/console/sign-in")
  await page.getByRole("textbox", { name: "Bearer token" }).fill(token)
  await page.getByRole("button", { name: "Sign in", exact: true }).click()
  await page.getByRole("button", { name: "Sign out" }).waitFor()
}

/** The test settings' authentication in development mode (no provider), with a signing key of its own. */
export const devAuthSettings = () => ({
  ...authSettings,
  mode: Option.some("dev" as const),
  publicKeysFile: Option.none(),
  issuer: Option.none(),
  audience: Option.none(),
  devKeyFile: path.join(mkdtempSync(path.join(tmpdir(), "console-dev-")), "dev-signing-key.json")
})
