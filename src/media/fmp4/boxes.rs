//! ISO BMFF box writing: a size placeholder patched when the box closes, so nested boxes are
//! written in one pass into one buffer.

/// Appends boxes to a byte buffer.
#[derive(Debug, Default)]
pub struct BoxWriter {
    pub buf: Vec<u8>,
    /// Start offsets of the boxes still open.
    open: Vec<usize>,
}

impl BoxWriter {
    pub fn new() -> BoxWriter {
        BoxWriter::default()
    }

    /// Opens a box of type `fourcc`; close it with [`BoxWriter::end`].
    pub fn begin(&mut self, fourcc: &[u8; 4]) {
        self.open.push(self.buf.len());
        self.buf.extend_from_slice(&[0, 0, 0, 0]);
        self.buf.extend_from_slice(fourcc);
    }

    /// Opens a full box (version and 24-bit flags after the type).
    pub fn begin_full(&mut self, fourcc: &[u8; 4], version: u8, flags: u32) {
        self.begin(fourcc);
        self.u32((u32::from(version) << 24) | (flags & 0x00ff_ffff));
    }

    /// Closes the innermost open box, writing its size.
    pub fn end(&mut self) {
        if let Some(start) = self.open.pop() {
            let size = (self.buf.len() - start) as u32;
            self.buf[start..start + 4].copy_from_slice(&size.to_be_bytes());
        }
    }

    /// Where the next byte goes (for offsets patched later).
    pub fn position(&self) -> usize {
        self.buf.len()
    }

    pub fn u16(&mut self, v: u16) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    pub fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    pub fn i32(&mut self, v: i32) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    pub fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    pub fn bytes(&mut self, v: &[u8]) {
        self.buf.extend_from_slice(v);
    }

    pub fn zeros(&mut self, n: usize) {
        self.buf.resize(self.buf.len() + n, 0);
    }

    /// Overwrites 4 bytes at `at` (a data offset known only later).
    pub fn patch_u32(&mut self, at: usize, v: u32) {
        if let Some(slot) = self.buf.get_mut(at..at + 4) {
            slot.copy_from_slice(&v.to_be_bytes());
        }
    }

    /// The unity transformation matrix of `mvhd` and `tkhd`.
    pub fn matrix(&mut self) {
        for v in [0x0001_0000u32, 0, 0, 0, 0x0001_0000, 0, 0, 0, 0x4000_0000] {
            self.u32(v);
        }
    }

    pub fn finish(self) -> Vec<u8> {
        self.buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_sizes_are_patched() {
        let mut w = BoxWriter::new();
        w.begin(b"moov");
        w.begin_full(b"mvhd", 1, 3);
        w.bytes(&[7]);
        w.end();
        w.end();
        let out = w.finish();
        assert_eq!(&out[..8], &[0, 0, 0, 21, b'm', b'o', b'o', b'v']);
        assert_eq!(&out[8..16], &[0, 0, 0, 13, b'm', b'v', b'h', b'd']);
        assert_eq!(&out[16..], &[1, 0, 0, 3, 7]);
    }
}
