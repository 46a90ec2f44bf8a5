// api.js - the JSON API under /api/v1/ and the signed-in session. The CSRF token
// lives only in this module's memory (never in storage) and goes with every POST.
import { t } from "./i18n.js";

// How long a call may take before the page says the console did not answer.
const TIMEOUT_MS = 30000;

// The signed-in account: {user, role, csrf, approvals}, or null.
export const session = { current: null };

let onUnauthorized = () => {};

// An answer other than 2xx: status and the server's message.
export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

// Called with the error when a call answers 401 (not signed in, session expired).
export function setUnauthorizedHandler(fn) {
  onUnauthorized = fn;
}

// A query string from an object, leaving out empty values.
export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {}))
    if (v !== null && v !== undefined && v !== "") q.set(k, String(v));
  const s = q.toString();
  return s ? "?" + s : "";
}

// One call; resolves to the parsed JSON body, rejects with an ApiError.
async function call(method, path, body) {
  const headers = { Accept: "application/json" };
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), TIMEOUT_MS);
  const opts = { method, headers, credentials: "same-origin", cache: "no-store", signal: abort.signal };
  if (method === "POST") {
    headers["Content-Type"] = "application/json";
    if (session.current) headers["X-CSRF-Token"] = session.current.csrf;
    opts.body = JSON.stringify(body || {});
  }
  let res;
  let data = null;
  try {
    res = await fetch("/api/v1/" + path, opts);
    data = await res.json().catch(() => null);
  } catch (e) {
    throw new ApiError(0, t("unreachable"));
  } finally {
    clearTimeout(timer);
  }
  if (res.ok) return data;
  const err = new ApiError(res.status, (data && data.error) || res.status + " " + res.statusText);
  if (res.status === 401 && path !== "login") {
    session.current = null;
    onUnauthorized(err);
  }
  throw err;
}

// GET path with params as the query string.
export function get(path, params) {
  return call("GET", path + query(params));
}

// POST body (an object) to path.
export function post(path, body) {
  return call("POST", path, body);
}

// Sign in; keeps the session (CSRF token included) in memory.
export async function login(user, password) {
  const r = await post("login", { user, password });
  session.current = { user: r.user, role: r.role, csrf: r.csrf, approvals: r.approvals || 2 };
  try {
    await me();
  } catch (e) {
    // The sign-in answer is enough to go on; approvals keeps its default.
  }
  return session.current;
}

// Who is signed in (also how the page finds an existing session at load).
export async function me() {
  const r = await get("me");
  session.current = { user: r.user, role: r.role, csrf: r.csrf, approvals: r.approvals || 2 };
  return session.current;
}

// Sign out and forget the session, whatever the server answers.
export async function logout() {
  try {
    await post("logout");
  } finally {
    session.current = null;
  }
}

// True when the signed-in role may make requests (reviewer, admin).
export function canRequest() {
  const s = session.current;
  return !!s && (s.role === "reviewer" || s.role === "admin");
}

// True when the signed-in role is admin (approvals, users).
export function isAdmin() {
  return !!session.current && session.current.role === "admin";
}
