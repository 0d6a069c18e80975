// The logger's API, as the dashboard calls it: same origin (no CORS: the API sends no
// Access-Control headers, and needs none), paths relative to the page so the dashboard works
// wherever the logger is mounted, and the key in a header, never in a URL.
//
// The key lives in sessionStorage: per tab, gone when the tab closes, never sent by the browser
// on its own (so no cross-site request can use it, unlike a cookie).

const STORE = "d1-logger.session";

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** The signed-in session `{ key, kind: "app"|"admin", me }`, or null. */
export function session() {
  try {
    return JSON.parse(sessionStorage.getItem(STORE));
  } catch {
    return null;
  }
}

export function signOut() {
  sessionStorage.removeItem(STORE);
}

const headerFor = (kind, key) => (kind === "admin" ? { "X-Admin-Key": key } : { "X-API-Key": key });

/** Signs in with a key of either kind: tried as an app key first, then as the admin key. */
export async function signIn(key) {
  let last;
  for (const kind of ["app", "admin"]) {
    try {
      const me = await call("GET", "me", { headers: headerFor(kind, key) });
      const s = { key, kind, me };
      sessionStorage.setItem(STORE, JSON.stringify(s));
      return s;
    } catch (e) {
      if (e.status !== 401) throw e;
      last = e;
    }
  }
  throw last;
}

export const url = (path) => new URL(path, document.baseURI);

/** One API call: `path` relative to the page, `params` as the query string; the answer's `data`,
 *  or an ApiError with the logger's code and message. */
export async function call(method, path, { params, body, headers } = {}) {
  const s = session();
  const u = url(path);
  for (const [k, v] of params ?? []) u.searchParams.append(k, v);
  const h = { ...(s && !headers ? headerFor(s.kind, s.key) : {}), ...(headers ?? {}) };
  if (body !== undefined) h["Content-Type"] = "application/json";
  let resp;
  try {
    resp = await fetch(u, {
      method,
      headers: h,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "omit",
      cache: "no-store",
    });
  } catch (e) {
    throw new ApiError(0, "NETWORK", `the logger did not answer: ${e.message}`);
  }
  let answer;
  try {
    answer = await resp.json();
  } catch {
    throw new ApiError(resp.status, "NOT_JSON", `${method} ${u.pathname} answered ${resp.status} without JSON`);
  }
  if (!answer.ok) {
    const err = answer.error ?? {};
    throw new ApiError(resp.status, err.code ?? "UNKNOWN", err.message ?? `status ${resp.status}`);
  }
  return answer.data;
}

/** The `app_id` parameter reads need: the admin names the app, an app key reads its own. */
export const appParams = (app) => (session()?.kind === "admin" ? [["app_id", app]] : []);

/** The apps the session may read: every app for the admin (not those being deleted), else its own. */
export async function apps() {
  const s = session();
  if (s.kind !== "admin") return [s.me.app];
  const { apps } = await call("GET", "apps");
  return apps.filter((a) => !a.deleting_since).sort((a, b) => a.app_id.localeCompare(b.app_id));
}
