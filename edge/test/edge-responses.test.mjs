// Responses generated at the edge: /healthz, maintenance, configuration errors, CSP.
import assert from "node:assert/strict";
import { after, before, beforeEach, describe, test } from "node:test";
import { DEFAULT_HSTS, DEV_HSTS, assertSecurityHeaders, startOrigin, startWorker } from "./helpers.mjs";

const EU = { country: "DE", continent: "EU" };

/** A one-origin ORIGINS binding. */
const originsFor = (origin) => JSON.stringify({ origins: { eu: origin.url }, default: "eu" });

describe("healthz", () => {
  let origin;
  let worker;

  before(async () => {
    origin = await startOrigin("eu");
    worker = await startWorker({ ORIGINS: originsFor(origin) });
  });
  beforeEach(() => origin.reset());
  after(async () => {
    await worker?.dispose();
    await origin?.close();
  });

  test("is answered at the edge, not proxied", async () => {
    const res = await worker.fetch("/healthz", { cf: EU });
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { status: "ok" });
    assert.match(res.headers.get("content-type"), /^application\/json/);
    assert.equal(res.headers.get("cache-control"), "no-store");
    assert.equal(origin.requests.length, 0, "origin not hit");
  });

  test("carries the security headers", async () => {
    const res = await worker.fetch("/healthz", { cf: EU });
    await res.arrayBuffer();
    assertSecurityHeaders(assert, res);
  });

  test("only the exact path is special; /healthz/x is proxied", async () => {
    const res = await worker.fetch("/healthz/x", { cf: EU });
    await res.arrayBuffer();
    assert.equal(res.headers.get("x-edge-origin"), "eu");
    assert.equal(origin.requests.length, 1);
  });
});

describe("maintenance mode", () => {
  let origin;
  let worker;

  before(async () => {
    origin = await startOrigin("eu");
    worker = await startWorker({
      ORIGINS: originsFor(origin),
      MAINTENANCE: "true",
      MAINTENANCE_RETRY_AFTER: "120",
    });
  });
  beforeEach(() => origin.reset());
  after(async () => {
    await worker?.dispose();
    await origin?.close();
  });

  test("answers 503 HTML with Retry-After and no-store, without hitting the origin", async () => {
    for (const [path, init] of [
      ["/", {}],
      ["/api/orders", { method: "POST", body: "x" }],
    ]) {
      const res = await worker.fetch(path, { ...init, cf: EU });
      assert.equal(res.status, 503, path);
      assert.equal(res.headers.get("retry-after"), "120");
      assert.equal(res.headers.get("cache-control"), "no-store");
      assert.match(res.headers.get("content-type"), /^text\/html/);
      assert.match(await res.text(), /maintenance/i);
      assertSecurityHeaders(assert, res);
    }
    assert.equal(origin.requests.length, 0, "origin not hit");
  });

  test("still answers /healthz with 200", async () => {
    const res = await worker.fetch("/healthz", { cf: EU });
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { status: "ok" });
    assert.equal(origin.requests.length, 0);
  });
});

describe("maintenance bindings", () => {
  let origin;
  const workers = [];

  before(async () => {
    origin = await startOrigin("eu");
  });
  beforeEach(() => origin.reset());
  after(async () => {
    for (const w of workers) await w.dispose();
    await origin?.close();
  });

  async function worker(bindings) {
    const w = await startWorker({ ORIGINS: originsFor(origin), ...bindings });
    workers.push(w);
    return w;
  }

  test("Retry-After defaults to 300 (and MAINTENANCE is case-insensitive)", async () => {
    const w = await worker({ MAINTENANCE: "TRUE" });
    const res = await w.fetch("/", { cf: EU });
    await res.arrayBuffer();
    assert.equal(res.status, 503);
    assert.equal(res.headers.get("retry-after"), "300");
  });

  test("a malformed MAINTENANCE_RETRY_AFTER falls back to 300", async () => {
    const w = await worker({ MAINTENANCE: "true", MAINTENANCE_RETRY_AFTER: "soon" });
    const res = await w.fetch("/", { cf: EU });
    await res.arrayBuffer();
    assert.equal(res.headers.get("retry-after"), "300");
  });

  test("maintenance page is served even when ORIGINS is broken", async () => {
    const w = await worker({ MAINTENANCE: "true", ORIGINS: "{broken" });
    const res = await w.fetch("/", { cf: EU });
    await res.arrayBuffer();
    assert.equal(res.status, 503);
    assert.equal(res.headers.get("retry-after"), "300");
  });

  test('MAINTENANCE "false" proxies normally', async () => {
    const w = await worker({ MAINTENANCE: "false" });
    const res = await w.fetch("/", { cf: EU });
    await res.arrayBuffer();
    assert.equal(res.status, 200);
    assert.equal(origin.requests.length, 1);
  });
});

describe("CSP binding", () => {
  let origin;
  let worker;
  const CSP = "default-src 'self' https://cdn.example.com; frame-ancestors 'none'";

  before(async () => {
    origin = await startOrigin("eu");
    worker = await startWorker({ ORIGINS: originsFor(origin), CSP });
  });
  after(async () => {
    await worker?.dispose();
    await origin?.close();
  });

  test("is used on proxied and edge responses instead of the default", async () => {
    for (const path of ["/", "/healthz"]) {
      const res = await worker.fetch(path, { cf: EU });
      await res.arrayBuffer();
      assertSecurityHeaders(assert, res, CSP);
    }
  });
});

