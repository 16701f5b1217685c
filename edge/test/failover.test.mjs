// Failover: origin down, 5xx, timeout, and the per-method policy.
import assert from "node:assert/strict";
import { after, before, beforeEach, describe, test } from "node:test";
import { answer, closedOriginUrl, neverAnswer, startOrigin, startWorker } from "./helpers.mjs";

// Long enough that a healthy origin on a loaded CI machine never trips it, short enough to keep the run quick.
const TIMEOUT_MS = 1000;
// Tests that wait on an origin timeout get their own limit, so a Worker that
// never times out fails them quickly instead of hanging the run.
const WAITS = { timeout: 5000 };

// Each failure mode is the nearest origin of one country; the default "ok" is
// always next in the failover order, so a failover lands on it.
const DOWN = { country: "DE", continent: "EU" }; // -> "down": connection refused
const UNAVAILABLE = { country: "FR", continent: "EU" }; // -> "unavailable": 503
const HANGING = { country: "JP", continent: "AS" }; // -> "hanging": never answers
const ERRORING = { country: "BR", continent: "SA" }; // -> "erroring": 500

describe("failover", () => {
  let worker;
  let down;
  const origins = {};

  before(async () => {
    down = await closedOriginUrl();
    origins.unavailable = await startOrigin("unavailable", answer(503));
    origins.hanging = await startOrigin("hanging", neverAnswer);
    origins.erroring = await startOrigin("erroring", answer(500));
    origins.ok = await startOrigin("ok", answer(200));
    worker = await startWorker({
      ORIGINS: JSON.stringify({
        origins: {
          down: down.url,
          unavailable: origins.unavailable.url,
          hanging: origins.hanging.url,
          erroring: origins.erroring.url,
          ok: origins.ok.url,
        },
        countries: { DE: "down", FR: "unavailable", JP: "hanging", BR: "erroring" },
        default: "ok",
      }),
      ORIGIN_TIMEOUT_MS: String(TIMEOUT_MS),
    });
  });
  beforeEach(() => {
    for (const o of Object.values(origins)) o.reset();
  });
  after(async () => {
    await worker?.dispose();
    for (const o of Object.values(origins)) await o.close();
  });

  async function send(cf, init = {}) {
    const started = Date.now();
    const res = await worker.fetch("/orders?id=1", { ...init, cf });
    const body = await res.text();
    return { res, body, ms: Date.now() - started };
  }

  test("fails over when the nearest origin is down (connection refused)", async () => {
    const { res, body } = await send(DOWN);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("x-edge-origin"), "ok");
    assert.equal(body, "hello from ok (200)");
  });

  test("fails over when the nearest origin answers 503", async () => {
    const { res } = await send(UNAVAILABLE);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("x-edge-origin"), "ok");
    assert.equal(origins.unavailable.requests.length, 1);
    assert.equal(origins.ok.requests.length, 1);
  });

  test("fails over when the nearest origin times out", WAITS, async () => {
    const { res, ms } = await send(HANGING);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("x-edge-origin"), "ok");
    assert.equal(origins.hanging.requests.length, 1, "the hanging origin was tried first");
    assert.ok(ms >= TIMEOUT_MS - 50, `waited for the timeout (${ms} ms)`);
    assert.ok(ms < 5000, `did not wait much longer than the timeout (${ms} ms)`);
  });

  test("does not fail over on 500: the origin's answer is returned", async () => {
    const { res, body } = await send(ERRORING);
    assert.equal(res.status, 500);
    assert.equal(res.headers.get("x-edge-origin"), "erroring");
    assert.equal(body, "hello from erroring (500)");
    assert.equal(origins.ok.requests.length, 0);
  });

  test("re-sends a buffered body on failover (PUT after 503)", async () => {
    const { res } = await send(UNAVAILABLE, { method: "PUT", body: "same body twice" });
    assert.equal(res.headers.get("x-edge-origin"), "ok");
    assert.equal(origins.unavailable.requests[0].body.toString(), "same body twice");
    assert.equal(origins.ok.requests[0].body.toString(), "same body twice");
    assert.equal(origins.ok.requests[0].method, "PUT");
  });

  test("POST fails over on connection refused, body intact", async () => {
    const { res } = await send(DOWN, { method: "POST", body: '{"order":1}' });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("x-edge-origin"), "ok");
    assert.equal(origins.ok.requests[0].method, "POST");
    assert.equal(origins.ok.requests[0].body.toString(), '{"order":1}');
  });

  test("POST is not re-sent after a 503: the origin's answer is returned", async () => {
    const { res, body } = await send(UNAVAILABLE, { method: "POST", body: "x" });
    assert.equal(res.status, 503);
    assert.equal(res.headers.get("x-edge-origin"), "unavailable");
    assert.equal(body, "hello from unavailable (503)");
    assert.equal(origins.ok.requests.length, 0);
  });

  test("POST is not re-sent after a timeout: clean 502", WAITS, async () => {
    const { res, body } = await send(HANGING, { method: "POST", body: "x" });
    assert.equal(res.status, 502);
    assert.equal(res.headers.get("cache-control"), "no-store");
    assert.equal(body, "Bad Gateway\n");
    assert.equal(origins.hanging.requests.length, 1);
    assert.equal(origins.ok.requests.length, 0);
  });
});

