//! A FIFO of waiting tasks with O(1) removal by key, stored in one `Vec`.
//!
//! Both [`Callback`](crate::Callback) and [`Channel`](crate::Channel) keep the
//! tasks that wait on them here. A waiting future gets a key when it first
//! registers and keeps it until it frees its slot (when it completes or is
//! dropped). Slots are reused, so a list only grows to the largest number of
//! tasks that waited at the same time: no allocation on the steady path.
//!
//! A slot can be *linked* (in the FIFO) or *unlinked* (taken out of the FIFO,
//! but still owned by its future, which has not seen the news yet). Only the
//! owner of a key frees its slot, so a key is never reused while its owner
//! still holds it.

use std::mem;
use std::task::Waker;

/// "No slot": the end of a chain.
const NIL: usize = usize::MAX;

/// One waiting task: its waker and what it carries.
pub(crate) struct Node<P> {
    /// The task to wake; `None` once it was woken and has not polled since.
    pub(crate) waker: Option<Waker>,
    /// What the waiter carries (a sender's value, or nothing).
    pub(crate) payload: P,
    prev: usize,
    next: usize,
    linked: bool,
}

enum Slot<P> {
    /// A free slot; holds the next free slot.
    Vacant(usize),
    Occupied(Node<P>),
}

/// A FIFO of waiters whose slots are addressed by stable keys.
pub(crate) struct WaitList<P> {
    slots: Vec<Slot<P>>,
    /// First free slot, or `NIL`.
    free: usize,
    /// First and last linked slots, or `NIL`.
    head: usize,
    tail: usize,
    /// Number of linked slots.
    linked: usize,
}

impl<P> Default for WaitList<P> {
    fn default() -> Self {
        Self::new()
    }
}

impl<P> WaitList<P> {
    /// An empty list; allocates nothing.
    pub(crate) const fn new() -> Self {
        Self {
            slots: Vec::new(),
            free: NIL,
            head: NIL,
            tail: NIL,
            linked: 0,
        }
    }

    /// Number of linked (queued) waiters.
    pub(crate) fn len(&self) -> usize {
        self.linked
    }

    /// Whether no waiter is queued.
    pub(crate) fn is_empty(&self) -> bool {
        self.linked == 0
    }

    /// Number of slots ever allocated (for tests of bounded growth).
    #[cfg(test)]
    pub(crate) fn slot_count(&self) -> usize {
        self.slots.len()
    }

    /// The key of the first queued waiter.
    pub(crate) fn front(&self) -> Option<usize> {
        (self.head != NIL).then_some(self.head)
    }

    /// Queues a new waiter at the back and returns its key.
    pub(crate) fn push_back(&mut self, payload: P, waker: Waker) -> usize {
        let node = Node {
            waker: Some(waker),
            payload,
            prev: self.tail,
            next: NIL,
            linked: true,
        };
        let key = if self.free == NIL {
            self.slots.push(Slot::Occupied(node));
            self.slots.len() - 1
        } else {
            let key = self.free;
            match mem::replace(&mut self.slots[key], Slot::Occupied(node)) {
                Slot::Vacant(next) => self.free = next,
                Slot::Occupied(_) => unreachable!("free list points at an occupied slot"),
            }
            key
        };
        if self.tail == NIL {
            self.head = key;
        } else {
            self.node_mut(self.tail).next = key;
        }
        self.tail = key;
        self.linked += 1;
        key
    }

    /// The waiter behind `key`.
    ///
    /// # Panics
    ///
    /// If `key` is not an occupied slot (a bug in this crate).
    pub(crate) fn node_mut(&mut self, key: usize) -> &mut Node<P> {
        match &mut self.slots[key] {
            Slot::Occupied(node) => node,
            Slot::Vacant(_) => unreachable!("wait list key {key} is vacant"),
        }
    }

    /// Takes the first waiter out of the FIFO (its slot stays with its owner)
    /// and returns its key.
    pub(crate) fn pop_front(&mut self) -> Option<usize> {
        let key = self.front()?;
        self.unlink(key);
        Some(key)
    }

    /// Takes the waker of the first queued waiter, if it still has one.
    pub(crate) fn take_front_waker(&mut self) -> Option<Waker> {
        let key = self.front()?;
        self.node_mut(key).waker.take()
    }

