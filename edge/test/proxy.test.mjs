// Proxying: what reaches the origin and what the client gets back.
import assert from "node:assert/strict";
import { after, before, beforeEach, describe, test } from "node:test";
import {
  PUBLIC_ORIGIN,
  TOKEN,
  answer,
  assertSecurityHeaders,
  startOrigin,
  startWorker,
} from "./helpers.mjs";

const EU = { country: "DE", continent: "EU" };

describe("proxying", () => {
  let origin;
  let worker;
  // Per-test origin behaviour; the default answers 200.
  let respond;

  before(async () => {
    origin = await startOrigin("eu", (...args) => respond(...args));
    worker = await startWorker({
      ORIGINS: JSON.stringify({ origins: { eu: origin.url }, default: "eu" }),
    });
  });
  beforeEach(() => {
    origin.reset();
    respond = answer(200);
  });
  after(async () => {
    await worker?.dispose();
    await origin?.close();
  });

  test("preserves method, path, query string and body", async () => {
    const body = Buffer.from([0, 1, 2, 250, 255, ...Buffer.from("payload ü")]);
    const res = await worker.fetch("/api/items/42?q=a%20b&x=1&x=2", {
      method: "POST",
      body,
      headers: { "Content-Type": "application/octet-stream" },
      cf: EU,
    });
    assert.equal(res.status, 200);
    assert.equal(await res.text(), "hello from eu (200)");
    assert.equal(origin.requests.length, 1);
    const seen = origin.requests[0];
    assert.equal(seen.method, "POST");
    assert.equal(seen.url, "/api/items/42?q=a%20b&x=1&x=2");
    assert.deepEqual(seen.body, body);
    assert.equal(seen.headers["content-type"], "application/octet-stream");
    assert.equal(seen.headers["content-length"], String(body.length));
  });

  test("preserves other methods (PUT, DELETE, HEAD)", async () => {
    for (const method of ["PUT", "DELETE", "HEAD"]) {
      const res = await worker.fetch("/thing?id=7", {
        method,
        body: method === "PUT" ? "new value" : undefined,
        cf: EU,
      });
      assert.equal(res.status, 200, method);
      await res.arrayBuffer();
    }
    assert.deepEqual(
      origin.requests.map((r) => [r.method, r.url, r.body.toString()]),
      [
        ["PUT", "/thing?id=7", "new value"],
        ["DELETE", "/thing?id=7", ""],
        ["HEAD", "/thing?id=7", ""],
      ],
    );
  });

  test("sets X-Forwarded-Host, X-Forwarded-Proto and appends to X-Forwarded-For", async () => {
    const res = await worker.fetch("/", {
      headers: { "CF-Connecting-IP": "203.0.113.9", "X-Forwarded-For": "198.51.100.7" },
      cf: EU,
    });
    await res.arrayBuffer();
    const seen = origin.requests[0].headers;
    assert.equal(seen["x-forwarded-host"], "www.example.com");
    assert.equal(seen["x-forwarded-proto"], "https");
    assert.equal(seen["x-forwarded-for"], "198.51.100.7, 203.0.113.9");
  });

  test("sets X-Forwarded-For to CF-Connecting-IP when the client sent none", async () => {
    const res = await worker.fetch("/", { headers: { "CF-Connecting-IP": "203.0.113.9" }, cf: EU });
    await res.arrayBuffer();
    assert.equal(origin.requests[0].headers["x-forwarded-for"], "203.0.113.9");
  });

  test("tells the origin the visitor's address in X-Visitor-IP, whatever the client claims", async () => {
    const res = await worker.fetch("/", {
      headers: { "CF-Connecting-IP": "203.0.113.9", "X-Visitor-IP": "198.51.100.66" },
      cf: EU,
    });
    await res.arrayBuffer();
    assert.equal(origin.requests[0].headers["x-visitor-ip"], "203.0.113.9");
  });

  test("replaces a client's X-Visitor-IP even when the client sent no CF-Connecting-IP", async () => {
    // The runtime always sets CF-Connecting-IP on the incoming request (miniflare: the local address).
    const res = await worker.fetch("/", { headers: { "X-Visitor-IP": "198.51.100.66" }, cf: EU });
    await res.arrayBuffer();
    assert.equal(origin.requests[0].headers["x-visitor-ip"], "127.0.0.1");
  });

  test("sends Host of the origin itself, not the public host", async () => {
    const res = await worker.fetch("/", { cf: EU });
    await res.arrayBuffer();
    assert.equal(origin.requests[0].headers.host, `127.0.0.1:${origin.port}`);
  });

  test("sends X-Origin-Auth from the secret", async () => {
    const res = await worker.fetch("/", { cf: EU });
    await res.arrayBuffer();
    assert.equal(origin.requests[0].headers["x-origin-auth"], TOKEN);
  });

  test("does not forward a client-supplied X-Origin-Auth", async () => {
    const res = await worker.fetch("/", {
      headers: { "X-Origin-Auth": "forged-by-client" },
      cf: EU,
    });
    await res.arrayBuffer();
    const seen = origin.requests[0];
    assert.equal(seen.headers["x-origin-auth"], TOKEN);
    assert.ok(!JSON.stringify(seen.headers).includes("forged-by-client"));
  });

  test("adds security headers and the default CSP to proxied responses", async () => {
    // The origin's own weaker values must be replaced, not kept.
    respond = answer(200, { "X-Frame-Options": "SAMEORIGIN", "Content-Security-Policy": "default-src *" });
    const res = await worker.fetch("/", { cf: EU });
    await res.arrayBuffer();
    assertSecurityHeaders(assert, res);
  });

  test("strips Server and X-Powered-By and names the origin key in X-Edge-Origin", async () => {
    const res = await worker.fetch("/", { cf: EU });
    await res.arrayBuffer();
    assert.equal(res.headers.get("server"), null);
    assert.equal(res.headers.get("x-powered-by"), null);
    assert.equal(res.headers.get("x-edge-origin"), "eu");
  });

  test("passes origin status, headers and body through", async () => {
    respond = answer(404, { "Cache-Control": "public, max-age=60", "X-App": "kept" });
    const res = await worker.fetch("/missing", { cf: EU });
    assert.equal(res.status, 404);
    assert.equal(res.headers.get("cache-control"), "public, max-age=60");
    assert.equal(res.headers.get("x-app"), "kept");
    assert.equal(await res.text(), "hello from eu (404)");
  });

  test("does not follow origin redirects, and hides the origin URL in Location", async () => {
    respond = (req, res) => {
      const to = req.url === "/away" ? "https://accounts.example.net/login" : `${origin.url}/login?next=%2Fa`;
      res.writeHead(302, { Location: to });
      res.end();
    };
    const res = await worker.fetch("/a", { cf: EU, redirect: "manual" });
    assert.equal(res.status, 302);
    assert.equal(res.headers.get("location"), `${PUBLIC_ORIGIN}/login?next=%2Fa`);
    assert.equal(origin.requests.length, 1, "the redirect was not followed");

    const away = await worker.fetch("/away", { cf: EU, redirect: "manual" });
    assert.equal(away.status, 302);
    assert.equal(away.headers.get("location"), "https://accounts.example.net/login");
  });

  test("refuses a request body over the buffering limit with 413, origin not hit", async () => {
    const res = await worker.fetch("/upload", {
      method: "POST",
      body: Buffer.alloc(10 * 1024 * 1024 + 1, 97),
      cf: EU,
    });
    assert.equal(res.status, 413);
    await res.arrayBuffer();
    assertSecurityHeaders(assert, res);
    assert.equal(origin.requests.length, 0);
  });
});

