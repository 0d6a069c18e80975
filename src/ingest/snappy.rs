//! Snappy's block format, decompression only: Loki clients (Promtail, `winston-loki`'s protobuf
//! mode) send their push body as a snappy block, often without a `Content-Encoding` header.
//! Every length and copy offset is checked, and the output is capped, so a hostile body is an
//! error, never a panic or an allocation bomb. A snappy crate would add its compressor too.

/// Why a block did not decompress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SnappyError {
    /// Not a valid block (the reason).
    Corrupt(&'static str),
    /// The block says it holds more than `max` bytes.
    TooLarge(usize),
}

fn varint(input: &[u8]) -> Option<(u64, usize)> {
    let mut v = 0u64;
    for (i, &b) in input.iter().enumerate().take(10) {
        v |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Some((v, i + 1));
        }
    }
    None
}

/// The decompressed block, refused when it declares more than `max` bytes.
pub fn decompress(input: &[u8], max: usize) -> Result<Vec<u8>, SnappyError> {
    use SnappyError::Corrupt;
    let (len, mut at) = varint(input).ok_or(Corrupt("no length"))?;
    let len = usize::try_from(len).unwrap_or(usize::MAX);
    if len > max {
        return Err(SnappyError::TooLarge(len));
    }
    let mut out = Vec::with_capacity(len);
    let byte = |i: usize| input.get(i).copied().ok_or(Corrupt("truncated"));
    while at < input.len() {
        let tag = input[at];
        at += 1;
        let (length, offset) = match tag & 3 {
            0 => {
                let mut n = usize::from(tag >> 2);
                if n >= 60 {
                    let extra = n - 59;
                    let bytes = input.get(at..at + extra).ok_or(Corrupt("truncated"))?;
                    n = bytes
                        .iter()
                        .rev()
                        .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
                    at += extra;
                }
                let n = n + 1;
                let literal = input.get(at..at + n).ok_or(Corrupt("truncated literal"))?;
                if out.len() + n > len {
                    return Err(Corrupt("longer than declared"));
                }
                out.extend_from_slice(literal);
                at += n;
                continue;
            }
            1 => {
                let n = 4 + usize::from((tag >> 2) & 7);
                let offset = (usize::from(tag >> 5) << 8) | usize::from(byte(at)?);
                at += 1;
                (n, offset)
            }
            2 => {
                let offset = usize::from(byte(at)?) | (usize::from(byte(at + 1)?) << 8);
                at += 2;
                (1 + usize::from(tag >> 2), offset)
            }
            _ => {
                let b = input.get(at..at + 4).ok_or(Corrupt("truncated"))?;
                at += 4;
                let offset = u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize;
                (1 + usize::from(tag >> 2), offset)
            }
        };
        if offset == 0 || offset > out.len() {
            return Err(Corrupt("copy from before the start"));
        }
        if out.len() + length > len {
            return Err(Corrupt("longer than declared"));
        }
        // Byte by byte: a copy may overlap what it writes (a run).
        let start = out.len() - offset;
        for i in 0..length {
            let b = out[start + i];
            out.push(b);
        }
    }
    if out.len() != len {
        return Err(Corrupt("shorter than declared"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_and_copies_decompress() {
        // "abcabcabcabcX": a literal "abc", a copy of 9 from 3 back (overlapping what it
        // writes), a literal "X".
        let block = [13, 2 << 2, b'a', b'b', b'c', 0x01 | (5 << 2), 3, 0, b'X'];
        assert_eq!(decompress(&block, 100).unwrap(), b"abcabcabcabcX".to_vec());
    }

    #[test]
    fn a_hostile_block_is_an_error() {
        assert_eq!(
            decompress(&[0xff, 0xff, 0xff, 0xff, 0x0f], 1_000),
            Err(SnappyError::TooLarge(0xffff_ffff))
        );
        assert!(
            decompress(&[5, 0x01 | (1 << 2), 9], 100).is_err(),
            "copy before the start"
        );
        assert!(
            decompress(&[3, 4 << 2, b'a'], 100).is_err(),
            "literal past the end"
        );
        assert!(
            decompress(&[9, 0, b'a'], 100).is_err(),
            "shorter than declared"
        );
        assert!(decompress(&[], 100).is_err());
    }
}
