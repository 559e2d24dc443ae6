// The dashboard in a real browser (Chromium from the PATH, driven by playwright-core), against the
// real server: what an operator sees, with every request answered by the server itself.
import { expect, setDefaultTimeout } from "bun:test";
import { mkdirSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type Browser, type Page } from "playwright-core";
import { READ_KEY, READING, post, start, type Running } from "../helpers";
import { needs } from "../needs";

setDefaultTimeout(60_000); // for this file only: Bun applies it per file (test/setup.ts); a loaded machine is slow to render

const ARTIFACTS = new URL("../artifacts/", import.meta.url).pathname;
const { beforeAll, afterAll, describe, test, path } = needs("chromium");
let browser: Browser;
let server: Running;

/** The page waits for what it expects; these bounds only matter when something is wrong. */
const WAIT = 15_000;

beforeAll(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  browser = await chromium.launch({
    executablePath: path("chromium"),
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"],
  });
  // The server's clock stands at the real time (the page asks for the last ten minutes of the
  // browser's clock) and moves only when a test says so: cycle numbers never depend on how long the
  // browser takes between two posts.
  server = await start(
    { STORAGE: "sqlite", DATA_DIR: mkdtempSync(join(tmpdir(), "sensorflow-dash-")), CIP_GAP_MINUTES: "0.02" },
    { clockAt: Date.now() },
  );
});
afterAll(async () => {
  await browser?.close();
  await server?.stop();
});

