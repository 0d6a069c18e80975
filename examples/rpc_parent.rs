//! A Rust parent worker calling the logger's RPC entrypoint (`LoggerRpc`, README "From a worker,
//! over RPC"). workers-rs has no typed RPC client, so the binding is a JS object whose methods are
//! called through `js_sys`. Built (not run) by `cargo clippy --all-targets`, so the README's
//! snippet stays code that compiles; a real parent has it in its `#[event(fetch)]` handler.

use worker::js_sys::{Array, Function, Promise, Reflect};
use worker::wasm_bindgen::{JsCast, JsValue};
use worker::wasm_bindgen_futures::JsFuture;
use worker::Env;

/// Calls `method` of an RPC stub with `args` and waits for its answer.
async fn call(stub: &JsValue, method: &str, args: &[JsValue]) -> Result<JsValue, JsValue> {
    let f: Function = Reflect::get(stub, &method.into())?.dyn_into()?;
    let args: Array = args.iter().collect();
    JsFuture::from(f.apply(stub, &args)?.dyn_into::<Promise>()?).await
}

/// Logs one entry for the app whose key is the parent's `LOG_API_KEY` secret.
#[allow(dead_code)]
async fn log_payment_failure(env: &Env) -> worker::Result<()> {
    let logger: JsValue = Reflect::get(env.as_ref(), &"LOGGER".into())?;
    let key = env.secret("LOG_API_KEY")?.to_string();
    let stub = call(&logger, "forApp", &[key.into()]).await?;
    let context = worker::js_sys::JSON::parse(r#"{"order_id":"o-1"}"#)?;
    call(
        &stub,
        "log",
        &["error".into(), "payment failed".into(), context],
    )
    .await?;
    Ok(())
}

fn main() {}
