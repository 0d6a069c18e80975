//! Ids: entry ids (time-ordered UUIDv7, or derived from a client's own id) and the request ids
//! accepted from clients, with the checks every boundary applies to them.

/// A time-ordered id from the entry's own time and 10 random bytes (UUIDv7 layout). Carrying the
/// entry's time is what lets `GET /logs/:id` find the row by its primary key, which starts with
/// that time (see [`locates_row`]).
pub fn new_id(now_ms: i64, random: [u8; 16]) -> String {
    let mut rand10 = [0u8; 10];
    rand10.copy_from_slice(&random[..10]);
    uuid::Builder::from_unix_timestamp_millis(now_ms.max(0) as u64, &rand10)
        .into_uuid()
        .to_string()
}

/// The stored id of an entry whose client chose its identity (its own `id`, or an
/// `Idempotency-Key`): a UUID (version 8) derived from the app and the client's id, so sending
/// the same entry twice stores it once, and one app's ids can never collide with another's.
pub fn scoped_id(app_id: &str, client_id: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::new()
        .chain_update(app_id.as_bytes())
        .chain_update([0u8])
        .chain_update(client_id.as_bytes())
        .finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_custom_bytes(bytes)
        .into_uuid()
        .to_string()
}

/// The id of an entry known by its content (`name`: the body's digest and the entry's place
/// in it) and timed `at_ms`: a UUIDv7 of that time whose random part comes from the app and the
/// name, so an exporter that sends the same body again (a retry after a timeout) stores nothing
/// twice, and the id still carries the time (`locates_row`), costing no index entry.
pub fn content_id(app_id: &str, name: &str, at_ms: i64) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::new()
        .chain_update(app_id.as_bytes())
        .chain_update([1u8])
        .chain_update(name.as_bytes())
        .finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    new_id(at_ms, bytes)
}

/// The time a UUIDv7 id carries, in ms; `None` for any other id (a client-named one).
pub fn id_time(id: &str) -> Option<i64> {
    // Read as the SQL form reads it (lower-case hex digits at fixed places), so the two agree.
    // Digit by digit, without building the hex text: this runs for every row of every flush.
    let b = id.as_bytes();
    if !is_uuid(id) || b[14] != b'7' {
        return None;
    }
    let mut time = 0i64;
    for &c in b[0..8].iter().chain(&b[9..13]) {
        let digit = match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            _ => return None,
        };
        time = time << 4 | i64::from(digit);
    }
    Some(time)
}

/// Whether a row's id tells where the row is: a UUIDv7 whose time is the row's `timestamp`, so
/// `(app_id, timestamp, id)`, the primary key, is known from the id alone. Rows whose id does not
/// (client-named ids, entries timed before 1970, rows stored before ids carried the entry's time)
/// are the ones the `named` index holds; [`ID_ELSEWHERE_SQL`] is this test, negated, in SQL.
pub fn locates_row(id: &str, timestamp: i64) -> bool {
    id_time(id) == Some(timestamp)
}

/// SQL for "the id does not locate the row" (the negation of [`locates_row`]) on a row's `id` and
/// `timestamp` columns: the condition of the partial `named` index, and of every query that must
/// use it. A UUIDv7's first 48 bits are its time in ms, in lower-case hex.
pub const ID_ELSEWHERE_SQL: &str = "(substr(id, 15, 1) <> '7' OR timestamp < 0 \
     OR substr(id, 1, 8) || substr(id, 10, 4) <> printf('%012x', timestamp))";

/// Whether `s` is a canonical hyphenated UUID; entry ids are checked with it at every boundary.
pub fn is_uuid(s: &str) -> bool {
    // By hand: `Uuid::try_parse` costs a few hundred instructions, and every row of every flush
    // is checked (`id_time`). At 36 characters it accepts exactly this form.
    let b = s.as_bytes();
    b.len() == 36
        && [8, 13, 18, 23].iter().all(|i| b[*i] == b'-')
        && [0..8, 9..13, 14..18, 19..23, 24..36]
            .into_iter()
            .all(|r| b[r].iter().all(u8::is_ascii_hexdigit))
}

/// Longest accepted request id; ids are for correlation, not for payloads.
pub const MAX_REQUEST_ID_LEN: usize = 128;