async function openDashboard(key: string | null = READ_KEY, locale = "en-US"): Promise<{ page: Page; requests: string[] }> {
  const context = await browser.newContext({ locale, viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  const requests: string[] = [];
  page.on("request", (request) => requests.push(request.url()));
  await page.goto(server.url);
  if (key !== null) {
    await page.fill("#key", key);
    await page.click("#key-form button[type=submit]");
  }
  return { page, requests };
}

const text = (page: Page, selector: string) => page.locator(selector).first().textContent();

describe("the dashboard", () => {
  test("asks for the read key once and shows live values and charts that update as readings arrive", async () => {
    await post(`${server.url}/api/devices/line-1/readings`, READING);
    const { page, requests } = await openDashboard();
    await page.waitForSelector("#live:not([hidden]) .uplot", { timeout: WAIT });
    expect(await text(page, '.card[data-metric="temperature"] .value')).toBe("75.50");
    const chart = page.locator('[data-chart="temperature"] canvas');
    const before = await chart.screenshot();

    server.advance(1000); // a board's next reading, a second later: within CIP_GAP_MINUTES (1.2 s), still cycle 1
    await post(`${server.url}/api/devices/line-1/readings`, { ...READING, temperature: 81.25, flow: 1.75 });
    await page.waitForFunction(() => document.querySelector('.card[data-metric="temperature"] .value')?.textContent === "81.25", null, { timeout: WAIT });
    expect(await text(page, '.card[data-metric="flow"] .value')).toBe("1.75");
    expect(await text(page, "#cycle")).toBe("1");
    // The chart draws the new point (waited for, not assumed to take less than some time).
    let after = await chart.screenshot();
    for (let i = 0; i < 100 && Buffer.compare(before, after) === 0; i++) after = await chart.screenshot();
    expect(Buffer.compare(before, after)).not.toBe(0);
    expect(await page.getAttribute("#status", "data-state")).toBe("live");

    // The key is kept: a reload goes straight to the live view.
    await page.reload();
    await page.waitForSelector("#live:not([hidden]) .uplot", { timeout: WAIT });
    const firstChartMs = await page.evaluate(() => performance.now()); // since this navigation started
    await page.screenshot({ path: join(ARTIFACTS, "live-view.png") });

    const local = requests.every((url) => url.startsWith(server.url) || url.startsWith("data:"));
    expect(local).toBe(true);
    const bytes = await page.evaluate(() =>
      performance.getEntriesByType("resource").reduce((n, e) => n + (e as PerformanceResourceTiming).encodedBodySize, 0) +
      (performance.getEntriesByType("navigation")[0] as PerformanceNavigationTiming).encodedBodySize,
    );
    console.log(`dashboard: ${requests.length} requests in two loads, ${(bytes / 1024).toFixed(1)} KiB for one load, first chart ${firstChartMs.toFixed(0)} ms after navigation`);
    await page.context().close();
  });

  test("says plainly when the key is wrong", async () => {
    const { page } = await openDashboard("not-the-key");
    await page.waitForSelector("#key-error:has-text('Wrong key')", { timeout: WAIT });
    expect(await page.isVisible("#live")).toBe(false);
    await page.context().close();
  });

  test("shows when the stream is cut, then reconnects and catches up", async () => {
    const { page } = await openDashboard();
    await page.waitForSelector('#status[data-state="live"]', { timeout: WAIT });
    for (const socket of server.services.sockets) socket.close(1012, "test restarts the stream");
    await page.waitForSelector('#status[data-state="disconnected"]', { timeout: WAIT });
    // A reading that arrives while it is away is caught up on reconnect.
    await post(`${server.url}/api/devices/line-1/readings`, { ...READING, temperature: 66.6 });
    await page.waitForSelector('#status[data-state="live"]', { timeout: WAIT });
    await page.waitForFunction(() => document.querySelector('.card[data-metric="temperature"] .value')?.textContent === "66.60", null, { timeout: WAIT });
    await page.context().close();
  });

  test("the cycles view lists cycles; a click opens the cycle's chart and its CSV", async () => {
    await post(`${server.url}/api/devices/line-1/readings`, READING);
    server.advance(2000); // longer than CIP_GAP_MINUTES=0.02 (1.2 s): the next reading opens a new cycle
    await post(`${server.url}/api/devices/line-1/readings`, { ...READING, temperature: 70 });
    const { page } = await openDashboard();
    await page.waitForSelector("#live:not([hidden])", { timeout: WAIT });
    await page.click("#tab-cycles");
    await page.waitForSelector("#cycle-rows tr", { timeout: WAIT });
    const rows = await page.locator("#cycle-rows tr").count();
    expect(rows).toBeGreaterThanOrEqual(2);
    await page.locator("#cycle-rows tr").last().click();
    await page.waitForSelector("#cycle-detail:not([hidden]) .uplot", { timeout: WAIT });
    const href = await page.getAttribute("#cycle-csv", "href");
    const csv = await page.evaluate(async (url) => (await fetch(url!)).text(), href);
    expect(csv.split("\n")[0]).toBe("timestamp,device,cip_id,seq,temperature (°C),pressure (bar),concentration (%),flow (m³/h),faults");
    await page.context().close();
  });

  test("speaks Brazilian Portuguese to a pt-BR browser, with a switch back to English", async () => {
    const { page } = await openDashboard(READ_KEY, "pt-BR");
    await page.waitForSelector("#live:not([hidden])", { timeout: WAIT });
    expect(await text(page, '.card[data-metric="temperature"] h2')).toBe("Temperatura");
    expect(await text(page, '.card[data-metric="flow"] h2')).toBe("Vazão");
    await page.selectOption("#lang", "en");
    expect(await text(page, '.card[data-metric="flow"] h2')).toBe("Flow");
    await page.context().close();
  });
});

describe("API docs", () => {
  test("/docs renders with every request answered by the server itself", async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const requests: string[] = [];
    page.on("request", (request) => requests.push(request.url()));
    await page.goto(`${server.url}/docs`);
    await page.waitForFunction(() => document.body.innerText.includes("/sensor_data"), null, { timeout: WAIT });
    const outside = requests.filter((url) => !url.startsWith(server.url) && !url.startsWith("data:") && !url.startsWith("blob:"));
    expect(outside).toEqual([]);
    await page.screenshot({ path: join(ARTIFACTS, "docs.png") });
    await context.close();
  }, 60_000);
});

describe("the dashboard with cycle validation", () => {
  test("shows active alarms on the live view and each closed cycle's verdict", async () => {
    const { writeFileSync } = await import("node:fs");
    const { EXAMPLE_RECIPES } = await import("../../src/modules/recipes/example");
    const { parse } = await import("smol-toml");
    const { simulate } = await import("../../src/simulate");
    const dir = mkdtempSync(join(tmpdir(), "sensorflow-dash-recipes-"));
    writeFileSync(join(dir, "recipes.toml"), EXAMPLE_RECIPES);
    const s = await start({ STORAGE: "sqlite", DATA_DIR: dir, RECIPES_FILE: join(dir, "recipes.toml") }, { cycleCheckMs: 20 });
    try {
      const recipe = (parse(EXAMPLE_RECIPES) as unknown as { recipes: Record<string, import("../../src/modules/recipes/model").Recipe> }).recipes["dairy-5-step"]!;
      // Play until the caustic dip raises its alarm, pause the boards there, and look.
      const alarmed = Promise.withResolvers<void>();
      const resume = Promise.withResolvers<void>();
      let paused = false;
      const run = simulate({
        host: "127.0.0.1", port: s.port, device: "line-1", key: "board-key-1", recipe, speed: 1, fault: "dip",
        tick: async (ms) => {
          s.advance(ms);
          if (!paused && s.services.alarms.active("line-1").length > 0) {
            paused = true;
            alarmed.resolve();
            await resume.promise;
          }
        },
      });
      await alarmed.promise;
      const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
      const page = await context.newPage();
      const pageErrors: string[] = [];
      page.on("pageerror", (error) => pageErrors.push(String(error)));
      await page.goto(s.url);
      await page.fill("#key", READ_KEY);
      await page.click("#key-form button[type=submit]");
      await page.waitForSelector("#alarms:not([hidden])", { timeout: WAIT }).catch(async (error) => {
        await page.screenshot({ path: join(ARTIFACTS, "live-alarm-failed.png") });
        throw new Error(`${error}; page errors: ${pageErrors.join(" | ")}; active: ${JSON.stringify(s.services.alarms.active())}`);
      });
      expect(await page.textContent("#alarms")).toContain("ALARM: Temperature 65 below 70 (in caustic)");
      await page.screenshot({ path: join(ARTIFACTS, "live-alarm.png") });
      resume.resolve();
      await run;
      s.advance(11 * 60_000);
      for (let i = 0; i < 750 && !(await (await fetch(`${s.url}/api/devices/line-1/cycles/1`, { headers: { "x-api-key": READ_KEY } })).json()).verdict; i++) await Bun.sleep(20);
      await page.click("#tab-cycles");
      await page.waitForSelector("#cycle-rows .verdict.FAIL", { timeout: WAIT });
      await context.close();
    } finally {
      await s.stop();
    }
  }, 60_000);
});
