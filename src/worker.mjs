// The worker's entry module: the classes the runtime calls, each handing straight to the Rust
// build (build/index.js, made by wasm-bindgen in scripts/lib.sh). No logic lives here.
//
// It exists for two reasons. The runtime offers JS RPC only on a class that extends
// `DurableObject`, and an RPC call to a LogBatcher costs a fraction of a `fetch` to it (no
// Request, Response or headers on either side; a third of the cost of a forwarded log locally).
// Each method passes its arguments through unchanged: requests and replies are JSON text whose
// types are defined once, in the object's `protocol` module (src/batch/log_batcher/protocol.rs,
// src/read/tail_hub/protocol.rs, src/read/health_checker/protocol.rs,
// src/platform/usage_meter/protocol.rs). And with it, the build
// needs no separate build tool: wasm-bindgen's output plus these few classes is the whole worker.
//
// After a Rust panic (panic=abort traps), the bindings start a fresh wasm instance on the next
// call, and `state.instanceId` moves on; a Durable Object then builds its Rust half again (it
// reloads what it needs from its storage), instead of calling into the dead instance.
import { DurableObject, RpcTarget, WorkerEntrypoint } from "cloudflare:workers";
import * as rust from "../build/index.js";

const state = rust.__worker_init_state();

export default class Worker extends WorkerEntrypoint {
  fetch(request) {
    return rust.fetch(request, this.env, this.ctx);
  }
  scheduled(event) {
    return rust.scheduled(event, this.env, this.ctx);
  }
  // A Tail Worker producer's trace items (src/http/tail_worker.rs, src/ingest/tail_worker.rs).
  tail(events) {
    return rust.tail(events, this.env);
  }
}

// RPC for parent workers (src/http/rpc.rs): a parent binds `entrypoint = "LoggerRpc"` and
// calls `env.LOGGER.forApp(key)` (its app key, a secret of the parent) for a stub that acts for
// that key's app: `await env.LOGGER.forApp(env.LOG_API_KEY).log("info", "hi")`. Each method hands
// its arguments to Rust as they came.
export class LoggerRpc extends WorkerEntrypoint {
  forApp(key) {
    return new AppLogger(this.env, this.ctx, key);
  }
}

class AppLogger extends RpcTarget {
  #env;
  #ctx;
  #key;
  constructor(env, ctx, key) {
    super();
    [this.#env, this.#ctx, this.#key] = [env, ctx, key];
  }
  #call(method, args) {
    return rust.rpc(this.#env, this.#ctx, this.#key, method, args);
  }
  log(...args) {
    return this.#call("log", args);
  }
  logBatch(...args) {
    return this.#call("logBatch", args);
  }
  logRequest(...args) {
    return this.#call("logRequest", args);
  }
  query(...args) {
    return this.#call("query", args);
  }
  stats(...args) {
    return this.#call("stats", args);
  }
}

// The worker-logs design's RPC interface, for trusted bindings: any worker bound to it writes and
// reads any app by its id, with no key (`log(app_id, level, message, context?)`,
// `logBatch(app_id, logs)`, `query(app_id, filters?)`). It refuses every call unless the var
// RPC_SERVICE_ENABLED is true (src/http/rpc.rs); LoggerRpc.forApp(key) is the keyed alternative.
export class LoggerService extends WorkerEntrypoint {
  #call(method, args) {
    return rust.rpc_service(this.env, this.ctx, method, args);
  }
  log(...args) {
    return this.#call("log", args);
  }
  logBatch(...args) {
    return this.#call("logBatch", args);
  }
  query(...args) {
    return this.#call("query", args);
  }
}

// A `DurableObject` class around the Rust object `Rust`: its Rust half, built again when the
// wasm instance was replaced, and `fetch`. Each class below adds the calls its object answers.
function rustObject(Rust) {
  return class extends DurableObject {
    get rust() {
      if (this.instance !== state.instanceId) {
        this.inner = new Rust(this.ctx, this.env);
        this.instance = state.instanceId;
      }
      return this.inner;
    }
    fetch(request) {
      return this.rust.fetch(request);
    }
  };
}

export class LogBatcher extends rustObject(rust.LogBatcher) {
  alarm(info) {
    return this.rust.alarm(info);
  }
  ingest(body, request) {
    return this.rust.ingest(body, request);
  }
  status() {
    return this.rust.status();
  }
}

export class HealthChecker extends rustObject(rust.HealthChecker) {
  alarm(info) {
    return this.rust.alarm(info);
  }
  start(request) {
    return this.rust.start(request);
  }
  stop() {
    return this.rust.stop();
  }
}

export class UsageMeter extends rustObject(rust.UsageMeter) {
  alarm(info) {
    return this.rust.alarm(info);
  }
  record(request) {
    return this.rust.record(request);
  }
  totals() {
    return this.rust.totals();
  }
}

export class TailHub extends rustObject(rust.TailHub) {
  webSocketMessage(ws, message) {
    return this.rust.webSocketMessage(ws, message);
  }
  webSocketClose(ws, code, reason, wasClean) {
    return this.rust.webSocketClose(ws, code, reason, wasClean);
  }
  webSocketError(ws, error) {
    return this.rust.webSocketError(ws, error);
  }
  active() {
    return this.rust.active();
  }
  publish(rows) {
    return this.rust.publish(rows);
  }
  revoke(request) {
    return this.rust.revoke(request);
  }
}
