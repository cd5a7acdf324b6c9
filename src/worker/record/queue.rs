//! The bounded hand-off between a publisher's record sink and its writer thread: pushing never
//! blocks and fails past the bound (the sink then drops frames up to the next keyframe); the writer
//! waits for frames.

use crate::worker::hub::Frame;
use std::collections::VecDeque;
use std::sync::{Condvar, Mutex};

/// Frame bytes queued for the writer before the sink drops (a slow disk: seconds of any stream).
pub const MAX_QUEUE_BYTES: usize = 32 * 1024 * 1024;
/// Frames queued before the sink drops, whatever their size.
pub const MAX_QUEUE_FRAMES: usize = 8192;

pub enum Msg {
    Frame(Frame),
    /// The publisher left: close the file and stop.
    End,
}

#[derive(Default)]
struct Inner {
    items: VecDeque<Msg>,
    bytes: usize,
}

#[derive(Default)]
pub struct Queue {
    inner: Mutex<Inner>,
    ready: Condvar,
}

impl Queue {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues `frame`, or refuses it over the bound.
    pub fn try_push(&self, frame: &Frame) -> bool {
        let mut inner = self.lock();
        let size = frame.payload.len();
        if inner.bytes + size > MAX_QUEUE_BYTES || inner.items.len() >= MAX_QUEUE_FRAMES {
            return false;
        }
        inner.bytes += size;
        let was_empty = inner.items.is_empty();
        inner.items.push_back(Msg::Frame(frame.clone()));
        drop(inner);
        // The writer waits only on an empty queue: waking it per frame would cost a futex call on
        // the publisher's path for every frame of a burst.
        if was_empty {
            self.ready.notify_one();
        }
        true
    }

    /// Messages waiting (tests).
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.lock().items.len()
    }

    /// Queues all of `frames` or none (over the bound): a resume needs its headers with its keyframe.
    pub fn try_push_all(&self, frames: Vec<Frame>) -> bool {
        let size: usize = frames.iter().map(|f| f.payload.len()).sum();
        let mut inner = self.lock();
        if inner.bytes + size > MAX_QUEUE_BYTES
            || inner.items.len() + frames.len() > MAX_QUEUE_FRAMES
        {
            return false;
        }
        inner.bytes += size;
        let was_empty = inner.items.is_empty();
        inner.items.extend(frames.into_iter().map(Msg::Frame));
        drop(inner);
        if was_empty {
            self.ready.notify_one();
        }
        true
    }

    /// Tells the writer the publish ended (always queued: it holds no media).
    pub fn end(&self) {
        self.lock().items.push_back(Msg::End);
        self.ready.notify_one();
    }

    /// The next message, waiting for one.
    pub fn pop(&self) -> Msg {
        let mut inner = self.lock();
        loop {
            if let Some(msg) = inner.items.pop_front() {
                if let Msg::Frame(frame) = &msg {
                    inner.bytes -= frame.payload.len();
                }
                return msg;
            }
            inner = self.ready.wait(inner).unwrap_or_else(|e| e.into_inner());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::worker::hub::FrameKind;
    use bytes::Bytes;

    #[test]
    fn refuses_past_the_bound_and_frees_what_the_writer_took() {
        let queue = Queue::default();
        let frame = |len: usize| Frame {
            kind: FrameKind::Video,
            timestamp: 0,
            payload: Bytes::from(vec![0; len]),
        };
        assert!(queue.try_push_all(vec![frame(MAX_QUEUE_BYTES - 10)]));
        assert!(!queue.try_push_all(vec![frame(5), frame(6)]));
        assert!(queue.try_push_all(vec![frame(10)]));
        assert!(matches!(queue.pop(), Msg::Frame(_)));
        assert!(queue.try_push_all(vec![frame(1000)]));
        queue.end();
        assert!(matches!(queue.pop(), Msg::Frame(_)));
        assert!(matches!(queue.pop(), Msg::Frame(_)));
        assert!(matches!(queue.pop(), Msg::End));
    }
}
