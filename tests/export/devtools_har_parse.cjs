// Parses a HAR with Chromium DevTools' own HAR model (front_end/models/har/HARFormat.ts
// from the chrome-devtools-frontend npm package), the parser behind the network
// panel's "Import HAR file": it throws on what DevTools cannot import. The file is
// transpiled with TypeScript; its two imports are only used for _initiator data,
// which ct's HAR does not have, and are stubbed.
//
//   node devtools_har_parse.cjs NODE_MODULES HARFormat.ts FILE.har
"use strict";
const fs = require("node:fs");
const path = require("node:path");
const [modules, harFormat, harFile] = process.argv.slice(2);
const ts = require(path.join(modules, "typescript"));
const js = ts.transpileModule(fs.readFileSync(harFormat, "utf8"), {
  compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2020 },
}).outputText;
const stubs = {
  "../../core/common/common.js": {
    ParsedURL: { hasWebSafeScheme: (u) => /^(https?|wss?|data|blob|file):/.test(u) },
  },
  "../../core/sdk/sdk.js": { NetworkRequest: { InitiatorType: { OTHER: "other" } } },
};
const mod = { exports: {} };
new Function("require", "module", "exports", js)((name) => {
  if (name in stubs) return stubs[name];
  throw new Error(`HARFormat.ts imports ${name}: update the stubs`);
}, mod, mod.exports);
const root = new mod.exports.HARRoot(JSON.parse(fs.readFileSync(harFile, "utf8")));
console.log(JSON.stringify(root.log.entries.map((e) => ({
  method: e.request.method, url: e.request.url, status: e.response.status,
  encoding: e.response.content.encoding ?? null, started: e.startedDateTime.toISOString(),
}))));