/// A request id as accepted from headers and bodies: short, printable ASCII.
pub fn is_request_id(s: &str) -> bool {
    !s.is_empty() && s.len() <= MAX_REQUEST_ID_LEN && s.bytes().all(|b| b.is_ascii_graphic())
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    #[test]
    fn a_content_id_is_the_same_for_the_same_body_and_carries_its_time() {
        let a = content_id("shop", "digest#0", 1_700_000_000_000);
        assert_eq!(a, content_id("shop", "digest#0", 1_700_000_000_000));
        assert_ne!(a, content_id("shop", "digest#1", 1_700_000_000_000));
        assert_ne!(a, content_id("zoo", "digest#0", 1_700_000_000_000));
        assert_eq!(id_time(&a), Some(1_700_000_000_000));
        assert!(locates_row(&a, 1_700_000_000_000));
    }

    #[test]
    fn ids_are_uuid_v7_and_sort_by_time() {
        let a = new_id(1_000, [0xff; 16]);
        let b = new_id(1_001, [0x00; 16]);
        assert!(is_uuid(&a) && is_uuid(&b));
        assert_eq!(Uuid::parse_str(&a).unwrap().get_version_num(), 7);
        assert!(a < b, "{a} should sort before {b}");
    }

    #[test]
    fn an_id_locates_its_row_when_it_carries_the_row_time() {
        let id = new_id(1_750_000_000_123, [7; 16]);
        assert_eq!(id_time(&id), Some(1_750_000_000_123));
        assert!(locates_row(&id, 1_750_000_000_123));
        assert!(!locates_row(&id, 1_750_000_000_124));
        assert!(!locates_row(&new_id(-5, [7; 16]), -5), "clamped to 0");
        let named = scoped_id("shop", "order-1");
        assert_eq!(id_time(&named), None);
        assert!(!locates_row(&named, 0));
    }

    /// The SQL form agrees with the Rust one, row by row.
    #[test]
    fn the_sql_test_is_the_negation_of_locates_row() {
        let db = rusqlite::Connection::open_in_memory().unwrap();
        let cases = [
            (new_id(1_750_000_000_123, [7; 16]), 1_750_000_000_123i64),
            (new_id(1_750_000_000_123, [7; 16]), 1_750_000_000_000),
            (new_id(0, [0xff; 16]), 0),
            (new_id(-5, [1; 16]), -5),
            (new_id(281_474_976_710_655, [1; 16]), 281_474_976_710_655),
            (scoped_id("a", "b"), 0),
        ];
        for (id, ts) in cases {
            let elsewhere: bool = db
                .query_row(
                    &format!("SELECT {ID_ELSEWHERE_SQL} FROM (SELECT ?1 AS id, ?2 AS timestamp)"),
                    rusqlite::params![id, ts],
                    |r| r.get(0),
                )
                .unwrap();
            assert_eq!(elsewhere, !locates_row(&id, ts), "{id} {ts}");
        }
    }

    #[test]
    fn client_ids_map_to_stable_ids_scoped_by_app() {
        let a = scoped_id("shop", "order-17");
        assert_eq!(a, scoped_id("shop", "order-17"));
        assert_ne!(a, scoped_id("blog", "order-17"));
        assert_ne!(a, scoped_id("shop", "order-18"));
        // No ambiguity between ("ab", "c") and ("a", "bc").
        assert_ne!(scoped_id("ab", "c"), scoped_id("a", "bc"));
        assert!(is_uuid(&a));
        assert_eq!(Uuid::parse_str(&a).unwrap().get_version_num(), 8);
    }

    #[test]
    fn is_uuid_refuses_anything_else() {
        assert!(!is_uuid("not-a-uuid"));
        assert!(!is_uuid("0190b5c5a0f07000800000000000000"));
        assert!(!is_uuid("'; DROP TABLE logs; --                "));
    }

    /// The hand-written check accepts exactly what the `uuid` crate's parser accepts at 36
    /// characters, so every boundary that used the parser refuses the same ids.
    #[test]
    fn is_uuid_agrees_with_the_uuid_parser() {
        let valid = new_id(1_700_000_000_000, [0xab; 16]);
        let mut cases = vec![
            valid.clone(),
            valid.to_uppercase(),
            scoped_id("a", "b"),
            "00000000-0000-0000-0000-000000000000".to_string(),
            "0190b5c5a0f07000800000000000000000".to_string(),
            // 36 bytes, one character outside ASCII.
            "0190b5c5-a0f0-7000-8000-0000000000é".to_string(),
            "{0190b5c5-a0f0-7000-8000-0000000000}".to_string(),
            "urn:uuid:0190b5c5-a0f0-7000-8000-000".to_string(),
        ];
        // Each character of a valid id replaced by a hyphen, a non-hex letter and a quote.
        for i in 0..36 {
            for c in ["-", "g", "\"", "G"] {
                let mut s = valid.clone();
                s.replace_range(i..i + 1, c);
                cases.push(s);
            }
        }
        for s in &cases {
            let parsed = s.len() == 36 && Uuid::try_parse(s).is_ok();
            assert_eq!(is_uuid(s), parsed, "{s:?}");
        }
    }
}
