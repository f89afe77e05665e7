// Before the tests: the browser tests drive a real headless Chromium through
// playwright-core, which downloads nothing. Use CHROMIUM_PATH or Debian's
// /usr/bin/chromium; when neither exists and this is a root shell with apt
// (a fresh CI machine), install Debian's package. Otherwise say what to do.
import { execSync } from "node:child_process";
import { existsSync } from "node:fs";

const found = [process.env.CHROMIUM_PATH, "/usr/bin/chromium", "/usr/bin/chromium-browser"].find((p) => p && existsSync(p));
if (found) process.exit(0);
const root = typeof process.getuid === "function" && process.getuid() === 0;
if (root && existsSync("/usr/bin/apt-get")) {
  console.log("installing Debian's chromium for the browser tests (apt-get install chromium)...");
  execSync("apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null", { stdio: "inherit", shell: "/bin/bash" });
} else {
  console.warn("the browser tests need Chromium: install Debian's 'chromium' package or set CHROMIUM_PATH");
}