    /// Takes the wakers of every queued waiter into `out`.
    pub(crate) fn take_all_wakers(&mut self, out: &mut Vec<Waker>) {
        let mut key = self.head;
        while key != NIL {
            let node = self.node_mut(key);
            out.extend(node.waker.take());
            key = node.next;
        }
    }

    /// Takes `key` out of the FIFO if it is in it; its slot stays occupied.
    pub(crate) fn unlink(&mut self, key: usize) {
        let node = self.node_mut(key);
        if !node.linked {
            return;
        }
        node.linked = false;
        let (prev, next) = (node.prev, node.next);
        if prev == NIL {
            self.head = next;
        } else {
            self.node_mut(prev).next = next;
        }
        if next == NIL {
            self.tail = prev;
        } else {
            self.node_mut(next).prev = prev;
        }
        self.linked -= 1;
    }

    /// Frees the slot of `key` (unlinking it first if needed) and returns its
    /// payload. The key may be handed out again afterwards.
    pub(crate) fn remove(&mut self, key: usize) -> P {
        self.unlink(key);
        match mem::replace(&mut self.slots[key], Slot::Vacant(self.free)) {
            Slot::Occupied(node) => {
                self.free = key;
                node.payload
            }
            Slot::Vacant(_) => unreachable!("wait list key {key} removed twice"),
        }
    }
}

/// Stores `waker` in `slot` unless the one already there wakes the same task.
pub(crate) fn store_waker(slot: &mut Option<Waker>, waker: &Waker) {
    match slot {
        Some(old) if old.will_wake(waker) => {}
        _ => *slot = Some(waker.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::task::Wake;

    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn waker() -> Waker {
        Waker::from(Arc::new(Count(AtomicUsize::new(0))))
    }

    fn order(list: &mut WaitList<u32>) -> Vec<u32> {
        let mut out = Vec::new();
        let mut key = list.head;
        while key != NIL {
            let node = list.node_mut(key);
            out.push(node.payload);
            key = node.next;
        }
        out
    }

    #[test]
    fn fifo_order_and_removal_from_the_middle() {
        let mut list = WaitList::new();
        let keys: Vec<usize> = (0..5).map(|i| list.push_back(i, waker())).collect();
        assert_eq!(order(&mut list), [0, 1, 2, 3, 4]);
        assert_eq!(list.remove(keys[2]), 2);
        assert_eq!(list.remove(keys[0]), 0);
        assert_eq!(list.remove(keys[4]), 4);
        assert_eq!(order(&mut list), [1, 3]);
        assert_eq!(list.len(), 2);
        assert_eq!(list.front(), Some(keys[1]));
    }

    #[test]
    fn unlinked_slots_stay_owned_until_removed() {
        let mut list = WaitList::new();
        let a = list.push_back(1, waker());
        let b = list.push_back(2, waker());
        assert_eq!(list.pop_front(), Some(a));
        assert_eq!(list.len(), 1);
        // The slot of `a` is not reused while `a` holds it.
        let c = list.push_back(3, waker());
        assert_ne!(c, a);
        assert_eq!(order(&mut list), [2, 3]);
        assert_eq!(list.remove(a), 1);
        assert_eq!(list.remove(b), 2);
        assert_eq!(list.front(), Some(c));
    }

    #[test]
    fn slots_are_reused() {
        let mut list = WaitList::new();
        for i in 0..1000 {
            let k = list.push_back(i, waker());
            assert_eq!(list.remove(k), i);
        }
        assert_eq!(list.slot_count(), 1);
        assert!(list.is_empty());
        assert_eq!(list.front(), None);
    }

    #[test]
    fn take_all_wakers_takes_only_linked_ones() {
        let mut list = WaitList::new();
        let a = list.push_back(1, waker());
        list.push_back(2, waker());
        list.push_back(3, waker());
        list.unlink(a);
        let mut out = Vec::new();
        list.take_all_wakers(&mut out);
        assert_eq!(out.len(), 2);
        assert!(list.node_mut(a).waker.is_some());
        assert_eq!(list.take_front_waker().map(|_| ()), None);
    }
}
