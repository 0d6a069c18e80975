// Debian's chromium for the browser tests (dashboard.mjs, check-docs.mjs), started headless by
// playwright-core. `CHROMIUM` names another; as root (CI machines) it refuses to start without
// --no-sandbox.
import { chromium } from "playwright-core";

export const launch = () => chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: process.getuid?.() === 0 ? ["--no-sandbox"] : [],
});
