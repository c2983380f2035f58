//! A minimal many-to-one mailbox with a timed receive (std's mpsc costs several times the
//! code, and every byte counts in a binary that goes into every image).

use std::sync::{Condvar, Mutex};
use std::time::Instant;

pub struct Mailbox<T> {
    items: Mutex<Vec<T>>,
    ready: Condvar,
}

impl<T> Default for Mailbox<T> {
    fn default() -> Self {
        Mailbox {
            items: Mutex::new(Vec::new()),
            ready: Condvar::new(),
        }
    }
}

impl<T> Mailbox<T> {
    pub fn send(&self, item: T) {
        // A poisoned lock cannot happen with panic=abort; take the data either way.
        let mut items = self.items.lock().unwrap_or_else(|e| e.into_inner());
        items.push(item);
        self.ready.notify_all();
    }

    /// The oldest item, waiting until `until` at the latest.
    pub fn recv_until(&self, until: Instant) -> Option<T> {
        let mut items = self.items.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if !items.is_empty() {
                return Some(items.remove(0));
            }
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            items = match self.ready.wait_timeout(items, left) {
                Ok((guard, _)) => guard,
                Err(e) => e.into_inner().0,
            };
        }
    }
}