describe("HSTS binding", () => {
  let origin;
  const workers = [];

  before(async () => {
    origin = await startOrigin("eu");
  });
  after(async () => {
    for (const w of workers) await w.dispose();
    await origin?.close();
  });

  async function hstsOf(bindings, path = "/") {
    const w = await startWorker({ ORIGINS: originsFor(origin), ...bindings });
    workers.push(w);
    const res = await w.fetch(path, { cf: EU });
    await res.arrayBuffer();
    return res.headers.get("strict-transport-security");
  }

  test("with dev's config (preload: false) the header carries no preload", async () => {
    for (const path of ["/", "/healthz"]) {
      const value = await hstsOf({ HSTS: DEV_HSTS }, path);
      assert.equal(value, DEV_HSTS);
      assert.ok(!value.includes("preload"), path);
    }
  });

  test("a preloading config is sent as configured", async () => {
    const prod = "max-age=63072000; includeSubDomains; preload";
    assert.equal(await hstsOf({ HSTS: prod }), prod);
  });

  test("without a binding, or a malformed one, the default is sent: never preload, never no header", async () => {
    assert.equal(await hstsOf({}), DEFAULT_HSTS);
    assert.equal(await hstsOf({ HSTS: "max-age=1; preload; evil" }), DEFAULT_HSTS);
    assert.ok(!DEFAULT_HSTS.includes("preload"));
  });
});

describe("malformed configuration fails closed", () => {
  let origin;
  const workers = [];
  before(async () => {
    origin = await startOrigin("eu");
  });
  after(async () => {
    for (const w of workers) await w.dispose();
    await origin?.close();
  });

  const good = () => ({ origins: { eu: origin.url, na: origin.url }, continents: { EU: "eu" }, default: "na" });
  const cases = [
    ["ORIGINS is not JSON", () => "{origins: eu}", "not valid JSON"],
    ["ORIGINS is empty", () => "", "not set"],
    ["ORIGINS is a JSON array", () => "[]", "must be a JSON object"],
    ["origins map is empty", () => JSON.stringify({ ...good(), origins: {} }), "non-empty"],
    ["default names no origin", () => JSON.stringify({ ...good(), default: "ap" }), "default"],
    ["continent maps to an unknown key", () => JSON.stringify({ ...good(), continents: { EU: "ap" } }), 'continents["EU"]'],
    ["invalid continent code", () => JSON.stringify({ ...good(), continents: { Europe: "eu" } }), "invalid code"],
    ["country maps to an unknown key", () => JSON.stringify({ ...good(), countries: { GB: "uk" } }), 'countries["GB"]'],
    ["origin URL is not http(s)", () => JSON.stringify({ ...good(), origins: { eu: "ftp://eu.example.com" } }), "bare http(s) URL"],
    ["origin URL has a path", () => JSON.stringify({ ...good(), origins: { eu: `${origin.url}/app`, na: origin.url } }), "bare http(s) URL"],
    ["unknown top-level field", () => JSON.stringify({ ...good(), fallback: "na" }), "unknown field"],
    ["external names no origin", () => JSON.stringify({ ...good(), external: ["ap"] }), "ORIGINS.external"],
    ["external is not a list", () => JSON.stringify({ ...good(), external: "na" }), "ORIGINS.external must be"],
    ["passthrough is not a hostname", () => JSON.stringify({ ...good(), passthrough: ["API.example.com/"] }), "ORIGINS.passthrough"],
  ];

  for (const [name, origins, reason] of cases) {
    test(`${name}: generic 500, reason only in the log, origin not hit`, async () => {
      origin.reset();
      const worker = await startWorker({ ORIGINS: origins() });
      workers.push(worker);
      const res = await worker.fetch("/anything", { cf: EU });
      assert.equal(res.status, 500);
      assert.equal(res.headers.get("cache-control"), "no-store");
      assertSecurityHeaders(assert, res);
      const body = await res.text();
      assert.equal(body, "Internal Server Error\n");
      assert.equal(origin.requests.length, 0);
      await worker.waitForLog(reason);

      const health = await worker.fetch("/healthz", { cf: EU });
      assert.equal(health.status, 500, "healthz reports the broken config");
      assert.deepEqual(await health.json(), { status: "error" });
    });
  }

  test("missing ORIGIN_TOKEN fails closed too", async () => {
    origin.reset();
    const worker = await startWorker({ ORIGINS: JSON.stringify(good()), ORIGIN_TOKEN: "" });
    workers.push(worker);
    const res = await worker.fetch("/", { cf: EU });
    assert.equal(res.status, 500);
    assert.equal(await res.text(), "Internal Server Error\n");
    assert.equal(origin.requests.length, 0);
    await worker.waitForLog("ORIGIN_TOKEN is not set");
  });

  test("the example documented in worker.js is accepted", async () => {
    const documented = {
      origins: {
        na: "https://us.origin.example.com",
        eu: "https://eu.origin.example.com",
        as: "https://asia.origin.example.com",
      },
      continents: { NA: "na", SA: "na", AN: "na", EU: "eu", AF: "eu", AS: "as", OC: "as" },
      countries: { GB: "eu" },
      default: "na",
    };
    const worker = await startWorker({ ORIGINS: JSON.stringify(documented) });
    workers.push(worker);
    // /healthz is 200 only when the configuration is valid; nothing is proxied.
    const res = await worker.fetch("/healthz", { cf: EU });
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { status: "ok" });
  });

  test("the valid baseline of these cases is accepted", async () => {
    origin.reset();
    const worker = await startWorker({ ORIGINS: JSON.stringify(good()) });
    workers.push(worker);
    const res = await worker.fetch("/", { cf: EU });
    await res.arrayBuffer();
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("x-edge-origin"), "eu");
  });
});
