//! Test helpers: a tiny deterministic single-threaded executor and a counting
//! waker. Tests never sleep: they run the executor until no task can make
//! progress and then check what happened.
#![allow(dead_code)]

use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};

type Task = Pin<Box<dyn Future<Output = ()>>>;

/// A spawned task and its waker; `None` once finished (or while polled).
type Slot = Option<(Task, Arc<TaskWaker>)>;

/// A single-threaded executor that runs tasks until all of them wait.
#[derive(Default)]
pub struct Executor {
    tasks: RefCell<Vec<Slot>>,
    ready: Arc<Mutex<VecDeque<usize>>>,
}

struct TaskWaker {
    id: usize,
    queued: AtomicBool,
    ready: Arc<Mutex<VecDeque<usize>>>,
}

impl Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if !self.queued.swap(true, Ordering::SeqCst) {
            self.ready.lock().unwrap().push_back(self.id);
        }
    }
}

/// The result of a spawned task.
pub struct Handle<T>(Rc<RefCell<Option<T>>>);

impl<T> Handle<T> {
    pub fn is_finished(&self) -> bool {
        self.0.borrow().is_some()
    }

    /// The task's output; panics if it has not finished.
    pub fn output(&self) -> T {
        self.0.borrow_mut().take().expect("task has not finished")
    }
}

impl Executor {
    pub fn new() -> Self {
        Self::default()
    }

    /// Spawns `future`; it first runs at the next `run_until_idle`.
    pub fn spawn<F>(&self, future: F) -> Handle<F::Output>
    where
        F: Future + 'static,
    {
        let slot = Rc::new(RefCell::new(None));
        let out = slot.clone();
        let task: Task = Box::pin(async move {
            let value = future.await;
            *out.borrow_mut() = Some(value);
        });
        let mut tasks = self.tasks.borrow_mut();
        let id = tasks.len();
        let waker = Arc::new(TaskWaker {
            id,
            queued: AtomicBool::new(false),
            ready: self.ready.clone(),
        });
        waker.wake_by_ref();
        tasks.push(Some((task, waker)));
        Handle(slot)
    }

    /// Runs woken tasks until none is left to run. Returns the number of polls.
    pub fn run_until_idle(&self) -> usize {
        let mut polls = 0;
        loop {
            let Some(id) = self.ready.lock().unwrap().pop_front() else {
                return polls;
            };
            let Some((mut task, waker)) = self.tasks.borrow_mut()[id].take() else {
                continue;
            };
            waker.queued.store(false, Ordering::SeqCst);
            let w = Waker::from(waker.clone());
            polls += 1;
            if task
                .as_mut()
                .poll(&mut Context::from_waker(&w))
                .is_pending()
            {
                self.tasks.borrow_mut()[id] = Some((task, waker));
            }
        }
    }

    /// Spawns `future`, runs until idle and returns its output; panics if it
    /// did not finish.
    pub fn run<F>(&self, future: F) -> F::Output
    where
        F: Future + 'static,
    {
        let handle = self.spawn(future);
        self.run_until_idle();
        assert!(
            handle.is_finished(),
            "the future did not finish: it waits for nothing that will come"
        );
        handle.output()
    }

    /// The number of tasks still pending.
    pub fn pending_tasks(&self) -> usize {
        self.tasks.borrow().iter().filter(|t| t.is_some()).count()
    }
}

/// A waker that counts how often it was woken.
pub struct Counter(AtomicUsize);

impl Counter {
    pub fn count(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

impl Wake for Counter {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

pub fn counting_waker() -> (Waker, Arc<Counter>) {
    let counter = Arc::new(Counter(AtomicUsize::new(0)));
    (Waker::from(counter.clone()), counter)
}

/// Polls `future` once with `waker`.
pub fn poll_with<F: Future + Unpin>(future: &mut F, waker: &Waker) -> Poll<F::Output> {
    Pin::new(future).poll(&mut Context::from_waker(waker))
}

/// Polls `future` once with a waker nobody watches.
pub fn poll_once<F: Future + Unpin>(future: &mut F) -> Poll<F::Output> {
    poll_with(future, &counting_waker().0)
}

/// A value that counts its drops, to check that values are neither leaked
/// nor dropped twice.
#[derive(Debug)]
pub struct Tracked {
    pub value: usize,
    drops: Rc<RefCell<Vec<usize>>>,
}

impl Tracked {
    pub fn new(value: usize, drops: &Rc<RefCell<Vec<usize>>>) -> Self {
        Self {
            value,
            drops: drops.clone(),
        }
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.drops.borrow_mut().push(self.value);
    }
}
