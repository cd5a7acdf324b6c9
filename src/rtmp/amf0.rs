//! AMF0 values: encode and decode, bounded (depth, element counts checked against the input length).

use bytes::{BufMut, BytesMut};

/// Deepest nesting of objects/arrays accepted; real commands nest two or three levels.
const MAX_DEPTH: usize = 32;

/// One AMF0 value. Objects keep their key order (commands are compared by key, but order is echoed).
#[derive(Debug, Clone, PartialEq)]
pub enum Amf0 {
    Number(f64),
    Boolean(bool),
    String(String),
    Object(Vec<(String, Amf0)>),
    Null,
    Undefined,
    EcmaArray(Vec<(String, Amf0)>),
    StrictArray(Vec<Amf0>),
    Date { millis: f64, tz: i16 },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Amf0Error {
    #[error("AMF0 value truncated")]
    Truncated,
    #[error("AMF0 marker {0:#04x} not supported")]
    UnsupportedMarker(u8),
    #[error("AMF0 nesting deeper than {MAX_DEPTH}")]
    TooDeep,
    #[error("AMF0 string is not UTF-8")]
    BadUtf8,
    #[error("AMF0 object end marker where a value was expected")]
    UnexpectedObjectEnd,
}

impl Amf0 {
    pub fn str(s: &str) -> Amf0 {
        Amf0::String(s.to_string())
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Amf0::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_number(&self) -> Option<f64> {
        match self {
            Amf0::Number(n) => Some(*n),
            _ => None,
        }
    }

    /// Property `key` of an object or ECMA array.
    pub fn get(&self, key: &str) -> Option<&Amf0> {
        match self {
            Amf0::Object(props) | Amf0::EcmaArray(props) => {
                props.iter().find(|(k, _)| k == key).map(|(_, v)| v)
            }
            _ => None,
        }
    }

    pub fn encode(&self, out: &mut BytesMut) {
        match self {
            Amf0::Number(n) => {
                out.put_u8(0x00);
                out.put_f64(*n);
            }
            Amf0::Boolean(b) => {
                out.put_u8(0x01);
                out.put_u8(u8::from(*b));
            }
            Amf0::String(s) => {
                if s.len() > usize::from(u16::MAX) {
                    out.put_u8(0x0C);
                    out.put_u32(s.len() as u32);
                } else {
                    out.put_u8(0x02);
                    out.put_u16(s.len() as u16);
                }
                out.put_slice(s.as_bytes());
            }
            Amf0::Object(props) => {
                out.put_u8(0x03);
                encode_props(props, out);
            }
            Amf0::Null => out.put_u8(0x05),
            Amf0::Undefined => out.put_u8(0x06),
            Amf0::EcmaArray(props) => {
                out.put_u8(0x08);
                out.put_u32(props.len() as u32);
                encode_props(props, out);
            }
            Amf0::StrictArray(items) => {
                out.put_u8(0x0A);
                out.put_u32(items.len() as u32);
                for item in items {
                    item.encode(out);
                }
            }
            Amf0::Date { millis, tz } => {
                out.put_u8(0x0B);
                out.put_f64(*millis);
                out.put_i16(*tz);
            }
        }
    }
}

fn encode_props(props: &[(String, Amf0)], out: &mut BytesMut) {
    for (key, value) in props {
        let key = &key.as_bytes()[..key.len().min(usize::from(u16::MAX))];
        out.put_u16(key.len() as u16);
        out.put_slice(key);
        value.encode(out);
    }
    out.put_slice(&[0, 0, 0x09]);
}

/// Encode a sequence of values (a command or data message body).
pub fn encode_all(values: &[Amf0]) -> BytesMut {
    let mut out = BytesMut::with_capacity(128);
    for value in values {
        value.encode(&mut out);
    }
    out
}

/// Decode every value in `input` (a command or data message body).
pub fn decode_all(input: &[u8]) -> Result<Vec<Amf0>, Amf0Error> {
    let mut reader = Reader { input, pos: 0 };
    let mut values = Vec::new();
    while reader.pos < input.len() {
        values.push(reader.value(0)?);
    }
    Ok(values)
}

/// Decode one value from the start of `input`; returns it and the bytes consumed.
pub fn decode_one(input: &[u8]) -> Result<(Amf0, usize), Amf0Error> {
    let mut reader = Reader { input, pos: 0 };
    let value = reader.value(0)?;
    Ok((value, reader.pos))
}

struct Reader<'a> {
    input: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], Amf0Error> {
        let end = self.pos.checked_add(n).ok_or(Amf0Error::Truncated)?;
        let slice = self.input.get(self.pos..end).ok_or(Amf0Error::Truncated)?;
        self.pos = end;
        Ok(slice)
    }

