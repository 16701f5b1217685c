/**
 * Platform edge Worker: geo-steered reverse proxy with origin failover.
 *
 * Bindings (all text; names are fixed, the Pulumi program uploads them):
 *   ORIGINS                  plain text, JSON, required (schema below)
 *   ORIGIN_TOKEN             secret, required; sent as X-Origin-Auth to every
 *                            origin not listed as external
 *   MAINTENANCE              plain text, optional; "true" (case-insensitive) turns
 *                            maintenance mode on, anything else means off
 *   MAINTENANCE_RETRY_AFTER  plain text, optional; Retry-After seconds, default 300
 *   CSP                      plain text, optional; Content-Security-Policy value,
 *                            default DEFAULT_CSP below
 *   ORIGIN_TIMEOUT_MS        plain text, optional; per-attempt timeout until the
 *                            origin's response headers arrive, default 10000
 *   HSTS                     plain text, optional; the Strict-Transport-Security
 *                            value, "max-age=N[; includeSubDomains][; preload]";
 *                            default (or malformed) DEFAULT_HSTS, without preload
 *
 * ORIGINS schema:
 *   {
 *     "origins":    { "<key>": "<base URL>", ... },  required, at least one entry
 *     "continents": { "<continent>": "<key>", ... }, optional
 *     "countries":  { "<country>": "<key>", ... },   optional, wins over continents
 *     "default":    "<key>",                         required
 *     "external":   ["<key>", ...],                  optional
 *     "passthrough": ["<hostname>", ...]             optional
 *   }
 *   - <key>: 1-32 chars of [a-z0-9_-]; it is what X-Edge-Origin reports.
 *   - <base URL>: absolute http(s) URL with no user info, path, query or fragment
 *     (a trailing "/" is fine), e.g. "https://eu.origin.example.com". The request
 *     path and query are appended to it unchanged. Use hostnames: Cloudflare
 *     refuses Worker fetches to bare IP addresses in production.
 *   - <continent>: a Cloudflare request.cf.continent code: AF AN AS EU NA OC SA.
 *   - <country>: a two-letter request.cf.country code, upper case (e.g. "GB").
 *   - every key referenced by continents, countries, default and external must
 *     exist in origins.
 *   - external: origins outside this platform; they never get X-Origin-Auth.
 *   - passthrough: hostnames whose requests go to the same URL instead of being
 *     steered (the Worker runs on their route; Cloudflare sends a same-zone
 *     fetch of a route's own hostname to the origin in DNS, not to the Worker).
 *   Example:
 *     {"origins": {"na": "https://us.origin.example.com",
 *                  "eu": "https://eu.origin.example.com",
 *                  "as": "https://asia.origin.example.com"},
 *      "continents": {"NA": "na", "SA": "na", "AN": "na", "EU": "eu", "AF": "eu",
 *                     "AS": "as", "OC": "as"},
 *      "countries": {"GB": "eu"},
 *      "default": "na"}
 *   A malformed ORIGINS (or a missing ORIGIN_TOKEN) fails closed: every proxied
 *   request and /healthz get a generic 500; the reason goes to the Worker log only.
 *
 * Requests, in order of precedence:
 *   /healthz       200 {"status":"ok"} from the edge, never proxied, also during
 *                  maintenance; 500 {"status":"error"} if the config is broken.
 *                  On a passthrough hostname it is proxied like any path: its
 *                  uptime check is meant for the service behind it.
 *   maintenance    503 HTML page with Retry-After for everything else (needs no
 *                  valid ORIGINS, so it can cover a broken config too).
 *   anything else  proxied. Bodies over MAX_BODY_BYTES get 413. The origin gets
 *                  X-Origin-Auth (unless external; client copies are dropped),
 *                  X-Visitor-IP (the CF-Connecting-IP Cloudflare gave the Worker;
 *                  client copies are dropped), X-Forwarded-Host,
 *                  X-Forwarded-Proto and X-Forwarded-For (client value, if any,
 *                  then CF-Connecting-IP). Origin redirects are not followed; a
 *                  Location pointing at the origin's own base URL is rewritten to
 *                  the public host. X-Edge-Origin names the origin key that answered.
 *
 * Origin selection and failover order:
 *   nearest = countries[cf.country] ?? continents[cf.continent] ?? default.
 *   Order tried: nearest, then default (if different), then every other key in
 *   ascending lexicographic order. The order does not depend on JSON key order.
 *
 * Failover policy (an attempt "fails" and the next origin is tried when):
 *   - idempotent methods (GET HEAD OPTIONS TRACE PUT DELETE): network error,
 *     timeout, or a 502/503/504 response, or one of the statuses Cloudflare
 *     itself returns for an origin it cannot get an answer from (520-527, 530).
 *     A 500 is the application's answer, not a sign the origin is unreachable,
 *     so it is returned as-is.
 *   - other methods (POST, PATCH, ...): when fetch() rejects before any
 *     response and not because of our timeout, or Cloudflare answers that it
 *     never delivered the request (521 refused, 523 unreachable, 525 TLS
 *     handshake failed, 526 invalid certificate). A timeout or any other
 *     response (520, 522, 524 included) may mean the origin already acted, so
 *     it is never re-sent.
 *     Caveat: the runtime reports "connection refused" and "connection lost
 *     after the request was sent" alike, so a non-idempotent request can, rarely,
 *     reach two origins; origins should de-duplicate (e.g. idempotency keys).
 *   If every attempt fails, the client gets a generic 502 with no detail.
 *
 * Everything the Worker returns, proxied or generated here, carries the
 * security headers below, replacing any the origin set (the edge owns the
 * policy); origin Server / X-Powered-By headers are removed.
 */

