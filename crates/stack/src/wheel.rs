//! A hierarchical hashed timing wheel: the timer store of the event loop.
//!
//! Time is measured in whole milliseconds ("ticks") since the loop started;
//! the loop converts `Instant`s to ticks before calling in here.
//!
//! # Layout
//!
//! There are [`LEVELS`] levels of [`SLOTS`] slots each. A slot of level `k`
//! covers `64^k` ticks, so level 0 has one slot per tick and the whole wheel
//! spans `64^6 = 2^36` ticks (about 2.2 years). Each slot is an intrusive
//! doubly linked list threaded through the entries, which live in a
//! [`Slab`]; each level has a `u64` occupancy bitmap with bit `s` set exactly
//! when slot `s` is non-empty. Two more lists exist: `PENDING` (deadlines
//! already reached when inserted) and `OVERFLOW` (deadlines beyond the span).
//!
//! # Invariant
//!
//! Digits are the 6-bit groups of a tick: `digit(t, k) = (t >> 6k) & 63`.
//! Let `now` be the tick the wheel has advanced to. Every entry with deadline
//! `d` sits in a list that is a pure function of `(d, now)`:
//!
//! * `d <= now`: in `PENDING` (it was inserted with a deadline in the past;
//!   every entry that was in the wheel proper with `d <= now` has fired).
//! * `d > now`: let `k` be the most significant digit position in which `d`
//!   and `now` differ. If `k < LEVELS` the entry is in level `k`, slot
//!   `digit(d, k)`; otherwise it is in `OVERFLOW`.
//!
//! Consequences that the code relies on:
//!
//! * `d` and `now` agree on every digit above `k`, and since `d > now`,
//!   `digit(d, k) > digit(now, k)`: every occupied slot of level `k` lies
//!   strictly after `now`'s own slot in that level, inside `now`'s current
//!   `64^(k+1)`-tick block. So the lowest set bit of a level's bitmap is the
//!   next slot of that level to be reached, and the tick at which it is
//!   reached is `(now rounded down to 64^(k+1)) + slot * 64^k`.
//! * Every occupied slot of level `k` starts at or after the end of `now`'s
//!   slot in level `k`, which is past every deadline stored in levels below
//!   `k`. Hence the next event is always the first occupied slot of the
//!   lowest non-empty level; no comparison across levels is needed.
//! * Entries with equal deadlines are always in the same list, appended in
//!   insertion order, and lists are only ever moved front-to-back, so ties
//!   fire in insertion order.
//!
//! Advancing to `target` repeatedly takes the next event (the start tick `S`
//! of that slot); if `S <= target`, `now` becomes `S` and the slot is
//! drained: entries with `d == S` fire, the others are re-linked, which by the
//! invariant puts them in a strictly lower level (they differ from `S` only in
//! digits below `k`). Finally `now` becomes `target`; no remaining slot starts
//! at or before `target`, so the invariant still holds. Time thus jumps from
//! occupied slot to occupied slot and never loops per tick.
//!
//! `OVERFLOW` entries are in later `2^36`-tick blocks than `now`. The wheel
//! keeps a lower bound `overflow_min` of their deadlines; once the wheel
//! proper is empty, the next event is the start of the block holding
//! `overflow_min`. There the overflow list is scanned once: entries of that
//! block move into the wheel and the bound is recomputed exactly. This scan is
//! the one cost proportional to something other than fired or cascaded
//! entries, and it happens at most once per 2.2-year block that holds a
//! far-future deadline.

use slab::Slab;
use std::fmt;

/// Bits of a tick consumed by each level.
const LEVEL_BITS: u32 = 6;
/// Slots per level.
const SLOTS: usize = 1 << LEVEL_BITS;
/// Number of levels.
const LEVELS: usize = 6;
/// Ticks spanned by the whole wheel (`64^6 = 2^36`): deadlines whose tick
/// differs from `now` at or above this bit go to the overflow list.
const SPAN_BITS: u32 = LEVEL_BITS * LEVELS as u32;