describe("origins outside the platform", () => {
  let own;
  let external;
  let worker;

  before(async () => {
    own = await startOrigin("eu");
    external = await startOrigin("partner");
    worker = await startWorker({
      ORIGINS: JSON.stringify({
        origins: { eu: own.url, partner: external.url },
        countries: { US: "partner" },
        default: "eu",
        external: ["partner"],
      }),
    });
  });
  after(async () => {
    await worker?.dispose();
    await own?.close();
    await external?.close();
  });

  test("never receive the origin token, not even a client's copy", async () => {
    const res = await worker.fetch("/", {
      headers: { "X-Origin-Auth": "forged-by-client", "CF-Connecting-IP": "203.0.113.9" },
      cf: { country: "US", continent: "NA" },
    });
    await res.arrayBuffer();
    assert.equal(res.headers.get("x-edge-origin"), "partner");
    const seen = external.requests[0].headers;
    assert.equal(seen["x-origin-auth"], undefined);
    assert.ok(!JSON.stringify(seen).includes(TOKEN));
    assert.equal(seen["x-visitor-ip"], "203.0.113.9");
  });

  test("the platform's own origins still do", async () => {
    const res = await worker.fetch("/", { cf: EU });
    await res.arrayBuffer();
    assert.equal(own.requests[0].headers["x-origin-auth"], TOKEN);
  });
});

describe("passthrough hostnames", () => {
  // The Worker on a route of a load balancer hostname (api.*) sends the request on to that same hostname. Here the
  // request's host is the local origin itself, standing in for the hostname Cloudflare resolves to the origin.
  let steered;
  let self;
  let worker;

  before(async () => {
    steered = await startOrigin("eu");
    self = await startOrigin("api");
    worker = await startWorker({
      ORIGINS: JSON.stringify({ origins: { eu: steered.url }, default: "eu", passthrough: ["127.0.0.1"] }),
    });
  });
  after(async () => {
    await worker?.dispose();
    await steered?.close();
    await self?.close();
  });

  test("go to their own URL with the origin token and the visitor's address, not to the steered origins", async () => {
    const res = await worker.mf.dispatchFetch(`${self.url}/v1/orders?id=7`, {
      method: "POST",
      body: "x",
      headers: { "CF-Connecting-IP": "203.0.113.9", "X-Visitor-IP": "198.51.100.66" },
      cf: EU,
    });
    assert.equal(await res.text(), "hello from api (200)");
    assert.equal(res.headers.get("x-edge-origin"), "passthrough");
    assert.equal(steered.requests.length, 0);
    const seen = self.requests[0];
    assert.equal(seen.url, "/v1/orders?id=7");
    assert.equal(seen.method, "POST");
    assert.equal(seen.headers["x-origin-auth"], TOKEN);
    assert.equal(seen.headers["x-visitor-ip"], "203.0.113.9");
    assertSecurityHeaders(assert, res);
  });

  test("their /healthz is the service's, not the edge's", async () => {
    const res = await worker.mf.dispatchFetch(`${self.url}/healthz`, { cf: EU });
    assert.equal(await res.text(), "hello from api (200)");
    assert.equal(self.requests.at(-1).url, "/healthz");
  });

  test("other hostnames are still steered", async () => {
    const res = await worker.fetch("/", { cf: EU });
    await res.arrayBuffer();
    assert.equal(res.headers.get("x-edge-origin"), "eu");
  });
});
