//! A queue of shared buffers written with as few `writev` calls as possible: the merged writes that make
//! fan-out cheap (the kernel cost is per call, not per byte).

use bytes::{Buf, Bytes};
use std::collections::VecDeque;
use std::io::IoSlice;
use tokio::io::{AsyncWrite, AsyncWriteExt};

/// Most buffers handed to one `writev` (Linux allows 1024).
const MAX_IOVECS: usize = 512;

#[derive(Default)]
pub struct WriteQueue {
    parts: VecDeque<Bytes>,
    queued: usize,
}

impl WriteQueue {
    pub fn push(&mut self, bytes: Bytes) {
        if !bytes.is_empty() {
            self.queued += bytes.len();
            self.parts.push_back(bytes);
        }
    }

    /// Make room for `additional` more buffers at once (a batch), rather than growing step by step.
    pub fn reserve(&mut self, additional: usize) {
        self.parts.reserve(additional);
    }

    pub fn is_empty(&self) -> bool {
        self.parts.is_empty()
    }

    /// Bytes queued.
    pub fn len(&self) -> usize {
        self.queued
    }

    /// Write everything queued; returns the bytes written.
    pub async fn flush<W: AsyncWrite + Unpin>(&mut self, writer: &mut W) -> std::io::Result<u64> {
        let mut written = 0u64;
        while !self.parts.is_empty() {
            let slices: Vec<IoSlice<'_>> = self
                .parts
                .iter()
                .take(MAX_IOVECS)
                .map(|b| IoSlice::new(b))
                .collect();
            let mut n = writer.write_vectored(&slices).await?;
            drop(slices);
            if n == 0 {
                return Err(std::io::ErrorKind::WriteZero.into());
            }
            written += n as u64;
            self.queued -= n;
            while n > 0 {
                let Some(front) = self.parts.front_mut() else {
                    break;
                };
                if front.len() <= n {
                    n -= front.len();
                    self.parts.pop_front();
                } else {
                    front.advance(n);
                    n = 0;
                }
            }
        }
        // A GOP burst grows the queue; thousands of idle players should not keep that capacity.
        if self.parts.capacity() > 8 {
            self.parts = VecDeque::new();
        }
        Ok(written)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn writes_everything_in_order() {
        let mut queue = WriteQueue::default();
        let mut expected = Vec::new();
        for i in 0..2000u32 {
            let part = Bytes::from(vec![(i % 251) as u8; (i % 17) as usize]);
            expected.extend_from_slice(&part);
            queue.push(part);
        }
        let (mut a, mut b) = tokio::io::duplex(1000);
        let reader = tokio::spawn(async move {
            let mut got = Vec::new();
            tokio::io::AsyncReadExt::read_to_end(&mut b, &mut got)
                .await
                .unwrap();
            got
        });
        let n = queue.flush(&mut a).await.unwrap();
        drop(a);
        assert_eq!(n as usize, expected.len());
        assert_eq!(reader.await.unwrap(), expected);
        assert!(queue.is_empty());
    }
}