/// List ids: `level * SLOTS + slot` for wheel slots, then these two.
const PENDING: usize = LEVELS * SLOTS;
const OVERFLOW: usize = PENDING + 1;
const LISTS: usize = OVERFLOW + 1;

/// "No entry" in the intrusive links.
const NIL: usize = usize::MAX;

/// Handle to a timer in a [`Wheel`].
///
/// The generation makes a key unique over the wheel's whole life, so a key
/// whose entry fired or was removed never matches a later entry that happens
/// to reuse the same slab slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TimerKey {
    index: usize,
    generation: u64,
}

struct Entry<T> {
    value: T,
    deadline: u64,
    generation: u64,
    /// Id of the list the entry is linked into (see `PENDING`, `OVERFLOW`).
    list: usize,
    prev: usize,
    next: usize,
}

#[derive(Clone, Copy)]
struct List {
    head: usize,
    tail: usize,
}

impl List {
    const EMPTY: List = List {
        head: NIL,
        tail: NIL,
    };
}

/// The next thing `advance` has to process, and the tick at which it happens.
enum Event {
    Slot { level: usize, slot: usize },
    Overflow,
}

/// A hierarchical timing wheel holding values of type `T` (for example a
/// `Waker`) until their deadline tick is reached.
pub(crate) struct Wheel<T> {
    entries: Slab<Entry<T>>,
    /// Heads and tails of all `LISTS` lists.
    lists: Box<[List]>,
    /// Bit `s` of `occupied[k]` is set iff slot `s` of level `k` is non-empty.
    occupied: [u64; LEVELS],
    /// A lower bound on the deadlines in `OVERFLOW` (`u64::MAX` when empty).
    /// It may be stale (too low) after removals; it is recomputed exactly
    /// whenever the overflow list is scanned.
    overflow_min: u64,
    now: u64,
    next_generation: u64,
}

impl<T> Wheel<T> {
    /// An empty wheel at tick 0.
    pub(crate) fn new() -> Self {
        Wheel {
            entries: Slab::new(),
            lists: vec![List::EMPTY; LISTS].into_boxed_slice(),
            occupied: [0; LEVELS],
            overflow_min: u64::MAX,
            now: 0,
            next_generation: 0,
        }
    }

    /// The tick the wheel has advanced to.
    #[cfg(test)]
    pub(crate) fn now(&self) -> u64 {
        self.now
    }

    /// Number of live timers.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Stores `value` until tick `deadline`. A deadline at or before
    /// [`now`](Self::now) fires at the next [`advance`](Self::advance).
    /// O(1); allocates only when the slab has to grow.
    pub(crate) fn insert(&mut self, deadline: u64, value: T) -> TimerKey {
        let generation = self.next_generation;
        self.next_generation += 1;
        let index = self.entries.insert(Entry {
            value,
            deadline,
            generation,
            list: NIL,
            prev: NIL,
            next: NIL,
        });
        self.link(index);
        TimerKey { index, generation }
    }

    /// Cancels a timer, returning its value, or `None` if it already fired or
    /// was removed. O(1).
    pub(crate) fn remove(&mut self, key: TimerKey) -> Option<T> {
        self.get_mut(key)?;
        self.unlink(key.index);
        Some(self.entries.remove(key.index).value)
    }

    /// The values of the live timers, in no particular order.
    pub(crate) fn values(&self) -> impl Iterator<Item = &T> {
        self.entries.iter().map(|(_, entry)| &entry.value)
    }

    /// The value of a live timer, e.g. to replace a stored waker.
    pub(crate) fn get_mut(&mut self, key: TimerKey) -> Option<&mut T> {
        match self.entries.get_mut(key.index) {
            Some(entry) if entry.generation == key.generation => Some(&mut entry.value),
            _ => None,
        }
    }