const DEFAULT_CSP =
  "default-src 'self'; frame-ancestors 'none'; base-uri 'self'; object-src 'none'";
const DEFAULT_TIMEOUT_MS = 10000;
// Preloading is near-irreversible, so it is only sent when the HSTS binding asks for it.
const DEFAULT_HSTS = "max-age=31536000; includeSubDomains";
const HSTS_RE = /^max-age=[0-9]{1,9}(; includeSubDomains)?(; preload)?$/;
// The header carrying the visitor's address to origins; the load balancer counts rate limits per visitor on it.
const VISITOR_IP_HEADER = "X-Visitor-IP";
const DEFAULT_RETRY_AFTER_S = 300;
// Request bodies are buffered so they can be re-sent on failover; past this
// size the request is refused (413) rather than held in isolate memory.
const MAX_BODY_BYTES = 10 * 1024 * 1024;

const IDEMPOTENT_METHODS = new Set(["GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"]);
// Cloudflare answers for the origin when it cannot get a response from it (developers.cloudflare.com, "Cloudflare
// 5xx errors"): 520 empty or unknown response, 521 connection refused, 522 connection timed out, 523 origin
// unreachable, 524 no response in time, 525 TLS handshake failed, 526 invalid origin certificate, 527 Railgun,
// 530 with a 1xxx error such as an origin DNS failure.
const FAILOVER_STATUSES = new Set([502, 503, 504, 520, 521, 522, 523, 524, 525, 526, 527, 530]);
// Of those, the ones that say the request never reached the origin: safe to re-send whatever the method.
const NOT_DELIVERED_STATUSES = new Set([521, 523, 525, 526]);
const CONTINENTS = new Set(["AF", "AN", "AS", "EU", "NA", "OC", "SA"]);
const KEY_RE = /^[a-z0-9_-]{1,32}$/;
const COUNTRY_RE = /^[A-Z]{2}$/;
const HOST_RE = /^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$/;

const SECURITY_HEADERS = {
  "X-Content-Type-Options": "nosniff",
  "X-Frame-Options": "DENY",
  "Referrer-Policy": "strict-origin-when-cross-origin",
  "Permissions-Policy":
    "accelerometer=(), camera=(), geolocation=(), gyroscope=(), magnetometer=(), " +
    "microphone=(), payment=(), usb=()",
};
const STRIPPED_RESPONSE_HEADERS = ["Server", "X-Powered-By"];

