// Geo steering: which origin a client reaches, and in which order origins are tried.
import assert from "node:assert/strict";
import { after, before, beforeEach, describe, test } from "node:test";
import { answer, startOrigin, startWorker } from "./helpers.mjs";

describe("geo steering", () => {
  const hits = []; // origin names in the order they were hit
  const status = {}; // per-origin status to answer with, 200 unless a test says otherwise
  const origins = {};
  let worker;

  before(async () => {
    // JSON key order (na, eu, as, ap) deliberately differs from sorted order.
    for (const name of ["na", "eu", "as", "ap"]) {
      origins[name] = await startOrigin(name, (req, res, record, n) => answer(status[n] ?? 200)(req, res, record, n), hits);
    }
    worker = await startWorker({
      ORIGINS: JSON.stringify({
        origins: Object.fromEntries(Object.entries(origins).map(([k, o]) => [k, o.url])),
        continents: { NA: "na", SA: "na", EU: "eu", AF: "eu", AS: "as", OC: "ap" },
        countries: { GB: "na", JP: "ap" },
        default: "na",
      }),
    });
  });
  beforeEach(() => {
    hits.length = 0;
    for (const key of Object.keys(status)) delete status[key];
  });
  after(async () => {
    await worker?.dispose();
    for (const o of Object.values(origins)) await o.close();
  });

  async function edgeOriginFor(cf) {
    const res = await worker.fetch("/where", { cf });
    assert.equal(res.status, 200);
    await res.arrayBuffer();
    return res.headers.get("x-edge-origin");
  }

  test("EU client goes to the eu origin", async () => {
    assert.equal(await edgeOriginFor({ country: "DE", continent: "EU" }), "eu");
    assert.deepEqual(hits, ["eu"]);
  });

  test("continent map applies to other continents (AS -> as, AF -> eu)", async () => {
    assert.equal(await edgeOriginFor({ country: "IN", continent: "AS" }), "as");
    assert.equal(await edgeOriginFor({ country: "NG", continent: "AF" }), "eu");
  });

  test("country override wins over the continent", async () => {
    assert.equal(await edgeOriginFor({ country: "GB", continent: "EU" }), "na");
    assert.equal(await edgeOriginFor({ country: "JP", continent: "AS" }), "ap");
  });

  test("unknown country and unmapped continent go to the default", async () => {
    assert.equal(await edgeOriginFor({ country: "XX", continent: "AN" }), "na");
    assert.equal(await edgeOriginFor({ country: "T1", continent: null }), "na");
  });

  test("failover order is nearest, then default, then the rest sorted by key", async () => {
    status.eu = 503;
    status.na = 503;
    status.ap = 503;
    assert.equal(await edgeOriginFor({ country: "DE", continent: "EU" }), "as");
    assert.deepEqual(hits, ["eu", "na", "ap", "as"]);
  });

  test("idempotent request where every origin answers 503 gets a clean 502", async () => {
    for (const name of Object.keys(origins)) status[name] = 503;
    const res = await worker.fetch("/", { cf: { country: "DE", continent: "EU" } });
    assert.equal(res.status, 502);
    assert.equal(res.headers.get("cache-control"), "no-store");
    assert.equal(res.headers.get("x-edge-origin"), null);
    const body = await res.text();
    assert.ok(!body.includes("hello from"), "origin error bodies are not relayed");
    assert.deepEqual(hits, ["eu", "na", "ap", "as"]);
  });
});
