//! A per-process memory budget shared by many connections (a worker's players, its publishers, the
//! rtmp-lb's clients being routed): each connection holds a [`Charge`] set to what it holds now;
//! when the total goes over the limit, the largest holders are closed until the rest fits.
//!
//! Updating a charge is two atomic operations; the registry is locked only to register, to drop,
//! and when the budget is over, which an honest load does not reach.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio_util::sync::CancellationToken;

/// `name` from the environment, parsed by `parse` (e.g. `compile::units::parse_size_bytes`); a
/// value that does not parse is reported and ignored. Budgets and timeouts are overridden this way.
pub fn env_value(name: &str, parse: fn(&str) -> Option<u64>) -> Option<u64> {
    let text = std::env::var(name).ok()?;
    let value = parse(&text);
    if value.is_none() {
        tracing::warn!("{name}={text:?} is not a valid value; using the default");
    }
    value
}

/// A byte limit from the environment variable `name` (`64MiB`, `4096`…), else `default`.
pub fn env_limit(name: &str, default: usize) -> usize {
    env_value(name, crate::compile::units::parse_size_bytes)
        .map_or(default, |v| usize::try_from(v).unwrap_or(usize::MAX))
}

/// One budget, e.g. "players": a limit and what every charge holds together.
pub struct MemoryBudget {
    name: &'static str,
    limit: usize,
    used: AtomicUsize,
    next_id: AtomicU64,
    holders: Mutex<HashMap<u64, Arc<Holder>>>,
}

struct Holder {
    who: String,
    bytes: AtomicUsize,
    /// Cancelled to close the connection when the budget needs its memory back.
    cancel: CancellationToken,
    /// Already asked to close: its bytes are on their way out.
    evicted: AtomicBool,
}

/// Why the charge's own connection must close.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "holds {held} bytes of unfinished input, the most while the {budget} budget of {limit} bytes \
     is full ({used} bytes held)"
)]
pub struct OverBudget {
    pub budget: &'static str,
    pub held: usize,
    pub used: usize,
    pub limit: usize,
}

impl MemoryBudget {
    pub fn new(name: &'static str, limit: usize) -> Arc<MemoryBudget> {
        Arc::new(MemoryBudget {
            name,
            limit,
            used: AtomicUsize::new(0),
            next_id: AtomicU64::new(0),
            holders: Mutex::new(HashMap::new()),
        })
    }

