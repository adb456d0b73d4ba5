//! Buffers that pages are written into, kept from one answer to the next.
//!
//! The overview is 170 kB of HTML. Written into a fresh string per request,
//! the string grew by doubling (each step a copy into new memory), and the
//! allocator, set to hand freed memory back to the system at once (see
//! `main.rs`), had the kernel fault every page of it in again on the next
//! request: under 50 clients that was most of the overview's time. A page
//! is now written into a buffer taken from here, the answer's body owns
//! it, and when the body has been sent the buffer comes back for the next
//! page, its memory still mapped and its capacity already grown.

use axum::body::Bytes;
use std::sync::{Mutex, PoisonError};

/// Buffers kept for reuse at most: pages being written or sent at once
/// beyond this take new ones.
const KEPT: usize = 16;

/// A buffer that grew beyond this is dropped rather than kept, so a rare
/// huge page does not stay resident.
const LARGEST_KEPT: usize = 1 << 20;

/// The capacity a new buffer starts with: most pages fit.
const FIRST_CAPACITY: usize = 32 * 1024;

/// The buffers kept for reuse.
pub struct Spare {
    kept: Mutex<Vec<String>>,
}

/// The buffers every page shares.
pub static SPARE: Spare = Spare::new();

impl Spare {
    const fn new() -> Spare {
        Spare {
            kept: Mutex::new(Vec::new()),
        }
    }

    /// An empty buffer to write a page into: a kept one if there is one.
    pub fn take(&self) -> String {
        self.kept
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop()
            .unwrap_or_else(|| String::with_capacity(FIRST_CAPACITY))
    }

    /// `page` as an answer's body; its buffer comes back here once the
    /// body has been sent (or dropped).
    pub fn into_body(&'static self, page: String) -> Bytes {
        Bytes::from_owner(Returned { page, to: self })
    }
}

/// A page's buffer that goes back to its [`Spare`] when dropped.
struct Returned {
    page: String,
    to: &'static Spare,
}

impl AsRef<[u8]> for Returned {
    fn as_ref(&self) -> &[u8] {
        self.page.as_bytes()
    }
}

impl Drop for Returned {
    fn drop(&mut self) {
        let mut buffer = std::mem::take(&mut self.page);
        if buffer.capacity() > LARGEST_KEPT {
            return;
        }
        buffer.clear();
        let mut kept = self.to.kept.lock().unwrap_or_else(PoisonError::into_inner);
        if kept.len() < KEPT {
            kept.push(buffer);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sent_pages_buffer_is_kept_for_the_next_page_unless_it_grew_too_large() {
        static SPARE: Spare = Spare::new();
        let mut page = SPARE.take();
        page.push_str(&"x".repeat(100_000));
        let grown = page.as_ptr();
        let body = SPARE.into_body(page);
        assert_eq!(body.len(), 100_000);
        assert!(body.iter().all(|b| *b == b'x'));
        assert!(SPARE.kept.lock().unwrap().is_empty(), "kept while sent");
        drop(body);
        let again = SPARE.take();
        assert_eq!(again.as_ptr(), grown, "the same buffer");
        assert!(again.is_empty() && again.capacity() >= 100_000);

        let mut huge = again;
        huge.push_str(&"y".repeat(LARGEST_KEPT + 1));
        drop(SPARE.into_body(huge));
        assert!(SPARE.kept.lock().unwrap().is_empty(), "not kept");

        let pages: Vec<Bytes> = (0..KEPT + 3)
            .map(|_| SPARE.into_body(SPARE.take()))
            .collect();
        drop(pages);
        assert_eq!(
            SPARE.kept.lock().unwrap().len(),
            KEPT,
            "at most {KEPT} kept"
        );
    }
}
