//! Fork detection. Threads do not survive `fork`, so a remote key set must
//! know whether its fetch thread was started in this process or inherited
//! from a parent.

use std::sync::Once;
use std::sync::atomic::{AtomicU64, Ordering};

static FORKS: AtomicU64 = AtomicU64::new(0);
static REGISTER: Once = Once::new();

extern "C" fn child_after_fork() {
    // Only an atomic add: the child of a multi-threaded process may run
    // async-signal-safe code only until it execs or starts afresh.
    FORKS.fetch_add(1, Ordering::AcqRel);
}

/// Installs the fork handler once per process.
pub(crate) fn register() {
    REGISTER.call_once(|| {
        // SAFETY: `child_after_fork` is an `extern "C"` function with no
        // arguments that only touches a static atomic, as `pthread_atfork`
        // requires of a handler run in the child.
        unsafe {
            libc::pthread_atfork(None, None, Some(child_after_fork));
        }
    });
}

/// Returns how many forks led to this process since the handler was
/// installed; it differs between a parent and each of its children.
pub(crate) fn generation() -> u64 {
    FORKS.load(Ordering::Acquire)
}