const MAINTENANCE_PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Down for maintenance</title></head>
<body><h1>Down for maintenance</h1><p>We will be back shortly. Please try again later.</p></body></html>
`;

// ---------------------------------------------------------------------------
// ORIGINS parsing. Bindings are fixed for the life of an isolate, so the result
// is cached per isolate, keyed by the raw text to stay correct if it differs.
let cachedConfig = { raw: undefined, config: null, error: null };

class ConfigError extends Error {}

function getConfig(env) {
  const raw = env.ORIGINS;
  if (cachedConfig.raw !== raw) {
    try {
      cachedConfig = { raw, config: parseOrigins(raw), error: null };
    } catch (err) {
      cachedConfig = { raw, config: null, error: err.message };
    }
  }
  if (cachedConfig.error) throw new ConfigError(cachedConfig.error);
  return cachedConfig.config;
}

function isPlainObject(value) {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function parseOrigins(raw) {
  if (typeof raw !== "string" || raw.trim() === "") throw new Error("ORIGINS is not set");
  let doc;
  try {
    doc = JSON.parse(raw);
  } catch {
    throw new Error("ORIGINS is not valid JSON");
  }
  if (!isPlainObject(doc)) throw new Error("ORIGINS must be a JSON object");
  for (const field of Object.keys(doc)) {
    if (!["origins", "continents", "countries", "default", "external", "passthrough"].includes(field)) {
      throw new Error(`ORIGINS has unknown field "${field}"`);
    }
  }

  if (!isPlainObject(doc.origins) || Object.keys(doc.origins).length === 0) {
    throw new Error("ORIGINS.origins must be a non-empty object");
  }
  const origins = new Map();
  for (const [key, value] of Object.entries(doc.origins)) {
    if (!KEY_RE.test(key)) throw new Error(`ORIGINS.origins key "${key}" is invalid`);
    origins.set(key, parseBaseUrl(key, value));
  }

  const refersToOrigin = (where, code, key) => {
    if (typeof key !== "string" || !origins.has(key)) {
      throw new Error(`ORIGINS.${where}["${code}"] does not name an origin`);
    }
  };
  const parseMap = (where, codeOk) => {
    const map = doc[where] ?? {};
    if (!isPlainObject(map)) throw new Error(`ORIGINS.${where} must be an object`);
    for (const [code, key] of Object.entries(map)) {
      if (!codeOk(code)) throw new Error(`ORIGINS.${where} has invalid code "${code}"`);
      refersToOrigin(where, code, key);
    }
    return map;
  };
  const continents = parseMap("continents", (c) => CONTINENTS.has(c));
  const countries = parseMap("countries", (c) => COUNTRY_RE.test(c));

  if (typeof doc.default !== "string" || !origins.has(doc.default)) {
    throw new Error("ORIGINS.default must name an origin");
  }
  const list = (where, itemOk) => {
    const items = doc[where] ?? [];
    if (!Array.isArray(items)) throw new Error(`ORIGINS.${where} must be an array`);
    for (const item of items) {
      if (!itemOk(item)) throw new Error(`ORIGINS.${where} has invalid entry ${JSON.stringify(item)}`);
    }
    return new Set(items);
  };
  const external = list("external", (key) => typeof key === "string" && origins.has(key));
  const passthrough = list("passthrough", (host) => typeof host === "string" && HOST_RE.test(host));
  return { origins, continents, countries, defaultKey: doc.default, external, passthrough };
}

function parseBaseUrl(key, value) {
  let url;
  try {
    url = new URL(value);
  } catch {
    throw new Error(`ORIGINS.origins["${key}"] is not a URL`);
  }
  const bad =
    !["http:", "https:"].includes(url.protocol) ||
    url.username !== "" ||
    url.password !== "" ||
    url.pathname !== "/" ||
    url.search !== "" ||
    url.hash !== "";
  if (bad) {
    throw new Error(
      `ORIGINS.origins["${key}"] must be a bare http(s) URL (no credentials, path, query or fragment)`,
    );
  }
  return url.origin; // e.g. "https://eu.origin.example.com" (no trailing slash)
}

function failoverOrder(config, cf) {
  const own = (map, code) => (typeof code === "string" && Object.hasOwn(map, code) ? map[code] : undefined);
  const nearest =
    own(config.countries, cf?.country) ?? own(config.continents, cf?.continent) ?? config.defaultKey;
  const rest = [...config.origins.keys()].filter((k) => k !== nearest && k !== config.defaultKey).sort();
  return [...new Set([nearest, config.defaultKey, ...rest])];
}

// ---------------------------------------------------------------------------
// Responses

/** The configured HSTS value; a missing or malformed binding falls back to the default, never to no header. */
function hsts(env) {
  const value = String(env.HSTS ?? "").trim();
  return HSTS_RE.test(value) ? value : DEFAULT_HSTS;
}

function withSecurityHeaders(response, env) {
  const headers = response.headers;
  headers.set("Strict-Transport-Security", hsts(env));
  for (const [name, value] of Object.entries(SECURITY_HEADERS)) headers.set(name, value);
  // An empty CSP binding counts as unset: never serve without a policy.
  headers.set("Content-Security-Policy", env.CSP && env.CSP.trim() ? env.CSP.trim() : DEFAULT_CSP);
  for (const name of STRIPPED_RESPONSE_HEADERS) headers.delete(name);
  return response;
}

function edgeResponse(env, status, body, contentType, extraHeaders = {}) {
  const response = new Response(body, {
    status,
    headers: { "Content-Type": contentType, "Cache-Control": "no-store", ...extraHeaders },
  });
  return withSecurityHeaders(response, env);
}

const jsonResponse = (env, status, obj) =>
  edgeResponse(env, status, JSON.stringify(obj) + "\n", "application/json; charset=utf-8");
const textResponse = (env, status, text) =>
  edgeResponse(env, status, text + "\n", "text/plain; charset=utf-8");

/** A positive decimal integer binding, or `fallback` if unset or malformed. */
function positiveInt(value, fallback) {
  const text = String(value ?? "").trim();
  return /^[1-9][0-9]{0,8}$/.test(text) ? Number(text) : fallback;
}

// ---------------------------------------------------------------------------
// Proxying

/** Reads the request body into memory, or returns null if it exceeds `limit`. */
async function readBody(request, limit) {
  if (!request.body) return undefined;
  if (Number(request.headers.get("Content-Length")) > limit) {
    await request.body.cancel();
    return null;
  }
  const reader = request.body.getReader();
  const chunks = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel();
      return null;
    }
    chunks.push(value);
  }
  const body = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    body.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return body;
}

function originRequestHeaders(request, url, env, withToken) {
  const headers = new Headers(request.headers);
  // Host comes from the origin URL (TLS and virtual hosting need it); framing
  // headers are recomputed for the buffered body.
  for (const name of ["Host", "Content-Length", "Transfer-Encoding"]) headers.delete(name);
  // Only the edge may authenticate to the origin, and only to this platform's
  // origins: drop whatever the client sent.
  headers.delete("X-Origin-Auth");
  if (withToken) headers.set("X-Origin-Auth", env.ORIGIN_TOKEN);
  headers.set("X-Forwarded-Host", url.host);
  headers.set("X-Forwarded-Proto", url.protocol.slice(0, -1));
  const clientIp = request.headers.get("CF-Connecting-IP");
  // Only the edge says who the visitor is: a client's own copy is dropped.
  headers.delete(VISITOR_IP_HEADER);
  if (clientIp) {
    headers.set(VISITOR_IP_HEADER, clientIp);
    // Entries before the last one are client-supplied and must not be trusted.
    const prior = request.headers.get("X-Forwarded-For");
    headers.set("X-Forwarded-For", prior ? `${prior}, ${clientIp}` : clientIp);
  }
  return headers;
}

/**
 * One attempt against one origin. Resolves to { response } or { error } where
 * error is "network" or "timeout". The timer only covers the wait for response
 * headers; it is cleared before the body streams to the client.
 */
async function attempt(target, init, timeoutMs) {
  const controller = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort();
  }, timeoutMs);
  try {
    return { response: await fetch(target, { ...init, signal: controller.signal }) };
  } catch {
    return { error: timedOut ? "timeout" : "network" };
  } finally {
    clearTimeout(timer);
  }
}

function shouldFailOver(result, idempotent) {
  if (result.error === "network") return true;
  if (result.error === "timeout") return idempotent;
  const status = result.response.status;
  return idempotent ? FAILOVER_STATUSES.has(status) : NOT_DELIVERED_STATUSES.has(status);
}

/** The origins to try, in order: a passthrough hostname goes to itself, anything else is steered. */
function targets(config, url, cf) {
  if (config.passthrough.has(url.hostname)) return [{ key: "passthrough", base: url.origin, external: false }];
  return failoverOrder(config, cf).map((key) => ({
    key,
    base: config.origins.get(key),
    external: config.external.has(key),
  }));
}

async function proxy(request, env, config) {
  const url = new URL(request.url);
  const method = request.method.toUpperCase();
  const idempotent = IDEMPOTENT_METHODS.has(method);

  let body;
  if (method !== "GET" && method !== "HEAD") {
    body = await readBody(request, MAX_BODY_BYTES);
    if (body === null) return textResponse(env, 413, "Payload Too Large");
  }
  const init = (target) => ({
    method,
    headers: originRequestHeaders(request, url, env, !target.external),
    body,
    redirect: "manual", // origin redirects go back to the client (see rewriteLocation)
  });
  const timeoutMs = positiveInt(env.ORIGIN_TIMEOUT_MS, DEFAULT_TIMEOUT_MS);

  for (const target of targets(config, url, request.cf)) {
    const { key, base } = target;
    const result = await attempt(base + url.pathname + url.search, init(target), timeoutMs);
    if (shouldFailOver(result, idempotent)) {
      // Free the connection of a discarded 5xx before trying the next origin.
      await result.response?.body?.cancel();
      console.warn(`origin ${key} failed (${result.error ?? result.response.status}), trying next`);
      continue;
    }
    if (result.error) break; // non-idempotent timeout: never re-sent
    const response = new Response(result.response.body, result.response);
    response.headers.set("X-Edge-Origin", key);
    rewriteLocation(response.headers, base, url);
    return withSecurityHeaders(response, env);
  }
  return textResponse(env, 502, "Bad Gateway");
}

/** An origin redirect to its own base URL must not reveal that URL to clients. */
function rewriteLocation(headers, base, publicUrl) {
  const location = headers.get("Location");
  if (!location) return;
  let target;
  try {
    target = new URL(location, base);
  } catch {
    return;
  }
  if (target.origin === base) {
    headers.set("Location", publicUrl.origin + target.pathname + target.search + target.hash);
  }
}

// ---------------------------------------------------------------------------

export default {
  async fetch(request, env, ctx) {
    try {
      return await handle(request, env);
    } catch (err) {
      // Without this the platform would answer with its own error page, which
      // lacks the security headers. The detail stays in the log.
      console.error(`unexpected error: ${err?.stack ?? err}`);
      return textResponse(env, 500, "Internal Server Error");
    }
  },
};

async function handle(request, env) {
  const url = new URL(request.url);

  let config;
  let configError = null;
  try {
    if (!env.ORIGIN_TOKEN) throw new ConfigError("ORIGIN_TOKEN is not set");
    config = getConfig(env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    configError = err.message;
  }

  const passthrough = config?.passthrough.has(url.hostname) ?? false;
  if (url.pathname === "/healthz" && !passthrough) {
    // Answered here, never proxied. Reports a broken edge configuration so a
    // monitor catches a bad deploy; maintenance mode does not make it fail.
    if (configError) {
      console.error(`edge misconfigured: ${configError}`);
      return jsonResponse(env, 500, { status: "error" });
    }
    return jsonResponse(env, 200, { status: "ok" });
  }

  // Maintenance wins over a broken config: the page needs no origin.
  if (String(env.MAINTENANCE ?? "").trim().toLowerCase() === "true") {
    const retryAfter = positiveInt(env.MAINTENANCE_RETRY_AFTER, DEFAULT_RETRY_AFTER_S);
    return edgeResponse(env, 503, MAINTENANCE_PAGE, "text/html; charset=utf-8", {
      "Retry-After": String(retryAfter),
    });
  }

  if (configError) {
    console.error(`edge misconfigured: ${configError}`);
    return textResponse(env, 500, "Internal Server Error");
  }
  return proxy(request, env, config);
}
