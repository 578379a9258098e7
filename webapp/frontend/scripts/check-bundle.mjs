// Smoke check of the built bundle without a browser: it parses, runs against a bare `window`, and
// attaches window.SiteTwin3D.mount.   node scripts/check-bundle.mjs [path/to/twin3d.js]
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import vm from "node:vm";

const path = process.argv[2] || fileURLToPath(new URL("../../static/dist/twin3d.js", import.meta.url));
const sandbox = { console };
sandbox.window = sandbox;
vm.runInNewContext(readFileSync(path, "utf8"), sandbox, { filename: path });
const api = sandbox.window.SiteTwin3D;
if (!api || typeof api.mount !== "function" || api.state.loaded !== false) {
  console.error(`${path}: window.SiteTwin3D.mount is missing`);
  process.exit(1);
}
console.log(`${path}: ok, window.SiteTwin3D.mount is a function`);
