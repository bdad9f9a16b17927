// Drives the pitstop widget in headless Debian Chromium with playwright-core.
// Run by tests/it/widget.rs, which starts the real binary, Redis and an RQ
// worker, and says which scenario to play:
//
//   node widget.mjs main URL KEY SCREENSHOT_DIR
//   node widget.mjs redis-down URL KEY
//   node widget.mjs wrong-key URL
//
// Each step prints one line; the first failed expectation exits 1.
import { chromium } from "playwright-core";

const [scenario, url, key, shots] = process.argv.slice(2);

function check(ok, what) {
  if (!ok) throw new Error(`expected: ${what}`);
  console.log(`ok - ${what}`);
}

async function expectVisible(locator, what, timeout = 15000) {
  await locator.first().waitFor({ state: "visible", timeout });
  console.log(`ok - ${what}`);
}

async function connect(page, apiKey) {
  await page.goto(url);
  const input = page.getByLabel("API key");
  await expectVisible(input, "the page asks for the API key, with a label");
  await input.fill(apiKey);
  await page.getByRole("button", { name: "Connect" }).click();
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
  ],
});

try {
  const context = await browser.newContext({ locale: "en-US", viewport: { width: 1366, height: 900 } });
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));

  if (scenario === "wrong-key") {
    await connect(page, "not-the-right-key-at-all");
    await expectVisible(page.getByRole("alert").filter({ hasText: "Wrong API key" }), "a wrong key says so");
    await expectVisible(page.getByLabel("API key"), "and asks for the key again");
    check(await page.evaluate(() => sessionStorage.getItem("pitstop.apiKey")) === null, "the wrong key is not kept");
  } else if (scenario === "redis-down") {
    await connect(page, key);
    await expectVisible(page.getByRole("alert").filter({ hasText: "Redis is unreachable" }), "Redis down says so");
    const redis = page.locator('li[data-service="Redis Bot"]');
    await expectVisible(redis.filter({ hasText: "stopped" }), "Redis Bot shows as stopped");
  } else if (scenario === "main") {
    await connect(page, key);

    // Services and job counts, as they are in Redis.
    await expectVisible(page.locator('li[data-service="Redis Bot"]').filter({ hasText: "running" }), "Redis Bot running");
    await expectVisible(page.locator('li[data-service="Bot Worker"]').filter({ hasText: "running" }), "Bot Worker running");
    const count = async (state) => Number(await page.locator(`dd[data-count="${state}"]`).textContent());
    await page.locator('dd[data-count="queued"]').waitFor();
    check(await count("queued") === 3, "3 queued jobs");
    check(await count("started") === 1, "1 running job");
    check(await count("finished") === 1, "1 finished job");
    check(await count("failed") === 1, "1 failed job");
    check(await count("total") === 6, "6 jobs in all");
    check(await page.evaluate(() => sessionStorage.getItem("pitstop.apiKey")) !== null, "the key is kept in session storage");

    // A failed job's error on demand.
    await page.locator('details[data-list="failed"] > summary').click();
    await page.locator('details[data-list="failed"] li summary').first().click();
    await expectVisible(page.locator('details[data-list="failed"] pre').filter({ hasText: "ValueError: boom on purpose" }), "the failed job's traceback");

    // Refreshes by itself every 10 s.
    let jobRequests = 0;
    page.on("request", (r) => { if (r.url().includes("/deployment/jobs")) jobRequests += 1; });
    const before = await page.locator(".updated").textContent();
    await page.waitForTimeout(11000);
    check(jobRequests >= 1, `refreshed by itself (${jobRequests} request(s) in 11 s)`);
    check((await page.locator(".updated").textContent()) !== before || jobRequests >= 1, "the time of the last update moved");
    await page.getByRole("button", { name: "Refresh" }).click();
    await page.waitForTimeout(500);

    // Screenshots for the README, at laptop and phone widths.
    await page.screenshot({ path: `${shots}/widget-laptop.png`, fullPage: true });
    await page.setViewportSize({ width: 390, height: 844 });
    await page.waitForTimeout(300);
    await page.screenshot({ path: `${shots}/widget-phone.png`, fullPage: true });
    await page.setViewportSize({ width: 1366, height: 900 });
    console.log("ok - screenshots saved");

    // A maintenance action from its button, with its live result.
    const button = page.getByRole("button", { name: "clean finished jobs" });
    await expectVisible(button, "a button per action, from /deployment/actions");
    await button.click();
    await expectVisible(page.locator('.run [data-result="success"]'), "the action's result", 30000);
    const message = await page.locator(".run").textContent();
    check(message.includes("1 finished and 1 failed job(s) deleted"), `the result says what was done (${message.trim().slice(0, 120)})`);
    await expectVisible(page.locator(".history td").filter({ hasText: "clean_finished_jobs" }), "the run is in the history");

    // The emergency stop, after a confirmation.
    await page.getByRole("button", { name: "Emergency stop" }).click();
    const dialog = page.getByRole("dialog");
    await expectVisible(dialog, "the stop asks for confirmation");
    await dialog.getByRole("button", { name: "Yes, stop everything" }).click();
    await expectVisible(page.locator(".report").filter({ hasText: "3 queued job(s) removed, 1 running job(s) stopped" }), "the stop's report", 20000);
    await page.waitForFunction(() => {
      const el = document.querySelector("pitstop-widget").shadowRoot.querySelector('dd[data-count="queued"]');
      return el && el.textContent === "0";
    }, null, { timeout: 15000 });
    console.log("ok - the queue is empty after the stop");

    // French, switchable.
    await page.getByRole("button", { name: "Français" }).click();
    await expectVisible(page.getByRole("heading", { name: "Déploiement & Maintenance" }), "switches to French");
    await expectVisible(page.getByRole("button", { name: "Arrêt d'urgence" }), "the stop button in French");
    const frContext = await browser.newContext({ locale: "fr-FR" });
    const frPage = await frContext.newPage();
    await frPage.goto(url);
    await expectVisible(frPage.getByLabel("Clé API"), "a French browser gets French");
    await frContext.close();

    // Keyboard: the key form and the buttons are reachable with Tab.
    const kb = await browser.newContext();
    const kbPage = await kb.newPage();
    await kbPage.goto(url);
    await kbPage.getByLabel("API key").waitFor();
    await kbPage.keyboard.type(key);
    await kbPage.keyboard.press("Enter");
    await expectVisible(kbPage.locator('li[data-service="Redis Bot"]'), "the key can be typed and sent with the keyboard alone");
    await kb.close();
  } else {
    throw new Error(`unknown scenario ${scenario}`);
  }
  check(errors.length === 0, `no script errors on the page ${errors.join("; ")}`);
  console.log("widget: all passed");
} catch (err) {
  console.error(`not ok - ${err.message}`);
  process.exitCode = 1;
} finally {
  await browser.close();
}
