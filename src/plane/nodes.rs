//! [`NodeTable`]: the runtime's nodes by index, with room for nodes that
//! join after build (cluster mode's late workers).
//!
//! Why a table with its room reserved at build, and not a vector swapped
//! under a lock: the node list is read on every submission (the fit
//! check), on every placement round and by every view; a table of
//! write-once slots and a length is read with plain acquire loads, no
//! lock and no shared reference count, so the local path pays nothing
//! for growth it never uses (a runtime without a cluster reserves no room
//! beyond its nodes). The price is a bound: a cluster runtime has room
//! for `ClusterConfig::max_nodes` remote nodes, and a worker that would
//! pass it is refused with a typed error.
//!
//! Indices are stable: a node is never removed (one that leaves is
//! retired), so an index handed out (`NodeId`, the directory, the
//! supervisor's per-node state) names the same node for the runtime's life.
//!
//! Protocol: one writer at a time (`grow`) fills slot `len` and then
//! publishes `len + 1` with a release store; a reader loads `len` with
//! acquire and finds every slot below it filled.

use crate::ids::NodeId;
use crate::node::NodeShared;
use crate::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

/// The nodes, by index; grows up to its capacity, never shrinks.
pub(crate) struct NodeTable {
    slots: Box<[OnceLock<Arc<NodeShared>>]>,
    len: AtomicUsize,
    /// Held by the one writer that grows the table (cluster mode only).
    #[cfg_attr(not(feature = "cluster"), allow(dead_code))]
    grow: Mutex<()>,
}

impl std::fmt::Debug for NodeTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeTable")
            .field("len", &self.len())
            .field("capacity", &self.capacity())
            .finish()
    }
}

impl NodeTable {
    /// A table holding `nodes` (node `i` at index `i`), with room for
    /// `capacity` in all (at least `nodes.len()`).
    pub(crate) fn new(nodes: Vec<Arc<NodeShared>>, capacity: usize) -> Self {
        let capacity = capacity.max(nodes.len());
        let len = nodes.len();
        let slots: Box<[OnceLock<Arc<NodeShared>>]> = nodes
            .into_iter()
            .map(OnceLock::from)
            .chain((len..capacity).map(|_| OnceLock::new()))
            .collect();
        NodeTable {
            slots,
            len: AtomicUsize::new(len),
            grow: Mutex::new(()),
        }
    }

    /// Nodes so far.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.len.load(Ordering::Acquire)
    }

    /// Nodes the table has room for.
    pub(crate) fn capacity(&self) -> usize {
        self.slots.len()
    }

    /// Node `i`, if it exists.
    #[inline]
    pub(crate) fn get(&self, i: usize) -> Option<&Arc<NodeShared>> {
        if i < self.len() {
            self.slots[i].get()
        } else {
            None
        }
    }

    /// The nodes so far, in index order.
    #[inline]
    pub(crate) fn iter(&self) -> Iter<'_> {
        self.slots[..self.len()].iter().filter_map(OnceLock::get)
    }

    /// The nodes so far, as a vector of their own.
    pub(crate) fn snapshot(&self) -> Vec<Arc<NodeShared>> {
        self.iter().cloned().collect()
    }

    /// Adds a node per item, made by `make` from the item and the node's
    /// index; all or none: `Err(capacity)` when they do not fit.
    #[cfg_attr(not(feature = "cluster"), allow(dead_code))]
    pub(crate) fn extend_with<T>(
        &self,
        items: Vec<T>,
        mut make: impl FnMut(NodeId, T) -> Arc<NodeShared>,
    ) -> Result<std::ops::Range<usize>, usize> {
        let _one_writer = self.grow.lock();
        let start = self.len.load(Ordering::Acquire);
        let end = start.saturating_add(items.len());
        if end > self.capacity() {
            return Err(self.capacity());
        }
        for (i, item) in (start..end).zip(items) {
            let _ = self.slots[i].set(make(NodeId(i), item));
            // Published one by one: a reader sees a prefix, always filled.
            self.len.store(i + 1, Ordering::Release);
        }
        Ok(start..end)
    }
}

impl std::ops::Index<usize> for NodeTable {
    type Output = Arc<NodeShared>;

    /// Node `i`.
    ///
    /// # Panics
    ///
    /// If there is no node `i` (as a slice's index does).
    #[inline]
    fn index(&self, i: usize) -> &Arc<NodeShared> {
        match self.get(i) {
            Some(n) => n,
            None => panic!("node index {i} out of range (nodes: {})", self.len()),
        }
    }
}

/// The iterator of [`NodeTable::iter`].
pub(crate) type Iter<'a> = std::iter::FilterMap<
    std::slice::Iter<'a, OnceLock<Arc<NodeShared>>>,
    fn(&'a OnceLock<Arc<NodeShared>>) -> Option<&'a Arc<NodeShared>>,
>;

impl<'a> IntoIterator for &'a NodeTable {
    type Item = &'a Arc<NodeShared>;
    type IntoIter = Iter<'a>;

    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}
