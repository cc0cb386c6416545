// A local OTLP/HTTP trace receiver for the export tests. It accepts what an
// OpenTelemetry Collector's OTLP receiver accepts on POST /v1/traces with
// Content-Type application/json, decoding the body against the official OTLP
// protobuf definitions (opentelemetry-proto, as generated into
// @opentelemetry/otlp-transformer's protobufjs module), and refuses with 400 what a
// collector refuses, plus unknown fields (a typo would otherwise be lost silently):
//   - ids: traceId 32 and spanId/parentSpanId 16 hex digits (OTLP/JSON's rule);
//   - enums (span kind, status code) as integers of the enum;
//   - int64/fixed64 as decimal strings or integers; other fields of their proto type;
//   - every AnyValue with exactly one value.
// Each accepted request is re-encoded to protobuf binary, decoded again and
// appended, as JSON (ids hex, 64-bit numbers as strings), to OUT (one per line).
//
//   node otlp_receiver.cjs NODE_MODULES_DIR OUT   (prints "listening PORT")
"use strict";
const http = require("node:http");
const fs = require("node:fs");
const path = require("node:path");

const [modules, outPath] = process.argv.slice(2);
const root = require(path.join(modules, "@opentelemetry/otlp-transformer/build/src/generated/root.js"));
const Request = root.opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest;

const ID_LENGTHS = { traceId: 32, spanId: 16, parentSpanId: 16 };
const ENUMS = { kind: [0, 1, 2, 3, 4, 5], code: [0, 1, 2] };
const INT64 = new Set(["startTimeUnixNano", "endTimeUnixNano", "timeUnixNano", "intValue"]);
const ANY_VALUE_KEYS = ["stringValue", "boolValue", "intValue", "doubleValue", "arrayValue",
                        "kvlistValue", "bytesValue"];

class Refused extends Error {}

// OTLP/JSON -> protobufjs plain object: hex ids to bytes; checks as above.
function convert(value, where) {
  if (Array.isArray(value)) return value.map((v, i) => convert(v, `${where}[${i}]`));
  if (value === null || typeof value !== "object") return value;
  const out = {};
  const anyKeys = Object.keys(value).filter((k) => ANY_VALUE_KEYS.includes(k));
  if (where.endsWith(".value") && anyKeys.length !== 1)
    throw new Refused(`${where}: an AnyValue needs exactly one value, has ${anyKeys.length}`);
  for (const [key, v] of Object.entries(value)) {
    const at = `${where}.${key}`;
    if (key in ID_LENGTHS) {
      if (typeof v !== "string" || !(new RegExp(`^([0-9a-fA-F]{${ID_LENGTHS[key]}})?$`)).test(v) ||
          (key !== "parentSpanId" && v === ""))
        throw new Refused(`${at}: ${JSON.stringify(v)} is not ${ID_LENGTHS[key]} hex digits`);
      out[key] = Buffer.from(v, "hex");
    } else if (key in ENUMS && typeof v !== "object") {
      if (!Number.isInteger(v) || !ENUMS[key].includes(v))
        throw new Refused(`${at}: ${JSON.stringify(v)} is not an enum integer`);
      out[key] = v;
    } else if (INT64.has(key)) {
      if (!(typeof v === "string" && /^-?[0-9]+$/.test(v)) && !Number.isInteger(v))
        throw new Refused(`${at}: ${JSON.stringify(v)} is not a 64-bit integer`);
      out[key] = String(v);
    } else {
      out[key] = convert(v, at);
    }
  }
  return out;
}

// Every field sent must exist in the message and come back with the same value.
function compare(sent, decoded, where) {
  if (Array.isArray(sent)) {
    if (!Array.isArray(decoded) || decoded.length !== sent.length)
      throw new Refused(`${where}: not a repeated field of that length`);
    sent.forEach((v, i) => compare(v, decoded[i], `${where}[${i}]`));
    return;
  }
  if (Buffer.isBuffer(sent)) return;
  if (sent !== null && typeof sent === "object") {
    if (decoded === null || typeof decoded !== "object" || Array.isArray(decoded))
      throw new Refused(`${where}: not a message field`);
    for (const key of Object.keys(sent)) {
      if (!(key in decoded)) throw new Refused(`${where}.${key}: no such field in the OTLP proto`);
      compare(sent[key], decoded[key], `${where}.${key}`);
    }
    return;
  }
  if (typeof sent === "string" && typeof decoded === "string" && sent === decoded) return;
  if (typeof sent === "boolean" && sent === decoded) return;
  if (typeof sent === "number" && typeof decoded === "number" && sent === decoded) return;
  throw new Refused(`${where}: ${JSON.stringify(sent)} does not decode as its proto type ` +
                    `(got ${JSON.stringify(decoded)})`);
}

function hexIds(value) {
  if (Array.isArray(value)) return value.map(hexIds);
  if (value === null || typeof value !== "object") return value;
  const out = {};
  for (const [k, v] of Object.entries(value))
    out[k] = k in ID_LENGTHS ? Buffer.from(v, "base64").toString("hex") : hexIds(v);
  return out;
}

const server = http.createServer((req, res) => {
  const chunks = [];
  req.on("data", (c) => chunks.push(c));
  req.on("end", () => {
    const reply = (status, body) => {
      res.writeHead(status, { "Content-Type": "application/json" });
      res.end(JSON.stringify(body));
    };
    if (req.method !== "POST" || req.url !== "/v1/traces")
      return reply(404, { code: 5, message: `no ${req.method} ${req.url}` });
    if ((req.headers["content-type"] || "").split(";")[0].trim() !== "application/json")
      return reply(415, { code: 3, message: "Content-Type must be application/json" });
    try {
      let body;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
      } catch (e) {
        throw new Refused(`not JSON: ${e.message}`);
      }
      const plain = convert(body, "request");
      const message = Request.fromObject(plain);
      const bytes = Request.encode(message).finish();
      const again = Request.decode(bytes);
      const problem = Request.verify(again);
      if (problem) throw new Refused(problem);
      const decoded = Request.toObject(again, { longs: String, enums: Number, bytes: String,
                                                defaults: false, arrays: true, objects: true });
      compare(plain, decoded, "request");
      let spans = 0;
      for (const rs of decoded.resourceSpans || [])
        for (const ss of rs.scopeSpans || []) spans += (ss.spans || []).length;
      fs.appendFileSync(outPath, JSON.stringify({ spans, protobufBytes: bytes.length,
                                                  contentType: req.headers["content-type"],
                                                  request: hexIds(decoded) }) + "\n");
      reply(200, {});
    } catch (e) {
      if (!(e instanceof Refused)) throw e;
      fs.appendFileSync(outPath, JSON.stringify({ refused: e.message }) + "\n");
      reply(400, { code: 3, message: e.message });
    }
  });
});
server.listen(0, "127.0.0.1", () => {
  process.stdout.write(`listening ${server.address().port}\n`);
});
process.on("SIGTERM", () => server.close(() => process.exit(0)));
