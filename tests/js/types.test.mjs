// spoke.d.ts describes spoke.js: the TypeScript compiler (Debian's
// node-typescript, installed by `make deps`) accepts types_check.ts, and
// every name spoke.js exports is declared.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import * as spoke from "../../edge/www/spoke.js";

const here = (p) => fileURLToPath(new URL(p, import.meta.url));

test("every export of spoke.js is declared in spoke.d.ts", () => {
  const dts = readFileSync(here("../../edge/www/spoke.d.ts"), "utf8");
  for (const name of Object.keys(spoke)) {
    const re = name === "default" ? /export default Spoke;/ : new RegExp(`export (class|const) ${name}\\b`);
    assert.match(dts, re, `${name} is not declared`);
  }
});

test("types_check.ts compiles against spoke.d.ts under --strict", () => {
  try {
    execFileSync("tsc", ["--noEmit", "--strict", "--target", "es2020", "--module", "es2020",
      "--moduleResolution", "node", here("types_check.ts")], { encoding: "utf8", timeout: 60000 });
  } catch (e) {
    if (e.code === "ENOENT") assert.fail("tsc is missing: `make deps` installs node-typescript");
    assert.fail(`tsc refused the declarations:\n${e.stdout}${e.stderr}`);
  }
});
