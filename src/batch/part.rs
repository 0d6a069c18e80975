//! Parts: the rows of one ingest request kept as one JSON text (`[[...],[...]]`) from the fetch
//! handler through the LogBatcher's buffer, split only when flushed. Owns scanning a part into
//! its rows without parsing them, a row's id, and the buffer key of a part.

/// The rows of a JSON array of rows (`[[...],[...]]`), as slices of `body`, without parsing the
/// rows themselves: a scan that tracks nesting and strings. `None` unless `body` is an array whose
/// elements are all arrays. The LogBatcher buffers a request's rows as one text and splits it only
/// when it flushes.
pub fn split_rows(body: &str) -> Option<Vec<&str>> {
    scan_rows(body, usize::MAX)
}

/// The first row of a JSON array of rows, found without scanning the others (they are checked
/// when the part is split at flush time).
pub fn first_row(body: &str) -> Option<&str> {
    scan_rows(body, 1)?.into_iter().next()
}

/// The first `limit` rows of a JSON array of rows; all of them, and the whole text checked, when
/// there are no more than that.
fn scan_rows(body: &str, limit: usize) -> Option<Vec<&str>> {
    let bytes = body.as_bytes();
    let trimmed_start = bytes.iter().position(|b| !b.is_ascii_whitespace())?;
    let trimmed_end = bytes.iter().rposition(|b| !b.is_ascii_whitespace())?;
    if bytes[trimmed_start] != b'[' || bytes[trimmed_end] != b']' || trimmed_end == trimmed_start {
        return None;
    }
    let mut rows = Vec::new();
    let mut depth = 0u32;
    let mut start = None;
    // Between rows: a comma must come after a row and before the next one.
    let mut need_row = false;
    let mut i = trimmed_start + 1;
    while i < trimmed_end {
        let b = bytes[i];
        i += 1;
        match b {
            b'"' if depth > 0 => {
                // Skip the string's contents: only a quote or a backslash matters in there.
                loop {
                    let rest = bytes.get(i..trimmed_end)?;
                    let at = rest.iter().position(|&c| c == b'"' || c == b'\\')?;
                    i += at + 1;
                    if rest[at] == b'"' {
                        break;
                    }
                    i += 1; // the escaped character
                }
            }
            b'[' | b'{' => {
                if depth == 0 {
                    if b != b'[' || !(rows.is_empty() || need_row) {
                        return None;
                    }
                    start = Some(i - 1);
                    need_row = false;
                }
                depth += 1;
            }
            b']' | b'}' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    rows.push(&body[start.take()?..i]);
                    if rows.len() >= limit {
                        return Some(rows);
                    }
                }
            }
            b',' if depth == 0 => {
                if rows.is_empty() || need_row {
                    return None;
                }
                need_row = true;
            }
            c if depth == 0 && !c.is_ascii_whitespace() => return None,
            _ => {}
        }
    }
    (depth == 0 && !need_row).then_some(rows)
}

/// The id (first value) of a row, when it is a string.
pub fn row_id(row: &str) -> Option<String> {
    let values: Vec<serde_json::Value> = serde_json::from_str(row).ok()?;
    values.first()?.as_str().map(str::to_string)
}

/// The buffer key of several rows kept as one text: their first id, their count and a hash of the
/// text, so a retried request is buffered once while a different request that happens to start
/// with the same entry is not mistaken for it.
pub fn part_key(first_id: &str, rows: usize, body: &str) -> String {
    format!("{first_id}/{rows}/{:016x}", text_hash(body))
}

/// A 64-bit hash of `text`, eight bytes per step (a multiply-rotate mix in the manner of FxHash):
/// it only has to tell apart bodies with the same first id and count, and it runs over every
/// buffered byte, so it is built for speed (a byte-at-a-time FNV cost more than the SQLite
/// insert of the same part).
pub fn text_hash(text: &str) -> u64 {
    const K: u64 = 0x517c_c1b7_2722_0a95;
    let mix = |h: u64, w: u64| (h.rotate_left(5) ^ w).wrapping_mul(K);
    let bytes = text.as_bytes();
    let mut h = mix(0, bytes.len() as u64);
    let mut words = bytes.chunks_exact(8);
    for word in &mut words {
        let mut w = [0u8; 8];
        w.copy_from_slice(word);
        h = mix(h, u64::from_le_bytes(w));
    }
    let mut last = [0u8; 8];
    last[..words.remainder().len()].copy_from_slice(words.remainder());
    mix(h, u64::from_le_bytes(last))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::insert::{chunk_rows, MAX_PARAM_BYTES};

    #[test]
    fn rows_are_split_without_being_parsed() {
        let body = r#"[["a",1,"x,]\"[",{"k":[1,2]}], ["b",null] ,["c"]]"#;
        assert_eq!(
            split_rows(body).unwrap(),
            vec![
                r#"["a",1,"x,]\"[",{"k":[1,2]}]"#,
                r#"["b",null]"#,
                r#"["c"]"#
            ]
        );
        let rows = vec![crate::model::entry::tests::sample().to_row_json(); 3];
        let chunk = chunk_rows(&rows, MAX_PARAM_BYTES, usize::MAX).remove(0);
        assert_eq!(split_rows(&chunk).unwrap(), rows);
        assert_eq!(split_rows("[]").unwrap(), Vec::<&str>::new());
    }

    #[test]
    fn anything_but_an_array_of_arrays_is_refused() {
        for bad in [
            "",
            "{}",
            "[1]",
            r#"["a"]"#,
            "[[1],2]",
            "[[1]",
            "[[1]]]",
            "[[1],,[2]]",
            "[,[1]]",
            "[[1][2]]",
            r#"[["a]]"#,
            "[{}]",
            "x[[1]]",
            "[[1],]",
        ] {
            assert_eq!(split_rows(bad), None, "{bad}");
        }
    }

    #[test]
    fn rows_have_an_id_and_parts_a_key_that_tells_them_apart() {
        assert_eq!(row_id(r#"["id-1",2]"#).as_deref(), Some("id-1"));
        assert_eq!(row_id("[1]"), None);
        assert_eq!(row_id("nope"), None);
        assert_eq!(
            first_row(r#" [["a",1,"]"],["b"]] "#),
            Some(r#"["a",1,"]"]"#)
        );
        assert_eq!(first_row("[]"), None);
        assert_eq!(first_row(r#"{"a":1}"#), None);
        let body = "[[\"id-1\"],[\"id-2\"]] and some more bytes";
        for i in 0..body.len() {
            let mut other = body.as_bytes().to_vec();
            other[i] ^= 1;
            let other = String::from_utf8(other).unwrap();
            assert_ne!(
                text_hash(body),
                text_hash(&other),
                "a change at byte {i} is seen"
            );
        }
        assert_ne!(text_hash("abc"), text_hash("abc\0"), "the length counts");
        let a = part_key("id-1", 2, r#"[["id-1"],["id-2"]]"#);
        assert_eq!(a, part_key("id-1", 2, r#"[["id-1"],["id-2"]]"#));
        assert_ne!(a, part_key("id-1", 2, r#"[["id-1"],["id-3"]]"#));
        assert!(a.starts_with("id-1/2/"));
    }
}
