// A minimal parent worker that logs every request it serves through d1-logger.
//
// It answers its client at once and hands the log to the logger in ctx.waitUntil: the logger
// replies 200 only after the entry is durably buffered, so waitUntil covers the whole trip while
// the client never waits for logging.
//
// With FIXTURE_MODE = "true" (tests/fixtures/parent.toml only) it also serves as the end-to-end
// test fixture: the test client picks the log headers per request (X-Fixture-Log-* become
// X-Log-*), /_logger/* reaches the logger's own API through the binding, because one
// `wrangler dev` session serves only its first worker on the port, and /_logger_cron runs the
// logger's cron handler (retention) through the binding.

export default {
  async fetch(request, env, ctx) {
    const url = new URL(request.url);
    const fixture = env.FIXTURE_MODE === "true";

    if (fixture && url.pathname.startsWith("/_logger/")) {
      const target = new URL(url.pathname.slice("/_logger".length) + url.search, "https://logger");
      const forwarded = new Request(target, request);
      // A header the test wants the logger to see as sent, even one no HTTP client would send
      // (an impossible Content-Length).
      const lie = request.headers.get("x-fixture-content-length");
      if (lie !== null) {
        const headers = new Headers(forwarded.headers);
        headers.delete("x-fixture-content-length");
        headers.set("content-length", lie);
        return env.LOGGER.fetch(target, { method: request.method, headers, body: await request.text() });
      }
      return env.LOGGER.fetch(forwarded);
    }
    // A URL for the logger's health checks to check: answers with the status it names (a 3xx
    // redirects to /_status/200).
    if (fixture && url.pathname.startsWith("/_status/")) {
      const status = Number(url.pathname.slice("/_status/".length)) || 500;
      const headers = status >= 300 && status < 400 ? { location: "/_status/200" } : {};
      return new Response(`status ${status}`, { status, headers });
    }
    if (fixture && url.pathname === "/_logger_cron") {
      const result = await env.LOGGER.scheduled({ cron: url.searchParams.get("cron") ?? "17 * * * *" });
      return Response.json(result);
    }

    // The Tail Worker producers of the sessions that start them.
    for (const [prefix, producer] of [["/_producer_nb/", env.PRODUCER_NB], ["/_producer/", env.PRODUCER]]) {
      if (fixture && url.pathname.startsWith(prefix)) {
        const target = new URL(url.pathname.slice(prefix.length - 1) + url.search, "https://producer");
        return producer.fetch(new Request(target, request));
      }
    }
    // A call to the logger's RPC entrypoint, for the tests: {key, method, args} in, the result
    // (or the error's message, which starts with the logger's code) out.
    if (fixture && url.pathname === "/_rpc") {
      const { key, method, args } = await request.json();
      try {
        const data = await env.LOGGER_RPC.forApp(key)[method](...args);
        return Response.json({ ok: true, data });
      } catch (e) {
        return Response.json({ ok: false, error: String(e.message) }, { status: 400 });
      }
    }

    // A call to the logger's trusted LoggerService entrypoint: {method, args} in (the app id
    // first among the args, as the worker-logs design has it), the result or the error out.
    if (fixture && url.pathname === "/_service") {
      const { method, args } = await request.json();
      try {
        const data = await env.LOGGER_SERVICE[method](...args);
        return Response.json({ ok: true, data });
      } catch (e) {
        return Response.json({ ok: false, error: String(e.message) }, { status: 400 });
      }
    }

    const response = Response.json({ ok: true, served: url.pathname });
    // The fixture logs only the requests a test asked it to log.
    if (!fixture || request.headers.has("x-fixture-log-key")) {
      ctx.waitUntil(forwardToLogger(request, env, fixture, response.status));
    }
    return response;
  },
};

async function forwardToLogger(request, env, fixture, status) {
  // Over RPC (entrypoint "LoggerRpc"): the request itself, and what to log about it.
  if (env.LOGGER_RPC && (!fixture || request.headers.has("x-fixture-rpc"))) {
    return logOverRpc(request, env, fixture, status);
  }
  const headers = new Headers(request.headers);
  if (fixture) {
    for (const [name, value] of request.headers) {
      if (name.startsWith("x-fixture-log-")) {
        headers.set("x-log-" + name.slice("x-fixture-log-".length), value);
        headers.delete(name);
      }
    }
  } else {
    headers.set("X-Log-Key", env.LOG_API_KEY);
    headers.set("X-Log-Data", JSON.stringify({ status }));
    if (status >= 500) headers.set("X-Log-Level", "ERROR");
  }
  // Same method, URL, headers, body and `cf` as the original, plus the log headers.
  const forwarded = new Request(request, { headers });
  try {
    const res = await env.LOGGER.fetch(forwarded);
    if (res.status !== 200) console.error("d1-logger refused a log:", res.status, await res.text());
  } catch (err) {
    console.error("d1-logger unreachable:", err);
  }
}

async function logOverRpc(request, env, fixture, status) {
  let key = env.LOG_API_KEY;
  let what = { data: { status }, level: status >= 500 ? "ERROR" : undefined };
  if (fixture) {
    // The test's own fields, and a request without the fixture's headers (as the fetch path).
    key = request.headers.get("x-fixture-log-key");
    const data = request.headers.get("x-fixture-log-data");
    what = {
      level: request.headers.get("x-fixture-log-level") ?? undefined,
      message: request.headers.get("x-fixture-log-message") ?? undefined,
      data: data ? JSON.parse(data) : undefined,
    };
    const headers = new Headers(request.headers);
    for (const [name] of request.headers) if (name.startsWith("x-fixture-")) headers.delete(name);
    request = new Request(request, { headers });
  }
  try {
    await env.LOGGER_RPC.forApp(key).logRequest(request, what);
  } catch (err) {
    console.error("d1-logger refused a log:", err.message);
  }
}
