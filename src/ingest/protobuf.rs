//! The protobuf wire format, read only as far as OTLP and Loki pushes need: fields of a message
//! one by one (varints, fixed 32/64-bit values, length-delimited bytes), with every length
//! checked against what is left, so a truncated or hostile body is an error, never a panic or an
//! endless loop. Does not know any message (`otlp` and `loki` do). A dependency such as `prost`
//! would bring generated types and their code into the wasm bundle; two small schemas do not need
//! them.

/// A malformed message: where the reader stopped and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireError(pub String);

impl std::fmt::Display for WireError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// One field's value as the wire has it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wire<'a> {
    Varint(u64),
    Fixed64(u64),
    Fixed32(u32),
    Bytes(&'a [u8]),
}

impl<'a> Wire<'a> {
    /// The field as a nested message or bytes; an error for a number.
    pub fn bytes(self, what: &str) -> Result<&'a [u8], WireError> {
        match self {
            Wire::Bytes(b) => Ok(b),
            _ => Err(WireError(format!(
                "{what}: expected a length-delimited field"
            ))),
        }
    }

    /// The field as UTF-8 text (protobuf `string`; invalid UTF-8 is replaced, not refused).
    pub fn text(self, what: &str) -> Result<String, WireError> {
        Ok(String::from_utf8_lossy(self.bytes(what)?).into_owned())
    }

    /// The field as an integer: a varint or either fixed width.
    pub fn int(self, what: &str) -> Result<u64, WireError> {
        match self {
            Wire::Varint(v) | Wire::Fixed64(v) => Ok(v),
            Wire::Fixed32(v) => Ok(v as u64),
            Wire::Bytes(_) => Err(WireError(format!("{what}: expected a number"))),
        }
    }
}

/// Reads the fields of one message in order.
pub struct Fields<'a> {
    rest: &'a [u8],
}

impl<'a> Fields<'a> {
    pub fn new(message: &'a [u8]) -> Self {
        Fields { rest: message }
    }

    fn varint(&mut self) -> Result<u64, WireError> {
        let mut value = 0u64;
        for i in 0..10 {
            let Some((&b, rest)) = self.rest.split_first() else {
                return Err(WireError("truncated varint".into()));
            };
            self.rest = rest;
            value |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(WireError("varint longer than 10 bytes".into()))
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        if n > self.rest.len() {
            return Err(WireError(format!(
                "a field of {n} bytes where {} are left",
                self.rest.len()
            )));
        }
        let (head, rest) = self.rest.split_at(n);
        self.rest = rest;
        Ok(head)
    }

    /// The next field (number, value), `None` at the end of the message.
    pub fn next_field(&mut self) -> Result<Option<(u64, Wire<'a>)>, WireError> {
        if self.rest.is_empty() {
            return Ok(None);
        }
        let tag = self.varint()?;
        let (number, kind) = (tag >> 3, tag & 7);
        let value = match kind {
            0 => Wire::Varint(self.varint()?),
            1 => Wire::Fixed64(u64::from_le_bytes(
                self.take(8)?.try_into().unwrap_or([0; 8]),
            )),
            2 => {
                let len = usize::try_from(self.varint()?).unwrap_or(usize::MAX);
                Wire::Bytes(self.take(len)?)
            }
            5 => Wire::Fixed32(u32::from_le_bytes(
                self.take(4)?.try_into().unwrap_or([0; 4]),
            )),
            other => {
                return Err(WireError(format!(
                    "field {number}: wire type {other} is not supported"
                )))
            }
        };
        Ok(Some((number, value)))
    }
}

#[cfg(test)]
pub mod tests {
    use super::*;

    /// A message writer for tests: what a client's encoder would send.
    #[derive(Default)]
    pub struct Writer(pub Vec<u8>);

    impl Writer {
        fn varint(&mut self, mut v: u64) {
            loop {
                let b = (v & 0x7f) as u8;
                v >>= 7;
                if v == 0 {
                    self.0.push(b);
                    return;
                }
                self.0.push(b | 0x80);
            }
        }
        pub fn uint(mut self, field: u64, v: u64) -> Self {
            self.varint(field << 3);
            self.varint(v);
            self
        }
        pub fn fixed64(mut self, field: u64, v: u64) -> Self {
            self.varint((field << 3) | 1);
            self.0.extend(v.to_le_bytes());
            self
        }
        pub fn bytes(mut self, field: u64, b: &[u8]) -> Self {
            self.varint((field << 3) | 2);
            self.varint(b.len() as u64);
            self.0.extend(b);
            self
        }
        pub fn text(self, field: u64, s: &str) -> Self {
            self.bytes(field, s.as_bytes())
        }
        pub fn message(self, field: u64, m: Writer) -> Self {
            self.bytes(field, &m.0)
        }
    }

    #[test]
    fn fields_come_back_as_written() {
        let m = Writer::default()
            .uint(1, 300)
            .fixed64(2, 1_700_000_000_000_000_000)
            .text(3, "héllo")
            .message(4, Writer::default().uint(1, 1));
        let mut f = Fields::new(&m.0);
        assert_eq!(f.next_field().unwrap(), Some((1, Wire::Varint(300))));
        assert_eq!(
            f.next_field().unwrap(),
            Some((2, Wire::Fixed64(1_700_000_000_000_000_000)))
        );
        let (n, v) = f.next_field().unwrap().unwrap();
        assert_eq!((n, v.text("s").unwrap()), (3, "héllo".to_string()));
        let (_, nested) = f.next_field().unwrap().unwrap();
        let mut inner = Fields::new(nested.bytes("m").unwrap());
        assert_eq!(inner.next_field().unwrap(), Some((1, Wire::Varint(1))));
        assert_eq!(f.next_field().unwrap(), None);
    }

    #[test]
    fn truncated_and_hostile_messages_are_errors() {
        for bad in [
            &[0x0a, 0x05, b'a'][..], // 5 bytes promised, 1 there
            &[0x08][..],             // a varint that never comes
            &[
                0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
            ][..],
            &[0x0b][..],                               // group start: not supported
            &[0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f][..], // a length past the end
        ] {
            let mut f = Fields::new(bad);
            let mut result = Ok(Some((0, Wire::Varint(0))));
            while let Ok(Some(_)) = result {
                result = f.next_field();
            }
            assert!(result.is_err(), "{bad:?}");
        }
    }
}
