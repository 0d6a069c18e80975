//! Shell: request bodies sent compressed (`Content-Encoding: gzip` or `deflate`, as OpenTelemetry
//! exporters, Loki clients and log shippers send them), decompressed by the runtime's own
//! `DecompressionStream`, so the wasm bundle carries no inflate code. The output is read chunk
//! by chunk and given up on past `max` bytes: a small body that inflates to gigabytes (a zip
//! bomb) costs at most `max`.

use crate::platform::error::PlatformError;
use futures::future::join;
use js_sys::{Reflect, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use worker::wasm_bindgen_futures::JsFuture;

#[wasm_bindgen]
extern "C" {
    type DecompressionStream;
    #[wasm_bindgen(constructor, catch)]
    fn new(format: &str) -> Result<DecompressionStream, JsValue>;
    #[wasm_bindgen(method, getter)]
    fn readable(this: &DecompressionStream) -> worker::web_sys::ReadableStream;
    #[wasm_bindgen(method, getter)]
    fn writable(this: &DecompressionStream) -> worker::web_sys::WritableStream;
}

fn invalid(format: &str, e: JsValue) -> PlatformError {
    let why = e
        .dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .unwrap_or_else(|| format!("{e:?}"));
    PlatformError::BadBody(format!(
        "Content-Encoding: {format}: the body does not decompress ({why})"
    ))
}

/// `body` decompressed from `format` ("gzip" or "deflate"); `PAYLOAD_TOO_LARGE` past `max`.
pub async fn decompress(body: &[u8], format: &str, max: usize) -> Result<Vec<u8>, PlatformError> {
    let stream = DecompressionStream::new(format).map_err(|e| invalid(format, e))?;
    let writer = stream
        .writable()
        .get_writer()
        .map_err(|e| invalid(format, e))?;
    let reader: worker::web_sys::ReadableStreamDefaultReader =
        stream.readable().get_reader().unchecked_into();
    let chunk = Uint8Array::from(body);
    // Written and read at once: the stream holds little, so writing all before reading could
    // wait forever on a large body.
    let write = async {
        JsFuture::from(writer.write_with_chunk(&chunk)).await?;
        JsFuture::from(writer.close()).await
    };
    let read = async {
        let js = |e: JsValue| invalid(format, e);
        let mut out = Vec::new();
        loop {
            let step = JsFuture::from(reader.read()).await.map_err(js)?;
            if Reflect::get(&step, &"done".into()).map_err(js)?.is_truthy() {
                return Ok(out);
            }
            let bytes: Uint8Array = Reflect::get(&step, &"value".into())
                .map_err(js)?
                .unchecked_into();
            let size = out.len() + bytes.length() as usize;
            if size > max {
                let _ = reader.cancel();
                return Err(PlatformError::BodyTooLarge { size, limit: max });
            }
            out.extend(bytes.to_vec());
        }
    };
    // A failed write (a corrupt body) fails the read too, which says why.
    let (_, read) = join(write, read).await;
    read
}