    fn u8(&mut self) -> Result<u8, Amf0Error> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16, Amf0Error> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    fn u32(&mut self) -> Result<u32, Amf0Error> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn f64(&mut self) -> Result<f64, Amf0Error> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(f64::from_be_bytes(a))
    }

    fn string(&mut self, len: usize) -> Result<String, Amf0Error> {
        let bytes = self.take(len)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| Amf0Error::BadUtf8)
    }

    fn remaining(&self) -> usize {
        self.input.len() - self.pos
    }

    fn value(&mut self, depth: usize) -> Result<Amf0, Amf0Error> {
        if depth > MAX_DEPTH {
            return Err(Amf0Error::TooDeep);
        }
        match self.u8()? {
            0x00 => Ok(Amf0::Number(self.f64()?)),
            0x01 => Ok(Amf0::Boolean(self.u8()? != 0)),
            0x02 => {
                let len = usize::from(self.u16()?);
                Ok(Amf0::String(self.string(len)?))
            }
            0x03 => Ok(Amf0::Object(self.props(depth)?)),
            0x05 => Ok(Amf0::Null),
            0x06 => Ok(Amf0::Undefined),
            0x08 => {
                // The count is only a hint (encoders get it wrong); the end marker is authoritative.
                let _count = self.u32()?;
                Ok(Amf0::EcmaArray(self.props(depth)?))
            }
            0x09 => Err(Amf0Error::UnexpectedObjectEnd),
            0x0A => {
                let count = self.u32()? as usize;
                // Every element takes at least one byte: a count past the input is a lie.
                if count > self.remaining() {
                    return Err(Amf0Error::Truncated);
                }
                let mut items = Vec::with_capacity(count);
                for _ in 0..count {
                    items.push(self.value(depth + 1)?);
                }
                Ok(Amf0::StrictArray(items))
            }
            0x0B => {
                let millis = self.f64()?;
                let tz = self.u16()? as i16;
                Ok(Amf0::Date { millis, tz })
            }
            0x0C => {
                let len = self.u32()? as usize;
                Ok(Amf0::String(self.string(len)?))
            }
            marker => Err(Amf0Error::UnsupportedMarker(marker)),
        }
    }

    fn props(&mut self, depth: usize) -> Result<Vec<(String, Amf0)>, Amf0Error> {
        let mut props = Vec::new();
        loop {
            let len = usize::from(self.u16()?);
            if len == 0 {
                // Empty key: the object end marker follows (some encoders omit it at the very end).
                if self.remaining() == 0 {
                    return Ok(props);
                }
                match self.u8()? {
                    0x09 => return Ok(props),
                    _ => {
                        self.pos -= 1;
                        let value = self.value(depth + 1)?;
                        props.push((String::new(), value));
                        continue;
                    }
                }
            }
            let key = self.string(len)?;
            let value = self.value(depth + 1)?;
            props.push((key, value));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(value: Amf0) {
        let mut out = BytesMut::new();
        value.encode(&mut out);
        let (back, used) = decode_one(&out).unwrap();
        assert_eq!(back, value);
        assert_eq!(used, out.len());
    }

    #[test]
    fn every_marker_roundtrips() {
        roundtrip(Amf0::Number(1.5));
        roundtrip(Amf0::Boolean(true));
        roundtrip(Amf0::str("live"));
        roundtrip(Amf0::String("x".repeat(70_000)));
        roundtrip(Amf0::Null);
        roundtrip(Amf0::Undefined);
        roundtrip(Amf0::Date {
            millis: 1.7e12,
            tz: -60,
        });
        roundtrip(Amf0::Object(vec![
            ("app".into(), Amf0::str("live")),
            ("n".into(), Amf0::Number(3.0)),
        ]));
        roundtrip(Amf0::EcmaArray(vec![(
            "duration".into(),
            Amf0::Number(0.0),
        )]));
        roundtrip(Amf0::StrictArray(vec![Amf0::Null, Amf0::Number(2.0)]));
    }

    #[test]
    fn decodes_a_connect_command() {
        let body = encode_all(&[
            Amf0::str("connect"),
            Amf0::Number(1.0),
            Amf0::Object(vec![("tcUrl".into(), Amf0::str("rtmp://h/live"))]),
        ]);
        let values = decode_all(&body).unwrap();
        assert_eq!(values[0].as_str(), Some("connect"));
        assert_eq!(
            values[2].get("tcUrl").and_then(Amf0::as_str),
            Some("rtmp://h/live")
        );
    }

    #[test]
    fn rejects_malformed_input_without_panicking() {
        assert_eq!(decode_one(&[]), Err(Amf0Error::Truncated));
        assert_eq!(
            decode_one(&[0x02, 0xff, 0xff, b'a']),
            Err(Amf0Error::Truncated)
        );
        assert_eq!(decode_one(&[0x11]), Err(Amf0Error::UnsupportedMarker(0x11)));
        // A strict array claiming four billion elements must not allocate them.
        assert_eq!(
            decode_one(&[0x0A, 0xff, 0xff, 0xff, 0xff, 0x05]),
            Err(Amf0Error::Truncated)
        );
        let deep: Vec<u8> = std::iter::repeat_n([0x0A, 0, 0, 0, 1], 100)
            .flatten()
            .collect();
        assert_eq!(decode_one(&deep), Err(Amf0Error::TooDeep));
        assert_eq!(decode_one(&[0x09]), Err(Amf0Error::UnexpectedObjectEnd));
    }
}