describe("every origin down", () => {
  let worker;
  let closed;

  before(async () => {
    closed = [await closedOriginUrl(), await closedOriginUrl()];
    worker = await startWorker({
      ORIGINS: JSON.stringify({ origins: { eu: closed[0].url, na: closed[1].url }, default: "na" }),
    });
  });
  after(async () => {
    await worker?.dispose();
  });

  test("answers a clean 502 that reveals nothing about the origins", async () => {
    const res = await worker.fetch("/", { cf: { country: "DE", continent: "EU" } });
    assert.equal(res.status, 502);
    assert.equal(res.headers.get("cache-control"), "no-store");
    assert.equal(res.headers.get("x-edge-origin"), null);
    assert.equal(res.headers.get("content-type"), "text/plain; charset=utf-8");
    const body = await res.text();
    assert.equal(body, "Bad Gateway\n");
    const everything = body + JSON.stringify([...res.headers]);
    assert.ok(!everything.includes("127.0.0.1"), "no origin address");
    for (const { port } of closed) assert.ok(!everything.includes(String(port)), "no origin port");
  });
});

// Cloudflare answers for an origin it cannot get a response from with its own 52x statuses (520 unknown response,
// 521 refused, 522 connection timeout, 523 unreachable, 524 response timeout, 525 TLS handshake, 526 invalid
// certificate, 527 Railgun, 530 with a 1xxx error). Here each comes from a local origin standing in for that answer.
describe("Cloudflare's origin error statuses", () => {
  const STATUSES = [520, 521, 522, 523, 524, 525, 526, 527, 530];
  // Statuses that say Cloudflare never delivered the request: a POST can be sent elsewhere without acting twice.
  const NOT_DELIVERED = new Set([521, 523, 525, 526]);
  // Each status is the nearest origin of its own (made-up) country.
  const country = (status) => `X${String.fromCharCode(65 + STATUSES.indexOf(status))}`;
  let worker;
  let ok;
  const failing = {};

  before(async () => {
    ok = await startOrigin("ok", answer(200));
    for (const status of STATUSES) failing[status] = await startOrigin(`s${status}`, answer(status));
    worker = await startWorker({
      ORIGINS: JSON.stringify({
        origins: { ok: ok.url, ...Object.fromEntries(STATUSES.map((s) => [`s${s}`, failing[s].url])) },
        countries: Object.fromEntries(STATUSES.map((s) => [country(s), `s${s}`])),
        default: "ok",
      }),
    });
  });
  beforeEach(() => {
    ok.reset();
    for (const origin of Object.values(failing)) origin.reset();
  });
  after(async () => {
    await worker?.dispose();
    await ok?.close();
    for (const origin of Object.values(failing)) await origin.close();
  });

  for (const status of STATUSES) {
    test(`GET fails over on ${status}`, async () => {
      const res = await worker.fetch("/orders?id=1", { cf: { country: country(status), continent: "EU" } });
      assert.equal(await res.text(), "hello from ok (200)");
      assert.equal(res.status, 200);
      assert.equal(res.headers.get("x-edge-origin"), "ok");
      assert.equal(failing[status].requests.length, 1, "the nearest origin was tried first");
    });

    const delivered = !NOT_DELIVERED.has(status);
    test(`POST ${delivered ? "is not re-sent after" : "fails over on"} ${status}`, async () => {
      const res = await worker.fetch("/orders", {
        method: "POST",
        body: '{"order":1}',
        cf: { country: country(status), continent: "EU" },
      });
      await res.arrayBuffer();
      if (delivered) {
        assert.equal(res.status, status);
        assert.equal(res.headers.get("x-edge-origin"), `s${status}`);
        assert.equal(ok.requests.length, 0, "never sent twice");
      } else {
        assert.equal(res.status, 200);
        assert.equal(res.headers.get("x-edge-origin"), "ok");
        assert.equal(ok.requests[0].body.toString(), '{"order":1}');
      }
    });
  }
});
