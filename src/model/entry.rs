//! The log entry: one enriched, validated record, and its row encoding for the `logs` table.
//!
//! Owns the compact JSON-array row form (in `columns::FIREHOSE_COLUMNS` order) that travels
//! from the fetch handler to a LogBatcher, sits in its durable buffer and is expanded by D1 with
//! `json_each`. Does not know how entries are built (see `enrich` and `rest`) or written (`store::insert`).

use crate::model::columns::{Field, COLUMNS, FIREHOSE_COLUMNS};
use crate::model::level::Level;
use crate::model::request_url::derived_flags;
use crate::model::secret::{Secrets, REDACTED};
use serde::ser::{Serialize, SerializeSeq, Serializer};
use serde::Deserialize;
use serde_json::{Map, Value};

/// How an entry reached the logger.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// A parent worker forwarded its own request over a service binding.
    Binding,
    /// A client posted JSON to `POST /logs`.
    Rest,
    /// An OpenTelemetry exporter posted to `POST /v1/logs`.
    Otlp,
    /// A Loki client pushed to `POST /loki/api/v1/push`.
    Loki,
    /// A Tail Worker event of a producer that lists the logger in `tail_consumers`.
    Tail,
    /// A parent worker called the logger's RPC entrypoint.
    Rpc,
    /// A health check of one of the app's URLs failed (`read::health_checker`).
    Health,
}

impl Source {
    /// Every source, as the firehose's CHECK constraint lists them.
    pub const ALL: [Source; 7] = [
        Source::Binding,
        Source::Rest,
        Source::Otlp,
        Source::Loki,
        Source::Tail,
        Source::Rpc,
        Source::Health,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Source::Binding => "binding",
            Source::Rest => "rest",
            Source::Otlp => "otlp",
            Source::Loki => "loki",
            Source::Tail => "tail",
            Source::Rpc => "rpc",
            Source::Health => "health",
        }
    }
}

/// Facts about the HTTP request behind an entry (forwarded requests only; REST entries leave
/// them empty). Field names match the `logs` columns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestFields {
    pub method: Option<String>,
    pub url: Option<String>,
    pub host: Option<String>,
    pub path: Option<String>,
    pub query: Option<String>,
    pub user_agent: Option<String>,
    pub referer: Option<String>,
    pub content_type: Option<String>,
    pub ray_id: Option<String>,
    pub cf: CfFacts,
    pub client_ip: Option<String>,
    /// Request headers the logger keeps (secrets and cookies removed).
    pub headers: Option<Map<String, Value>>,
}

/// The logged parts of `request.cf`, named as in Cloudflare's `IncomingRequestCfProperties`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", default)]
pub struct CfFacts {
    pub colo: Option<String>,
    pub country: Option<String>,
    pub city: Option<String>,
    pub region: Option<String>,
    pub continent: Option<String>,
    pub asn: Option<u32>,
    pub as_organization: Option<String>,
    pub timezone: Option<String>,
    pub http_protocol: Option<String>,
    pub tls_version: Option<String>,
    pub tls_cipher: Option<String>,
}

/// One log entry, enriched and validated: what a LogBatcher buffers and the firehose stores.
#[derive(Debug, Clone, PartialEq)]
pub struct LogEntry {
    /// UUIDv7: time-ordered, and the primary key that makes every write idempotent.
    pub id: String,
    /// When the event happened, ms since the epoch.
    pub timestamp: i64,
    /// When the logger accepted it, ms since the epoch.
    pub received_at: i64,
    pub app_id: String,
    pub level: Level,
    pub message: String,
    pub request_id: Option<String>,
    pub source: Source,
    /// The LogBatcher shard that buffered it.
    pub shard: String,
    pub request: RequestFields,
    /// Custom data (`X-Log-Data` or REST `context`), a JSON object.
    pub data: Option<Map<String, Value>>,
}

