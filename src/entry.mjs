// The worker's entry module: what worker-build generated from the Rust crate (build/index.js),
// plus the one thing it cannot give a Rust Durable Object. The runtime offers JS RPC only on a
// class that extends `DurableObject`, and an RPC call to a LogBatcher costs a fraction of a
// `fetch` to it (no Request, Response or headers on either side; a third of the cost of a
// forwarded log locally). So `LogBatcher` here is that class, and every call goes straight to
// the Rust object: `ingest` is `LogBatcher::ingest_rpc` in src/log_batcher.rs. No logic lives
// here.
import { DurableObject } from "cloudflare:workers";
import worker, { LogBatcher as RustLogBatcher } from "../build/index.js";

export default worker;

export class LogBatcher extends DurableObject {
  constructor(ctx, env) {
    super(ctx, env);
    this.rust = new RustLogBatcher(ctx, env);
  }
  fetch(request) {
    return this.rust.fetch(request);
  }
  alarm(info) {
    return this.rust.alarm(info);
  }
  ingest(body, query) {
    return this.rust.ingest(body, query);
  }
}