    /// The earliest tick at which [`advance`](Self::advance) could fire
    /// something, or `None` if the wheel is empty.
    ///
    /// This is never later than the earliest deadline, but may be earlier:
    /// an entry in a coarse slot is reported at the start of that slot, and
    /// advancing there only moves it to a finer slot. Advancing to the
    /// returned tick always makes progress: afterwards the result is strictly
    /// later (or `None`). O(`LEVELS`), no scan of entries.
    pub(crate) fn next_deadline(&self) -> Option<u64> {
        if self.lists[PENDING].head != NIL {
            return Some(self.now);
        }
        self.next_event().map(|(_, at)| at)
    }

    /// Moves time forward to `now` (a `now` earlier than the current tick is
    /// treated as the current tick), calling `fire` for every entry whose
    /// deadline is `<= now`.
    ///
    /// Entries inserted with a deadline already in the past fire first, in
    /// insertion order; the rest fire in deadline order, ties in insertion
    /// order. Nothing ever fires before its deadline. The cost is
    /// proportional to the entries fired or moved to a finer level plus the
    /// number of non-empty slots visited, independent of how many timers are
    /// live and of the size of the jump.
    ///
    /// If `fire` panics the wheel stays consistent; entries not yet fired
    /// fire at the next call.
    pub(crate) fn advance(&mut self, now: u64, mut fire: impl FnMut(T)) {
        let target = now.max(self.now);
        while let Some(index) = self.pop_front(PENDING) {
            fire(self.entries.remove(index).value);
        }
        while let Some((event, at)) = self.next_event() {
            if at > target {
                break;
            }
            // `at < self.now` only if a previous `fire` panicked mid-drain.
            self.now = at.max(self.now);
            match event {
                Event::Slot { level, slot } => self.drain_slot(level * SLOTS + slot, &mut fire),
                Event::Overflow => self.drain_overflow(&mut fire),
            }
        }
        self.now = target;
    }

    /// The next slot or overflow block to process and the tick it starts at.
    fn next_event(&self) -> Option<(Event, u64)> {
        // By the invariant the lowest non-empty level holds the next event,
        // and within it the lowest occupied slot.
        for (level, &bits) in self.occupied.iter().enumerate() {
            if bits != 0 {
                let slot = bits.trailing_zeros() as usize;
                let shift = LEVEL_BITS * level as u32;
                let block = self.now & !((1u64 << (shift + LEVEL_BITS)) - 1);
                let at = block + ((slot as u64) << shift);
                return Some((Event::Slot { level, slot }, at));
            }
        }
        if self.lists[OVERFLOW].head != NIL {
            // Overflow entries are in later span-blocks than `now`, so this
            // block start is after `now`.
            let at = self.overflow_min & !((1u64 << SPAN_BITS) - 1);
            return Some((Event::Overflow, at));
        }
        None
    }

    /// Empties the slot whose start tick is `self.now`: entries due now fire,
    /// the rest move to lower levels.
    fn drain_slot(&mut self, list: usize, fire: &mut impl FnMut(T)) {
        // Entries are popped one at a time so that every entry is either
        // linked or removed whenever `fire` runs (panic safety).
        while let Some(index) = self.pop_front(list) {
            if self.entries[index].deadline <= self.now {
                fire(self.entries.remove(index).value);
            } else {
                self.link(index);
            }
        }
    }

    /// `self.now` is the start of a span-block that holds (or held) the
    /// smallest overflow deadline: moves the entries of this block into the
    /// wheel and recomputes `overflow_min` over the rest.
    fn drain_overflow(&mut self, fire: &mut impl FnMut(T)) {
        let mut min = u64::MAX;
        let mut index = self.lists[OVERFLOW].head;
        while index != NIL {
            let entry = &self.entries[index];
            let next = entry.next;
            let deadline = entry.deadline;
            if (deadline ^ self.now) >> SPAN_BITS != 0 {
                // Still in a later block.
                min = min.min(deadline);
            } else {
                self.unlink(index);
                if deadline <= self.now {
                    // If an earlier `fire` panicked, `overflow_min` keeps its
                    // old (lower) value, which is still a valid lower bound.
                    fire(self.entries.remove(index).value);
                } else {
                    self.link(index);
                }
            }
            index = next;
        }
        self.overflow_min = min;
    }

