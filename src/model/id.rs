//! Ids: entry ids (time-ordered UUIDv7, or derived from a client's own id) and the request ids
//! accepted from clients, with the checks every boundary applies to them.

use uuid::Uuid;

/// A time-ordered id from the clock and 10 random bytes (UUIDv7 layout).
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

/// Whether `s` is a canonical hyphenated UUID; entry ids are checked with it at every boundary.
pub fn is_uuid(s: &str) -> bool {
    s.len() == 36 && Uuid::try_parse(s).is_ok()
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

    #[test]
    fn ids_are_uuid_v7_and_sort_by_time() {
        let a = new_id(1_000, [0xff; 16]);
        let b = new_id(1_001, [0x00; 16]);
        assert!(is_uuid(&a) && is_uuid(&b));
        assert_eq!(Uuid::parse_str(&a).unwrap().get_version_num(), 7);
        assert!(a < b, "{a} should sort before {b}");
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
}
