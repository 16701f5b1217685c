// Shared test fixtures: the Worker running in workerd (via miniflare) and real
// HTTP origins on 127.0.0.1. Not a test file itself (no ".test." in its name).
import http from "node:http";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { Miniflare } from "miniflare";

// Resolved from this file, so the tests work from any working directory.
export const WORKER_PATH = fileURLToPath(new URL("../worker.js", import.meta.url));
// The Pulumi side should deploy with the same compatibility date.
export const COMPATIBILITY_DATE = "2026-04-01";
export const PUBLIC_ORIGIN = "https://www.example.com";
export const TOKEN = "test-origin-token-5f1c";
export const DEFAULT_CSP =
  "default-src 'self'; frame-ancestors 'none'; base-uri 'self'; object-src 'none'";

/**
 * Starts the Worker with the given bindings. Runtime stdout/stderr (the
 * Worker's console output) is captured rather than printed, see `logs()`.
 */
export async function startWorker(bindings) {
  const output = [];
  const mf = new Miniflare({
    modules: true,
    scriptPath: WORKER_PATH,
    modulesRoot: dirname(WORKER_PATH),
    compatibilityDate: COMPATIBILITY_DATE,
    // Use miniflare's built-in placeholder request.cf instead of downloading
    // one; each test passes the geo fields it needs.
    cf: false,
    bindings: { ORIGIN_TOKEN: TOKEN, ...bindings },
    handleRuntimeStdio(stdout, stderr) {
      stdout.on("data", (chunk) => output.push(String(chunk)));
      stderr.on("data", (chunk) => output.push(String(chunk)));
    },
  });
  await mf.ready;
  return {
    mf,
    /** dispatchFetch with a path relative to the public site. */
    fetch: (path, init = {}) => mf.dispatchFetch(new URL(path, PUBLIC_ORIGIN), init),
    logs: () => output.join(""),
    /** Resolves once the Worker's console output contains `text` (it arrives asynchronously). */
    async waitForLog(text, timeoutMs = 2000) {
      const deadline = Date.now() + timeoutMs;
      while (!output.join("").includes(text)) {
        if (Date.now() > deadline) throw new Error(`no log line containing ${JSON.stringify(text)}`);
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    },
    dispose: () => mf.dispose(),
  };
}

/**
 * Starts an origin on 127.0.0.1 on an ephemeral port. Every request is recorded
 * (method, url, headers, body) before `handler(req, res, record)` answers it.
 * The default handler answers 200 with a text body naming the origin.
 * `hits` (optional, shared between origins) gets the origin's name per request.
 */
export async function startOrigin(name, handler = answer(200), hits = null) {
  const requests = [];
  const server = http.createServer(async (req, res) => {
    const chunks = [];
    for await (const chunk of req) chunks.push(chunk);
    const record = { method: req.method, url: req.url, headers: req.headers, body: Buffer.concat(chunks) };
    requests.push(record);
    hits?.push(name);
    handler(req, res, record, name);
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address();
  return {
    name,
    port,
    url: `http://127.0.0.1:${port}`,
    requests,
    reset: () => (requests.length = 0),
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections(); // also ends requests left unanswered
        server.close(() => resolve());
      }),
  };
}

/** Handler answering `status` with a body naming the origin, plus origin-ish headers. */
export function answer(status, extraHeaders = {}) {
  return (req, res, record, name) => {
    res.writeHead(status, {
      "Content-Type": "text/plain",
      Server: "nginx/1.25.3",
      "X-Powered-By": "Express",
      ...extraHeaders,
    });
    res.end(`hello from ${name} (${status})`);
  };
}

/** Handler that never answers: the connection stays open until close(). */
export const neverAnswer = () => {};

/** A base URL on 127.0.0.1 where nothing listens (connection refused). */
export async function closedOriginUrl() {
  const server = http.createServer();
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return { port, url: `http://127.0.0.1:${port}` };
}

// The Worker's HSTS value without an HSTS binding: no preload, which is opt-in.
export const DEFAULT_HSTS = "max-age=31536000; includeSubDomains";
// The HSTS binding the dev stack uploads (edge.hsts with preload: false); tests/test_edge.py checks the program
// uploads exactly this value.
export const DEV_HSTS = "max-age=31536000; includeSubDomains";

export const SECURITY_HEADERS = {
  "strict-transport-security": DEFAULT_HSTS,
  "x-content-type-options": "nosniff",
  "x-frame-options": "DENY",
  "referrer-policy": "strict-origin-when-cross-origin",
};

/** Asserts the edge security headers (and the expected CSP) are on `response`. */
export function assertSecurityHeaders(assert, response, csp = DEFAULT_CSP) {
  for (const [name, value] of Object.entries(SECURITY_HEADERS)) {
    assert.equal(response.headers.get(name), value, name);
  }
  const permissions = response.headers.get("permissions-policy");
  assert.ok(permissions && permissions.includes("camera=()"), "permissions-policy");
  assert.equal(response.headers.get("content-security-policy"), csp);
}