    /// Links an unlinked entry at the back of the list its deadline belongs
    /// in (see the module invariant).
    fn link(&mut self, index: usize) {
        let deadline = self.entries[index].deadline;
        let list = if deadline <= self.now {
            PENDING
        } else {
            // Most significant differing bit, then its digit position.
            let bit = (deadline ^ self.now).ilog2();
            let level = (bit / LEVEL_BITS) as usize;
            if level < LEVELS {
                let slot = (deadline >> (LEVEL_BITS * level as u32)) as usize & (SLOTS - 1);
                self.occupied[level] |= 1 << slot;
                level * SLOTS + slot
            } else {
                self.overflow_min = self.overflow_min.min(deadline);
                OVERFLOW
            }
        };
        let tail = self.lists[list].tail;
        let entry = &mut self.entries[index];
        entry.list = list;
        entry.prev = tail;
        entry.next = NIL;
        if tail == NIL {
            self.lists[list].head = index;
        } else {
            self.entries[tail].next = index;
        }
        self.lists[list].tail = index;
    }

    /// Unlinks an entry from its list, keeping bitmaps and `overflow_min`
    /// consistent. The entry stays in the slab.
    fn unlink(&mut self, index: usize) {
        let Entry {
            list, prev, next, ..
        } = self.entries[index];
        if prev == NIL {
            self.lists[list].head = next;
        } else {
            self.entries[prev].next = next;
        }
        if next == NIL {
            self.lists[list].tail = prev;
        } else {
            self.entries[next].prev = prev;
        }
        if self.lists[list].head == NIL {
            if list < PENDING {
                self.occupied[list / SLOTS] &= !(1 << (list % SLOTS));
            } else if list == OVERFLOW {
                self.overflow_min = u64::MAX;
            }
        }
        let entry = &mut self.entries[index];
        entry.list = NIL;
        entry.prev = NIL;
        entry.next = NIL;
    }

    /// Unlinks and returns the first entry of a list.
    fn pop_front(&mut self, list: usize) -> Option<usize> {
        let index = self.lists[list].head;
        if index == NIL {
            return None;
        }
        self.unlink(index);
        Some(index)
    }
}

