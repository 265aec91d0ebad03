//! The verification entry point that the Lua half calls through LuaJIT's FFI.
//!
//! LuaJIT compiles an FFI call into the trace of its caller, where a call
//! into a Lua C function (every mlua method) ends the trace. [`check`]
//! returns only the kind of decision. It stores the decision, under a
//! ticket that names the check, until the Lua half takes it with the
//! handle's `take_decision`.
//!
//! The Lua half names a verifier by a number from [`register`], never by a
//! pointer. A Lua finalizer can make a verifier reachable again after mlua
//! destroyed its handle. Its number is then no longer registered, so the
//! check fails, where a pointer would lead to freed memory.

use std::collections::HashMap;
use std::ffi::c_int;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};

use jwtguard::{Decision, Pending, Verifier};
use parking_lot::{Mutex, RwLock};

use crate::logs::LogQueue;

/// Kind of a decision, in [`check`]'s result and first in `take_decision`'s
/// results. The Lua half defines the same numbers.
pub(crate) const ALLOW: u8 = 0;
pub(crate) const DENY: u8 = 1;
pub(crate) const PENDING: u8 = 2;
/// Returned for an unknown mode or when the core panicked.
const FAILED: c_int = 3;
/// Returned when the verifier's handle has been garbage-collected.
const COLLECTED: c_int = 4;
/// Added to the result when the fetch thread has queued log records.
const LOGS_QUEUED: c_int = 8;

/// Kinds of input to [`check`]. The Lua half defines the same numbers.
const NO_SOURCE: c_int = 0;
const SOURCE: c_int = 1;
const TOKEN: c_int = 2;

/// A verifier as checks reach it, shared by its handle and the registry.
pub(crate) struct Checked {
    pub(crate) verifier: Verifier,
    pub(crate) logs: Arc<LogQueue>,
    last: Mutex<Last>,
}

/// The decision of the last check, if stored and not yet taken.
#[derive(Default)]
struct Last {
    ticket: u64,
    decision: Option<Decision>,
}

impl Checked {
    pub(crate) fn new(verifier: Verifier, logs: Arc<LogQueue>) -> Checked {
        Checked {
            verifier,
            logs,
            last: Mutex::default(),
        }
    }

    /// Stores `decision` (or nothing) as the last one and returns its ticket.
    pub(crate) fn store(&self, decision: Option<Decision>) -> u64 {
        let mut last = self.last.lock();
        last.ticket += 1;
        last.decision = decision;
        last.ticket
    }

    /// Takes the decision stored under `ticket`. Returns `None` when it was
    /// taken already or a later check replaced it.
    pub(crate) fn take(&self, ticket: u64) -> Option<Decision> {
        let mut last = self.last.lock();
        if last.ticket == ticket {
            last.decision.take()
        } else {
            None
        }
    }
}

type Registry = HashMap<u64, Arc<Checked>, foldhash::fast::RandomState>;

static REGISTRY: LazyLock<RwLock<Registry>> = LazyLock::new(RwLock::default);

/// The next verifier number. Numbers are never reused, and stay below 2^53
/// so that Lua numbers hold them exactly: at a million new verifiers a
/// second that would take 285 years.
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// Registers `checked` for [`check`] and returns its number.
pub(crate) fn register(checked: Arc<Checked>) -> u64 {
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    REGISTRY.write().insert(id, checked);
    id
}

/// Removes the verifier numbered `id`. Later checks of it fail.
pub(crate) fn unregister(id: u64) {
    REGISTRY.write().remove(&id);
}

/// Decides `input` with verifier number `id`. Returns ALLOW, DENY or
/// PENDING, plus [`LOGS_QUEUED`] when log records wait in the queue, or
/// [`FAILED`] or [`COLLECTED`]. Writes the decision's ticket to `out[0]`
/// and, for PENDING, the generation to wait past to `out[1]`.
///
/// `mode` is [`SOURCE`] for a token source, [`NO_SOURCE`] for a request
/// without one and [`TOKEN`] for a bare token. `generation` is the one of an
/// earlier PENDING, or 0. An ALLOW decision is stored for `take_decision`
/// only when `store_allow` is nonzero, since the Lua half may have the
/// claims already.
///
/// # Safety
/// `input` points to `len` readable bytes unless `mode` is [`NO_SOURCE`],
/// and `out` to two writable `uint64_t`.
pub(crate) unsafe extern "C" fn check(
    id: u64,
    input: *const u8,
    len: usize,
    mode: c_int,
    generation: u64,
    store_allow: c_int,
    out: *mut u64,
) -> c_int {
    // SAFETY: the caller passes `len` readable bytes for a source or token.
    let input = (mode != NO_SOURCE).then(|| unsafe { std::slice::from_raw_parts(input, len) });
    let pending = (generation != 0).then_some(Pending { generation });
    let checked = catch_unwind(AssertUnwindSafe(|| {
        let Some(checked) = REGISTRY.read().get(&id).cloned() else {
            return Err(COLLECTED);
        };
        let decision = match (mode, input) {
            (NO_SOURCE | SOURCE, source) => checked.verifier.verify_again(source, pending),
            (TOKEN, Some(token)) => checked.verifier.verify_token_again(token, pending),
            _ => return Err(FAILED),
        };
        Ok((checked, decision))
    }));
    let (checked, decision) = match checked {
        Ok(Ok(decided)) => decided,
        Ok(Err(code)) => return code,
        Err(_) => return FAILED,
    };

    let kind = match &decision {
        Decision::Allow(_) => ALLOW,
        Decision::Deny(_) => DENY,
        Decision::Pending(pending) => {
            // SAFETY: the caller passes two writable uint64_t.
            unsafe { out.add(1).write(pending.generation) };
            PENDING
        }
    };
    let stored = match decision {
        Decision::Allow(_) if store_allow == 0 => None,
        Decision::Pending(_) => None,
        decision => Some(decision),
    };
    // SAFETY: as above.
    unsafe { out.write(checked.store(stored)) };
    let logs = if checked.logs.pending() > 0 {
        LOGS_QUEUED
    } else {
        0
    };
    c_int::from(kind) | logs
}