    pub fn name(&self) -> &'static str {
        self.name
    }

    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Bytes held by every charge together.
    pub fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    /// A charge of 0 bytes for the connection `who` (for logs), closed through `cancel` when the
    /// budget evicts it.
    pub fn charge(self: &Arc<Self>, who: String, cancel: CancellationToken) -> Charge {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let holder = Arc::new(Holder {
            who,
            bytes: AtomicUsize::new(0),
            cancel,
            evicted: AtomicBool::new(false),
        });
        self.lock().insert(id, holder.clone());
        Charge {
            budget: self.clone(),
            id,
            holder,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Arc<Holder>>> {
        // A panic elsewhere while holding the lock leaves the map consistent (single inserts and
        // removes), so keep going with it.
        self.holders.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Close the largest holders until the rest fits; `Err` if `requester` is among them (it
    /// closes itself, the others are cancelled here).
    fn relieve(&self, requester: u64) -> Result<(), OverBudget> {
        let holders = self.lock();
        let used = self.used();
        let mut remaining = used;
        let mut by_size: Vec<(&u64, &Arc<Holder>)> = Vec::with_capacity(holders.len());
        for (id, holder) in holders.iter() {
            if holder.evicted.load(Ordering::Relaxed) {
                remaining = remaining.saturating_sub(holder.bytes.load(Ordering::Relaxed));
            } else {
                by_size.push((id, holder));
            }
        }
        by_size.sort_by_key(|(_, h)| std::cmp::Reverse(h.bytes.load(Ordering::Relaxed)));
        let mut result = Ok(());
        for (id, holder) in by_size {
            if remaining <= self.limit {
                break;
            }
            let held = holder.bytes.load(Ordering::Relaxed);
            if held == 0 {
                break;
            }
            holder.evicted.store(true, Ordering::Relaxed);
            remaining -= held.min(remaining);
            if *id == requester {
                result = Err(OverBudget {
                    budget: self.name,
                    held,
                    used,
                    limit: self.limit,
                });
            } else {
                tracing::warn!(
                    client = %holder.who,
                    "closing the connection: it holds {held} bytes of unfinished input, the most \
                     while the {} budget of {} bytes is full ({used} bytes held)",
                    self.name,
                    self.limit
                );
                holder.cancel.cancel();
            }
        }
        result
    }
}

/// One connection's share of a budget; released when dropped.
pub struct Charge {
    budget: Arc<MemoryBudget>,
    id: u64,
    holder: Arc<Holder>,
}

impl Charge {
    /// Record that the connection holds `bytes` now. `Err` when the budget is over and this
    /// connection holds the most: it should close (larger holders elsewhere are closed instead).
    pub fn set(&mut self, bytes: usize) -> Result<(), OverBudget> {
        let old = self.holder.bytes.swap(bytes, Ordering::Relaxed);
        if bytes <= old {
            self.budget.used.fetch_sub(old - bytes, Ordering::Relaxed);
            return Ok(());
        }
        let used = self.budget.used.fetch_add(bytes - old, Ordering::Relaxed) + bytes - old;
        if used <= self.budget.limit || self.holder.evicted.load(Ordering::Relaxed) {
            return Ok(());
        }
        self.budget.relieve(self.id)
    }

    /// What this charge holds.
    pub fn bytes(&self) -> usize {
        self.holder.bytes.load(Ordering::Relaxed)
    }

    /// The budget this charge counts against.
    pub fn budget(&self) -> &Arc<MemoryBudget> {
        &self.budget
    }
}

impl Drop for Charge {
    fn drop(&mut self) {
        let _ = self.set(0);
        self.budget.lock().remove(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_largest_holders_are_closed_when_over() {
        let budget = MemoryBudget::new("players", 1000);
        let tokens: Vec<CancellationToken> = (0..4).map(|_| CancellationToken::new()).collect();
        let mut charges: Vec<Charge> = tokens
            .iter()
            .enumerate()
            .map(|(i, t)| budget.charge(format!("c{i}"), t.clone()))
            .collect();
        assert_eq!(charges[0].set(300), Ok(()));
        assert_eq!(charges[1].set(500), Ok(()));
        assert_eq!(charges[2].set(100), Ok(()));
        assert_eq!(budget.used(), 900);
        // Over by 100: the largest (c1, 500 bytes) goes, not the one that grew.
        assert_eq!(charges[3].set(200), Ok(()));
        assert!(tokens[1].is_cancelled());
        assert!(tokens.iter().filter(|t| t.is_cancelled()).count() == 1);
        // The evicted one leaving releases its bytes.
        drop(charges.remove(1));
        assert_eq!(budget.used(), 600);
        // A grower that becomes the largest closes itself.
        let err = charges[0].set(950).unwrap_err();
        assert_eq!(err.held, 950);
        assert_eq!(err.limit, 1000);
        assert!(
            !tokens[0].is_cancelled(),
            "the requester is told, not cancelled"
        );
        drop(charges);
        assert_eq!(budget.used(), 0);
        assert!(budget.lock().is_empty());
    }

    #[test]
    fn shrinking_is_always_fine() {
        let budget = MemoryBudget::new("publishers", 10);
        let mut charge = budget.charge("p".into(), CancellationToken::new());
        assert!(charge.set(20).is_err());
        assert_eq!(charge.set(5), Ok(()));
        assert_eq!(budget.used(), 5);
        assert_eq!(charge.bytes(), 5);
    }
}
