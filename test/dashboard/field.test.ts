// What an operator sees in a real browser when the plant floor misbehaves: a failed sensor shown as
// failed (not as its last good number), the alarm in the list, a silent board said plainly, and the
// plant's own units.
import { expect, setDefaultTimeout, test as plainTest } from "bun:test";
import { chromium, type Browser } from "playwright-core";
import { READ_KEY, post, start, type Running } from "../helpers";
import { needs } from "../needs";

setDefaultTimeout(30_000); // for this file only: Bun applies it per file (test/setup.ts)

const { beforeAll, afterAll, describe, test, path } = needs("chromium");

let browser: Browser;
let server: Running;

beforeAll(async () => {
  browser = await chromium.launch({
    executablePath: path("chromium"),
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"],
  });
  // The server's clock is the test's: the board's silence is a jump of the clock, not a wait.
  server = await start({ UNIT_PRESSURE: "hPa", UNIT_FLOW: "L/min", BOARD_SILENT_SECONDS: "30" }, { cycleCheckMs: 20 });
});
afterAll(async () => {
  await browser?.close();
  await server?.stop();
});

describe("the dashboard on a bad day", () => {
  test("shows a failed sensor as failed, its alarm, a silent board, and the configured units", async () => {
    await post(`${server.url}/api/devices/line-1/readings`, { temperature: 72.5, pressure: 1013.25, concentration: 0.8, flow: 25 });
    const page = await (await browser.newContext({ locale: "en-US" })).newPage();
    await page.goto(server.url);
    await page.fill("#key", READ_KEY);
    await page.click("#key-form button[type=submit]");
    await page.waitForFunction(() => document.querySelector('.card[data-metric="temperature"] .value')?.textContent === "72.50", null, { timeout: 5000 });
    expect(await page.locator('.card[data-metric="pressure"] .unit').textContent()).toBe("hPa");
    expect(await page.locator('.card[data-metric="flow"] .unit').textContent()).toBe("L/min");
    expect(await page.locator("#board-state").textContent()).toBe("online");

    // The temperature probe fails: the board goes on posting the other three values.
    for (let i = 0; i < 12; i++) {
      await post(`${server.url}/api/devices/line-1/readings`, '{"temperature":nan,"pressure":1013.00,"concentration":0.80, "flow":24.00}');
      server.advance(1000);
    }
    await page.waitForFunction(() => document.querySelector('.card[data-metric="temperature"] .value')?.textContent === "FAILED", null, { timeout: 5000 });
    expect(await page.locator('.card[data-metric="temperature"]').getAttribute("data-failed")).toBe("true");
    expect(await page.locator('.card[data-metric="pressure"] .value').textContent()).toBe("1013.00");
    await page.waitForFunction(() => document.querySelector("#alarms")?.textContent?.includes("sensor failed"), null, { timeout: 5000 });
    expect(await page.locator("#alarms").textContent()).toContain("Temperature — sensor failed");

    // Then the board goes quiet mid-cycle.
    server.advance(31_000);
    await page.waitForFunction(() => document.querySelector("#board-state")?.textContent === "silent", null, { timeout: 5000 });
    expect(await page.locator("#alarms").textContent()).toContain("board silent since");
    await page.screenshot({ path: new URL("./field-view.png", import.meta.url).pathname });

    // It comes back: online, the silence alarm gone, the sensor reads again.
    await post(`${server.url}/api/devices/line-1/readings`, { temperature: 73, pressure: 1013, concentration: 0.8, flow: 24 });
    await page.waitForFunction(() => document.querySelector("#board-state")?.textContent === "online", null, { timeout: 5000 });
    await page.waitForFunction(() => document.querySelector('.card[data-metric="temperature"] .value')?.textContent === "73.00", null, { timeout: 5000 });
    await page.waitForFunction(() => !document.querySelector("#alarms")?.textContent?.includes("silent"), null, { timeout: 5000 });
    expect(await page.locator("#alarms").isHidden()).toBe(true);
  }, 30_000);
});

plainTest("/favicon.ico answers with an icon (browsers ask for it on every page)", async () => {
  const response = await fetch(`${server.url}/favicon.ico`);
  expect(response.status).toBe(200);
  expect(response.headers.get("content-type")).toBe("image/x-icon");
  expect(Buffer.from(await response.arrayBuffer()).subarray(0, 4)).toEqual(Buffer.from([0, 0, 1, 0]));
});