/// The longest prefix of `s` of at most `max` bytes that ends on a character boundary.
pub fn clip(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

impl RequestFields {
    /// Whether nothing is known about a request (every REST entry): its row is *plain*, null in
    /// every [`REQUEST_COLUMNS`](crate::model::columns::REQUEST_COLUMNS) position.
    pub fn is_empty(&self) -> bool {
        *self == RequestFields::default()
    }
}

impl LogEntry {
    /// The row as one compact JSON array, in [`COLUMNS`] order, and then the firehose's flags
    /// (`columns::FLAGS_POSITION`).
    pub fn to_row_json(&self) -> String {
        // Serializing plain strings, integers and maps cannot fail.
        serde_json::to_string(&Row(self)).unwrap_or_default()
    }
}

fn redact_opt(field: &mut Option<String>, secrets: &Secrets) {
    if let Some(r) = field.as_deref().and_then(|v| secrets.redact(v)) {
        *field = Some(r);
    }
}

fn redact_value(v: &mut Value, secrets: &Secrets) {
    match v {
        Value::String(s) => {
            if let Some(r) = secrets.redact(s) {
                *s = r;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|i| redact_value(i, secrets)),
        Value::Object(map) => redact_map(map, secrets),
        _ => {}
    }
}

/// Whether any key or string inside `v` holds a secret (no allocation: the common case,
/// nothing to redact, costs one scan).
fn value_has_secret(v: &Value, secrets: &Secrets) -> bool {
    match v {
        Value::String(s) => secrets.found_in(s),
        Value::Array(items) => items.iter().any(|i| value_has_secret(i, secrets)),
        Value::Object(map) => map.iter().any(|(k, v)| {
            secrets.found_in(k) || secrets.sensitive_key(k) || value_has_secret(v, secrets)
        }),
        _ => false,
    }
}

fn redact_map(map: &mut Map<String, Value>, secrets: &Secrets) {
    if !map.iter().any(|(k, v)| {
        secrets.found_in(k) || secrets.sensitive_key(k) || value_has_secret(v, secrets)
    }) {
        return;
    }
    let keys: Vec<String> = map.keys().cloned().collect();
    for key in keys {
        if let Some(mut v) = map.remove(&key) {
            // A key that means a secret keeps its name and loses its value, whatever it is.
            if secrets.sensitive_key(&key) && !v.is_null() {
                v = Value::from(REDACTED);
            } else {
                redact_value(&mut v, secrets);
            }
            let key = secrets.redact(&key).unwrap_or(key);
            map.insert(key, v);
        }
    }
}

impl LogEntry {
    /// Replaces every secret (the admin key, the caller's own key, any app key) in any text the
    /// entry would store: a key pasted into a URL, a message or custom data never reaches D1,
    /// and a request header that carries one is not kept at all.
    pub fn redact(&mut self, secrets: &Secrets) {
        if let Some(r) = secrets.redact(&self.message) {
            self.message = r;
        }
        redact_opt(&mut self.request_id, secrets);
        let r = &mut self.request;
        for field in [
            &mut r.url,
            &mut r.host,
            &mut r.path,
            &mut r.query,
            &mut r.user_agent,
            &mut r.referer,
            &mut r.content_type,
        ] {
            redact_opt(field, secrets);
        }
        // Query parameters whose names mean secrets (`?password=…`) lose their values.
        for field in [&mut r.url, &mut r.query] {
            let redacted = field.as_deref().and_then(|v| match v.contains('?') {
                true => secrets.redact_url_query(v),
                false => secrets.redact_query(v),
            });
            if redacted.is_some() {
                *field = redacted;
            }
        }
        if let Some(h) = r.headers.as_mut() {
            h.retain(|name, v| {
                !secrets.found_in(name)
                    && !secrets.sensitive_key(name)
                    && !value_has_secret(v, secrets)
            });
        }
        if let Some(d) = self.data.as_mut() {
            redact_map(d, secrets);
        }
    }
}

struct Row<'a>(&'a LogEntry);

impl Serialize for Row<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let e = self.0;
        let r = &e.request;
        let cf = &r.cf;
        let mut seq = s.serialize_seq(Some(COLUMNS.len() + 1))?;
        for column in &FIREHOSE_COLUMNS {
            match column.field {
                Field::Id => seq.serialize_element(&e.id)?,
                Field::Timestamp => seq.serialize_element(&e.timestamp)?,
                Field::ReceivedAt => seq.serialize_element(&e.received_at)?,
                Field::AppId => seq.serialize_element(&e.app_id)?,
                Field::Level => seq.serialize_element(e.level.as_str())?,
                Field::Message => seq.serialize_element(&e.message)?,
                Field::RequestId => seq.serialize_element(&e.request_id)?,
                Field::Source => seq.serialize_element(e.source.as_str())?,
                Field::Shard => seq.serialize_element(&e.shard)?,
                Field::Method => seq.serialize_element(&r.method)?,
                Field::Url => seq.serialize_element(&r.url)?,
                Field::Host => seq.serialize_element(&r.host)?,
                Field::Path => seq.serialize_element(&r.path)?,
                Field::Query => seq.serialize_element(&r.query)?,
                Field::UserAgent => seq.serialize_element(&r.user_agent)?,
                Field::Referer => seq.serialize_element(&r.referer)?,
                Field::ContentType => seq.serialize_element(&r.content_type)?,
                Field::RayId => seq.serialize_element(&r.ray_id)?,
                Field::Colo => seq.serialize_element(&cf.colo)?,
                Field::Country => seq.serialize_element(&cf.country)?,
                Field::City => seq.serialize_element(&cf.city)?,
                Field::Region => seq.serialize_element(&cf.region)?,
                Field::Continent => seq.serialize_element(&cf.continent)?,
                Field::Asn => seq.serialize_element(&cf.asn)?,
                Field::AsOrganization => seq.serialize_element(&cf.as_organization)?,
                Field::Timezone => seq.serialize_element(&cf.timezone)?,
                Field::HttpProtocol => seq.serialize_element(&cf.http_protocol)?,
                Field::TlsVersion => seq.serialize_element(&cf.tls_version)?,
                Field::TlsCipher => seq.serialize_element(&cf.tls_cipher)?,
                Field::ClientIp => seq.serialize_element(&r.client_ip)?,
                Field::Headers => seq.serialize_element(&r.headers)?,
                Field::Data => seq.serialize_element(&e.data)?,
            }
        }
        // At `FLAGS_POSITION`: what the firehose may leave out (`request_url`).
        let parts = (r.host.as_deref(), r.path.as_deref(), r.query.as_deref());
        seq.serialize_element(&derived_flags(r.url.as_deref(), parts, r.headers.as_ref()))?;
        seq.end()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::model::id::new_id;
    use serde_json::json;

    pub(crate) fn sample() -> LogEntry {
        LogEntry {
            id: new_id(1_700_000_000_123, [7; 16]),
            timestamp: 1_700_000_000_123,
            received_at: 1_700_000_000_200,
            app_id: "shop".into(),
            level: Level::Warn,
            message: "GET /cart".into(),
            request_id: Some("req-1".into()),
            source: Source::Binding,
            shard: "EWR-28333333".into(),
            request: RequestFields {
                method: Some("GET".into()),
                url: Some("https://shop.example/cart?x=1".into()),
                host: Some("shop.example".into()),
                path: Some("/cart".into()),
                query: Some("x=1".into()),
                user_agent: Some("curl/8".into()),
                referer: Some("https://ref.example/".into()),
                content_type: Some("text/plain".into()),
                ray_id: Some("8abc".into()),
                cf: CfFacts {
                    colo: Some("EWR".into()),
                    country: Some("US".into()),
                    city: Some("Newark".into()),
                    region: Some("New Jersey".into()),
                    continent: Some("NA".into()),
                    asn: Some(13335),
                    as_organization: Some("Cloudflare".into()),
                    timezone: Some("America/New_York".into()),
                    http_protocol: Some("HTTP/2".into()),
                    tls_version: Some("TLSv1.3".into()),
                    tls_cipher: Some("AEAD-AES128-GCM-SHA256".into()),
                },
                client_ip: Some("203.0.113.9".into()),
                headers: json!({"accept": "*/*"}).as_object().cloned(),
            },
            data: json!({"user": {"id": 42}}).as_object().cloned(),
        }
    }

    #[test]
    fn the_row_has_one_value_per_column_in_column_order() {
        let e = sample();
        let row: Vec<Value> = serde_json::from_str(&e.to_row_json()).unwrap();
        assert_eq!(row.len(), COLUMNS.len() + 1);
        let by_name = |name: &str| &row[COLUMNS.iter().position(|c| *c == name).unwrap()];
        assert_eq!(by_name("id"), &json!(e.id));
        assert_eq!(by_name("timestamp"), &json!(1_700_000_000_123i64));
        assert_eq!(by_name("received_at"), &json!(1_700_000_000_200i64));
        assert_eq!(by_name("app_id"), &json!("shop"));
        assert_eq!(by_name("level"), &json!("WARN"));
        assert_eq!(by_name("message"), &json!("GET /cart"));
        assert_eq!(by_name("request_id"), &json!("req-1"));
        assert_eq!(by_name("source"), &json!("binding"));
        assert_eq!(by_name("shard"), &json!("EWR-28333333"));
        assert_eq!(by_name("method"), &json!("GET"));
        assert_eq!(by_name("url"), &json!("https://shop.example/cart?x=1"));
        assert_eq!(by_name("host"), &json!("shop.example"));
        assert_eq!(by_name("path"), &json!("/cart"));
        assert_eq!(by_name("query"), &json!("x=1"));
        assert_eq!(by_name("user_agent"), &json!("curl/8"));
        assert_eq!(by_name("referer"), &json!("https://ref.example/"));
        assert_eq!(by_name("content_type"), &json!("text/plain"));
        assert_eq!(by_name("ray_id"), &json!("8abc"));
        assert_eq!(by_name("colo"), &json!("EWR"));
        assert_eq!(by_name("country"), &json!("US"));
        assert_eq!(by_name("city"), &json!("Newark"));
        assert_eq!(by_name("region"), &json!("New Jersey"));
        assert_eq!(by_name("continent"), &json!("NA"));
        assert_eq!(by_name("asn"), &json!(13335));
        assert_eq!(by_name("as_organization"), &json!("Cloudflare"));
        assert_eq!(by_name("timezone"), &json!("America/New_York"));
        assert_eq!(by_name("http_protocol"), &json!("HTTP/2"));
        assert_eq!(by_name("tls_version"), &json!("TLSv1.3"));
        assert_eq!(by_name("tls_cipher"), &json!("AEAD-AES128-GCM-SHA256"));
        assert_eq!(by_name("client_ip"), &json!("203.0.113.9"));
        assert_eq!(by_name("headers"), &json!({"accept": "*/*"}));
        assert_eq!(by_name("data"), &json!({"user": {"id": 42}}));
        // Host, path and query are the URL's; the headers hold no Host header.
        let flags =
            crate::model::request_url::DERIVED_PARTS | crate::model::request_url::NO_HOST_HEADER;
        assert_eq!(row[crate::model::columns::FLAGS_POSITION], json!(flags));
    }

    #[test]
    fn missing_fields_are_json_null() {
        let mut e = sample();
        e.request = RequestFields::default();
        e.data = None;
        let row: Vec<Value> = serde_json::from_str(&e.to_row_json()).unwrap();
        assert!(row[9..COLUMNS.len()].iter().all(Value::is_null), "{row:?}");
        assert_eq!(row[COLUMNS.len()], json!(0), "nothing to leave out");
    }

    #[test]
    fn redaction_removes_secrets_from_every_stored_text() {
        let secret = "lk_0123456789abcdef";
        let mut e = sample();
        e.message = format!("key={secret}");
        e.request.url = Some(format!("https://x/?k={secret}"));
        e.request.query = Some(format!("k={secret}"));
        e.request.headers = json!({"x-token": format!("Bearer {secret}")})
            .as_object()
            .cloned();
        e.data = json!({"nested": [{"k": secret}], secret: 1})
            .as_object()
            .cloned();
        e.redact(&Secrets::new(&[secret, "short"]));
        let row = e.to_row_json();
        assert!(!row.contains(secret), "{row}");
        assert_eq!(e.message, "key=[REDACTED]");
        assert_eq!(e.data.unwrap()["nested"][0]["k"], json!("[REDACTED]"));
    }

    #[test]
    fn a_header_that_carries_a_secret_is_not_kept_at_all() {
        let secret = "admin-secret-0123";
        let mut e = sample();
        e.request.headers = json!({
            "x-forwarded-key": format!("{secret}"),
            "x-other-app": format!("lk_{}", "0".repeat(64)),
            "x-fine": "ok",
        })
        .as_object()
        .cloned();
        e.redact(&Secrets::new(&[secret]));
        assert_eq!(
            e.request.headers.unwrap(),
            *json!({"x-fine": "ok"}).as_object().unwrap()
        );
    }

    #[test]
    fn values_under_secret_names_go_at_any_depth_in_context_headers_and_the_query() {
        let mut e = sample();
        e.data = json!({"deep": {"list": [{"client_secret": "cs-1", "ok": 1}]}, "author": "x"})
            .as_object()
            .cloned();
        e.request.url = Some("https://shop.example/a?Password=p&page=2#top".into());
        e.request.query = Some("Password=p&page=2".into());
        e.request.headers = json!({"x-api-token": "t", "x-fine": "ok"})
            .as_object()
            .cloned();
        e.redact(&Secrets::new(&[]));
        assert_eq!(
            e.data.unwrap(),
            *json!({"deep": {"list": [{"client_secret": "[REDACTED]", "ok": 1}]}, "author": "x"})
                .as_object()
                .unwrap()
        );
        assert_eq!(
            e.request.url.as_deref(),
            Some("https://shop.example/a?Password=[REDACTED]&page=2#top")
        );
        assert_eq!(
            e.request.query.as_deref(),
            Some("Password=[REDACTED]&page=2")
        );
        assert_eq!(
            e.request.headers.unwrap(),
            *json!({"x-fine": "ok"}).as_object().unwrap()
        );
    }

    #[test]
    fn clipping_never_splits_a_character() {
        assert_eq!(clip("héllo", 2), "h");
        assert_eq!(clip("héllo", 3), "hé");
        assert_eq!(clip("abc", 10), "abc");
    }
}