impl<T> Default for Wheel<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> fmt::Debug for Wheel<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Wheel")
            .field("now", &self.now)
            .field("len", &self.len())
            .field("next_deadline", &self.next_deadline())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// xorshift64*: small, deterministic, good enough for test inputs.
    struct Rng(u64);

    impl Rng {
        fn new(seed: u64) -> Self {
            Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
        }

        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }

        /// Uniform-ish in `0..n` (`n > 0`).
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    fn fired_values<T>(wheel: &mut Wheel<T>, now: u64) -> Vec<T> {
        let mut out = Vec::new();
        wheel.advance(now, |v| out.push(v));
        out
    }

    /// A deadline relative to `now` drawn from a mix of scales: past, same
    /// tick, near, each level, beyond the span, and near `u64::MAX`.
    fn random_deadline(rng: &mut Rng, now: u64) -> u64 {
        match rng.below(10) {
            0 => now.saturating_sub(rng.below(100)),
            1 => now,
            2 => now.saturating_add(1 + rng.below(64)),
            3 => now.saturating_add(rng.below(4096)),
            4 => now.saturating_add(rng.below(1 << 20)),
            5 => now.saturating_add(rng.below(1 << 30)),
            6 => now.saturating_add(rng.below(1 << 36)),
            7 => now.saturating_add(rng.below(1 << 42)),
            8 => u64::MAX - rng.below(1 << 38),
            _ => now.saturating_add(rng.below(10)),
        }
    }

    /// Random operations checked against a reference model: the model orders
    /// live timers by `(max(deadline, now at insert), insertion sequence)`,
    /// which is exactly the documented firing order.
    fn model_check(seed: u64, ops: usize) {
        let mut rng = Rng::new(seed);
        let mut wheel: Wheel<u64> = Wheel::new();
        // (effective deadline, seq) -> (deadline, key)
        let mut model: BTreeMap<(u64, u64), (u64, TimerKey)> = BTreeMap::new();
        let mut by_seq: BTreeMap<u64, (u64, u64)> = BTreeMap::new(); // seq -> model key
        let mut dead_keys: Vec<TimerKey> = Vec::new();
        let mut seq = 0u64;
        for _ in 0..ops {
            let now = wheel.now();
            match rng.below(16) {
                0..=6 => {
                    let deadline = random_deadline(&mut rng, now);
                    let key = wheel.insert(deadline, seq);
                    let effective = (deadline.max(now), seq);
                    model.insert(effective, (deadline, key));
                    by_seq.insert(seq, effective);
                    seq += 1;
                }
                7 | 8 => {
                    // Remove a random live timer.
                    if let Some((&s, _)) = by_seq.range(rng.below(seq.max(1))..).next() {
                        let effective = by_seq.remove(&s).unwrap();
                        let (_, key) = model.remove(&effective).unwrap();
                        assert_eq!(wheel.remove(key), Some(s));
                        assert_eq!(wheel.remove(key), None);
                        dead_keys.push(key);
                    }
                }
                9 => {
                    // Dead keys stay dead even though their slots get reused.
                    if !dead_keys.is_empty() {
                        let key = dead_keys[rng.below(dead_keys.len() as u64) as usize];
                        assert!(wheel.get_mut(key).is_none());
                        assert_eq!(wheel.remove(key), None);
                    }
                }
                10 => {
                    // get_mut sees the right value.
                    if let Some((&s, effective)) = by_seq.range(rng.below(seq.max(1))..).next() {
                        let (_, key) = model[effective];
                        assert_eq!(wheel.get_mut(key), Some(&mut s.clone()));
                    }
                }
                _ => {
                    let target = match rng.below(8) {
                        0 => now,
                        1 => now.saturating_add(rng.below(3)),
                        2 => now.saturating_add(rng.below(100)),
                        3 => now.saturating_add(rng.below(100_000)),
                        4 => now.saturating_add(rng.below(1 << 40)),
                        5 => wheel.next_deadline().unwrap_or(now),
                        6 => u64::MAX - rng.below(1 << 37),
                        _ => now.saturating_add(rng.below(5000)),
                    };
                    // next_deadline is never later than the true minimum.
                    let true_min = model.keys().next().map(|&(d, _)| d);
                    match (wheel.next_deadline(), true_min) {
                        (None, None) => {}
                        (Some(nd), Some(min)) => {
                            assert!(nd <= min, "next_deadline {nd} > min {min}");
                            assert!(nd >= now);
                        }
                        other => panic!("next_deadline/model mismatch {other:?}"),
                    }
                    let fired = fired_values(&mut wheel, target);
                    // Time never goes backwards.
                    let target = target.max(now);
                    let mut expected = Vec::new();
                    while let Some(entry) = model.first_entry() {
                        if entry.key().0 > target {
                            break;
                        }
                        let ((_, s), (deadline, key)) = entry.remove_entry();
                        assert!(deadline <= target);
                        by_seq.remove(&s);
                        expected.push(s);
                        dead_keys.push(key);
                    }
                    assert_eq!(fired, expected, "seed {seed} advance {now} -> {target}");
                    assert_eq!(wheel.now(), target);
                }
            }
            assert_eq!(wheel.len(), model.len());
            assert_eq!(wheel.is_empty(), model.is_empty());
        }
        // Drain everything by walking next_deadline.
        let mut steps = 0;
        while let Some(nd) = wheel.next_deadline() {
            let fired = fired_values(&mut wheel, nd);
            for s in fired {
                let effective = by_seq.remove(&s).unwrap();
                let (deadline, _) = model.remove(&effective).unwrap();
                assert!(deadline <= nd);
            }
            if let Some(&(min, _)) = model.keys().next() {
                assert!(min > nd);
            }
            steps += 1;
            assert!(steps < 1_000_000);
        }
        assert!(model.is_empty());
        assert!(wheel.is_empty());
    }

    #[test]
    fn matches_reference_model() {
        for seed in 1..=40 {
            model_check(seed, 5_000);
        }
    }

    #[test]
    fn fires_in_deadline_order_never_early() {
        let mut rng = Rng::new(7);
        let mut wheel = Wheel::new();
        let mut deadlines = Vec::new();
        for _ in 0..20_000 {
            let d = rng.below(1 << 24);
            wheel.insert(d, d);
            deadlines.push(d);
        }
        deadlines.sort_unstable();
        let mut all = Vec::new();
        let mut now = 0;
        while now < 1 << 24 {
            now += 1 + rng.below(5000);
            wheel.advance(now, |d| {
                assert!(d <= now, "fired {d} early at {now}");
                all.push(d);
            });
            // Everything due has fired.
            assert_eq!(all.len(), deadlines.partition_point(|&d| d <= now));
        }
        assert_eq!(all, deadlines);
        assert!(wheel.is_empty());
    }

    #[test]
    fn ties_fire_in_insertion_order() {
        let mut wheel = Wheel::new();
        wheel.insert(5000, 0);
        wheel.advance(10, |_| unreachable!());
        wheel.insert(5000, 1);
        wheel.advance(4096, |_| unreachable!());
        wheel.insert(5000, 2);
        wheel.advance(4999, |_| unreachable!());
        wheel.insert(5000, 3);
        assert_eq!(fired_values(&mut wheel, 5000), [0, 1, 2, 3]);
    }

    #[test]
    fn remove_before_firing() {
        let mut wheel = Wheel::new();
        let a = wheel.insert(10, "a");
        let b = wheel.insert(10, "b");
        let c = wheel.insert(1_000_000, "c");
        assert_eq!(wheel.remove(b), Some("b"));
        assert_eq!(wheel.remove(c), Some("c"));
        assert_eq!(wheel.len(), 1);
        assert_eq!(fired_values(&mut wheel, 2_000_000), ["a"]);
        assert_eq!(wheel.remove(a), None);
        assert_eq!(wheel.remove(b), None);
        assert!(wheel.is_empty());
        assert_eq!(wheel.next_deadline(), None);
    }

    #[test]
    fn removing_the_only_entry_clears_next_deadline() {
        let mut wheel = Wheel::new();
        for d in [0, 1, 63, 64, 4095, 1 << 30, 1 << 36, 1 << 50, u64::MAX] {
            let key = wheel.insert(d, ());
            assert!(wheel.next_deadline().unwrap() <= d);
            wheel.remove(key).unwrap();
            assert_eq!(wheel.next_deadline(), None, "deadline {d}");
        }
    }

    #[test]
    fn stale_keys_do_not_hit_reused_slots() {
        let mut wheel = Wheel::new();
        let a = wheel.insert(100, 1);
        assert_eq!(wheel.remove(a), Some(1));
        let b = wheel.insert(100, 2); // reuses a's slab slot
        assert_ne!(a, b);
        assert_eq!(wheel.get_mut(a), None);
        assert_eq!(wheel.remove(a), None);
        assert_eq!(wheel.get_mut(b), Some(&mut 2));

        assert_eq!(fired_values(&mut wheel, 100), [2]);
        let c = wheel.insert(200, 3); // reuses the slot of fired b
        assert_eq!(wheel.remove(b), None);
        assert_eq!(wheel.get_mut(b), None);
        assert_eq!(wheel.remove(c), Some(3));
    }

    #[test]
    fn get_mut_updates_value() {
        let mut wheel = Wheel::new();
        let key = wheel.insert(70, 1);
        *wheel.get_mut(key).unwrap() = 2;
        wheel.advance(69, |_| unreachable!());
        *wheel.get_mut(key).unwrap() = 3; // after a cascade
        assert_eq!(fired_values(&mut wheel, 70), [3]);
        assert_eq!(wheel.get_mut(key), None);
    }

    #[test]
    fn past_deadlines_fire_at_next_advance() {
        let mut wheel = Wheel::new();
        wheel.advance(1000, |_: u32| unreachable!());
        wheel.insert(1000, 1);
        wheel.insert(0, 2);
        wheel.insert(999, 3);
        wheel.insert(1001, 4);
        assert_eq!(wheel.next_deadline(), Some(1000));
        // Advancing to the same tick (or an earlier one) fires them.
        assert_eq!(fired_values(&mut wheel, 500), [1, 2, 3]);
        assert_eq!(wheel.now(), 1000);
        assert_eq!(wheel.next_deadline(), Some(1001));
        assert_eq!(fired_values(&mut wheel, 1001), [4]);
    }

    #[test]
    fn overflow_deadlines() {
        let span = 1u64 << SPAN_BITS;
        let mut wheel = Wheel::new();
        let far = [
            span,
            span + 1,
            3 * span + 12345,
            1 << 50,
            u64::MAX - 1,
            u64::MAX,
        ];
        for (i, &d) in far.iter().enumerate() {
            wheel.insert(d, i);
        }
        wheel.insert(span - 1, 100); // last tick inside the span
        for (i, &d) in far.iter().enumerate() {
            let nd = wheel.next_deadline().unwrap();
            assert!(nd <= d);
            wheel.advance(d - 1, |v| assert_eq!(v, 100));
            assert_eq!(fired_values(&mut wheel, d), [i]);
        }
        assert!(wheel.is_empty());
        assert_eq!(wheel.now(), u64::MAX);
    }

    #[test]
    fn overflow_removal_and_stale_minimum() {
        let span = 1u64 << SPAN_BITS;
        let mut wheel = Wheel::new();
        let a = wheel.insert(2 * span + 5, 'a');
        wheel.insert(7 * span + 9, 'b');
        assert_eq!(wheel.remove(a), Some('a'));
        // The bound is stale now; it may be conservative but never late, and
        // walking next_deadline still terminates quickly.
        let mut steps = 0;
        let mut fired = Vec::new();
        while let Some(nd) = wheel.next_deadline() {
            assert!(nd <= 7 * span + 9);
            wheel.advance(nd, |v| fired.push((v, nd)));
            steps += 1;
        }
        assert_eq!(fired, [('b', 7 * span + 9)]);
        assert!(steps <= 2 + LEVELS, "{steps} steps");
    }

    #[test]
    fn large_jumps() {
        let mut wheel = Wheel::new();
        // An empty wheel jumps anywhere at once.
        wheel.advance(1_000_000_000, |_: ()| unreachable!());
        assert_eq!(wheel.now(), 1_000_000_000);
        wheel.advance(u64::MAX - 10, |_| unreachable!());
        assert_eq!(wheel.next_deadline(), None);

        let mut wheel = Wheel::new();
        let mut rng = Rng::new(3);
        let mut expected: Vec<u64> = (0..10_000).map(|_| rng.below(1_000_000_000)).collect();
        for &d in &expected {
            wheel.insert(d, d);
        }
        wheel.insert(1_000_000_001, 1_000_000_001);
        expected.sort_unstable();
        assert_eq!(fired_values(&mut wheel, 1_000_000_000), expected);
        assert_eq!(wheel.len(), 1);
        assert_eq!(fired_values(&mut wheel, u64::MAX), [1_000_000_001]);
    }

    #[test]
    fn next_deadline_makes_progress() {
        let mut rng = Rng::new(11);
        let mut wheel = Wheel::new();
        let mut deadlines = Vec::new();
        for _ in 0..2_000 {
            let d = random_deadline(&mut rng, 0);
            wheel.insert(d, d);
            deadlines.push(d);
        }
        deadlines.sort_unstable();
        let mut fired = Vec::new();
        let mut last = None;
        let mut steps = 0;
        while let Some(nd) = wheel.next_deadline() {
            if let Some(last) = last {
                assert!(nd > last, "next_deadline stuck at {nd}");
            }
            // Never later than the earliest remaining deadline.
            assert!(nd <= deadlines[fired.len()]);
            wheel.advance(nd, |d| {
                assert!(d <= nd);
                fired.push(d);
            });
            last = Some(nd);
            steps += 1;
        }
        assert_eq!(fired, deadlines);
        // Each step fires or cascades something; entries cascade at most
        // LEVELS times, and there are few overflow blocks.
        assert!(steps <= deadlines.len() * (LEVELS + 1), "{steps} steps");
    }

    #[test]
    fn cascaded_slot_start_is_conservative() {
        let mut wheel = Wheel::new();
        wheel.insert(64 * 5 + 17, ());
        // Reported at the start of its level-1 slot, then exactly.
        assert_eq!(wheel.next_deadline(), Some(64 * 5));
        wheel.advance(64 * 5, |_| unreachable!());
        assert_eq!(wheel.next_deadline(), Some(64 * 5 + 17));
        assert_eq!(fired_values(&mut wheel, 64 * 5 + 17).len(), 1);
        assert_eq!(wheel.next_deadline(), None);
    }

    #[test]
    fn panicking_fire_leaves_wheel_consistent() {
        use std::panic::{catch_unwind, AssertUnwindSafe};
        let mut wheel = Wheel::new();
        for i in 0..10u64 {
            wheel.insert(4096 + i % 3, i);
        }
        wheel.insert(1 << 40, 100);
        wheel.insert(1 << 40, 101);
        let mut fired = Vec::new();
        let result = catch_unwind(AssertUnwindSafe(|| {
            wheel.advance(5000, |v| {
                fired.push(v);
                if v == 4 {
                    panic!("boom");
                }
            })
        }));
        assert!(result.is_err());
        wheel.advance(5000, |v| fired.push(v));
        assert_eq!(fired, [0, 3, 6, 9, 1, 4, 7, 2, 5, 8]);
        let result = catch_unwind(AssertUnwindSafe(|| {
            wheel.advance(1 << 40, |v| {
                fired.push(v);
                panic!("boom");
            })
        }));
        assert!(result.is_err());
        wheel.advance(1 << 40, |v| fired.push(v));
        assert_eq!(fired[10..], [100, 101]);
        assert!(wheel.is_empty());
        assert_eq!(wheel.next_deadline(), None);
    }

    #[test]
    fn million_inserts_then_removes() {
        const N: u64 = 1_000_000;
        let mut rng = Rng::new(5);
        let mut wheel = Wheel::new();
        let keys: Vec<TimerKey> = (0..N)
            .map(|i| wheel.insert(1 + rng.below(1 << 40), i))
            .collect();
        assert_eq!(wheel.len(), N as usize);
        for (i, &key) in keys.iter().enumerate().rev() {
            assert_eq!(wheel.remove(key), Some(i as u64));
        }
        assert!(wheel.is_empty());
        assert_eq!(wheel.next_deadline(), None);
        assert_eq!(wheel.remove(keys[0]), None);
        // Memory is reused: inserting again does not grow the slab.
        let capacity = wheel.entries.capacity();
        for i in 0..N {
            wheel.insert(i, i);
        }
        assert_eq!(wheel.entries.capacity(), capacity);
        let mut count = 0;
        wheel.advance(N, |_| count += 1);
        assert_eq!(count, N);
    }
}
