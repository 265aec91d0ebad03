//! The userdata behind a Lua verifier object.
//!
//! Its methods are the low-level half of the API. They never yield, only
//! `wait_for_keys` and `stop` block, and they report through plain return
//! values that the Lua half (`jwtguard.lua`) turns into OpenResty-style
//! results.
//!
//! Verification itself goes through [`check`], a C function that the Lua
//! half calls through LuaJIT's FFI. LuaJIT compiles an FFI call into the
//! trace of its caller, where a call into a Lua C function (every mlua
//! method) ends the trace. `check` returns only the kind of decision and
//! keeps the decision in the handle; [`Handle::take_decision`] turns it into
//! Lua values when the Lua half needs them.

use std::cell::Cell;
use std::ffi::c_int;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use jwtguard::{Decision, ErrorKind, KeyStats, Pending, TokenSource, Verifier};
use mlua::{
    IntoLua, IntoLuaMulti, LightUserData, Lua, MultiValue, Result as LuaResult, Table, UserData,
    UserDataMethods, Value,
};

use crate::convert::object_to_table;
use crate::logs::{LogQueue, level_name};
use crate::options;

/// Kind of a decision, the first result of a verification. The Lua half
/// defines the same numbers.
const ALLOW: u8 = 0;
const DENY: u8 = 1;
const PENDING: u8 = 2;
/// Returned by [`check`] for an unknown mode or when the core panicked. The
/// Lua half raises an error, which denies the request.
const FAILED: c_int = 3;
/// Added to [`check`]'s result when log records wait in the queue.
const LOGS_QUEUED: c_int = 4;

/// Kinds of input to [`check`]. The Lua half defines the same numbers.
const NO_SOURCE: c_int = 0;
const SOURCE: c_int = 1;
const TOKEN: c_int = 2;

/// A decision as `take_decision` returns it: its kind and four values.
type Verdict = (u8, Value, Value, Value, Value);

/// A loaded verifier, its load warnings and its queue of log records.
pub(crate) struct Handle {
    verifier: Verifier,
    warnings: Vec<String>,
    logs: Arc<LogQueue>,
    wait_timeout: Duration,
    array_mt: Option<Table>,
    /// Entries of the verified-token cache, which also bound the Lua half's
    /// copies of claims tables.
    token_cache_entries: usize,
    /// The last decision of [`check`], until taken.
    last: Cell<Option<Decision>>,
}

/// Source of the policy that `load` reads.
pub(crate) enum Source<'a> {
    Json(&'a [u8]),
    File(&'a Path),
}

/// Loads a verifier. Returns the userdata, or `nil, message, misuse`, where
/// `misuse` is true when the Lua half must raise a `bad argument` error (for
/// invalid options) rather than return the message.
pub(crate) fn load(
    lua: &Lua,
    source: Source<'_>,
    options: Option<Table>,
    array_mt: Option<Table>,
) -> LuaResult<MultiValue> {
    let options = match options::parse(options) {
        Ok(options) => options,
        Err(message) => return (Value::Nil, message, true).into_lua_multi(lua),
    };
    let (logs, sink) = LogQueue::new_with_sink();
    let mut core = options.core;
    core.log = Some(sink);
    let token_cache_entries = core.token_cache_entries;
    let loaded = match source {
        Source::Json(json) => Verifier::from_json(json, core),
        Source::File(path) => Verifier::from_file(path, core),
    };
    let loaded = match loaded {
        Ok(loaded) => loaded,
        Err(err) => {
            let misuse = matches!(err.kind(), ErrorKind::InvalidOption(_));
            return (Value::Nil, err.to_string(), misuse).into_lua_multi(lua);
        }
    };
    let handle = Handle {
        verifier: loaded.verifier,
        warnings: loaded.warnings,
        logs,
        wait_timeout: options.wait_timeout,
        array_mt,
        token_cache_entries,
        last: Cell::new(None),
    };
    lua.create_userdata(handle)?.into_lua_multi(lua)
}

impl Handle {
    /// Encodes a decision as `ALLOW, claims`, `DENY, reason, status, message,
    /// challenge` or `PENDING, generation`, padded with nils. A tuple is
    /// pushed straight onto the Lua stack, where a `MultiValue` would first
    /// be collected in a heap buffer on every call.
    fn decision(&self, lua: &Lua, decision: Decision) -> LuaResult<Verdict> {
        Ok(match decision {
            Decision::Allow(verified) => {
                let claims = object_to_table(lua, verified.claims(), self.array_mt.as_ref())?;
                (
                    ALLOW,
                    Value::Table(claims),
                    Value::Nil,
                    Value::Nil,
                    Value::Nil,
                )
            }
            Decision::Deny(denial) => (
                DENY,
                denial.reason.name().into_lua(lua)?,
                denial.status.into_lua(lua)?,
                denial.message.into_lua(lua)?,
                (*denial.www_authenticate).into_lua(lua)?,
            ),
            Decision::Pending(pending) => (
                PENDING,
                pending.generation.into_lua(lua)?,
                Value::Nil,
                Value::Nil,
                Value::Nil,
            ),
        })
    }

    fn key_stats(&self, lua: &Lua, stats: KeyStats) -> LuaResult<Table> {
        let table = lua.create_table_with_capacity(0, 6)?;
        table.set("fetches", stats.fetches)?;
        table.set("failures", stats.failures)?;
        table.set("keys", stats.keys)?;
        table.set("last_success", stats.last_success_unix)?;
        table.set("cache_age", stats.cache_age.map(|age| age.as_secs_f64()))?;
        table.set("generation", stats.generation)?;
        Ok(table)
    }

    fn take_logs(&self, lua: &Lua) -> LuaResult<(Table, u64)> {
        let (records, dropped) = self.logs.drain();
        let table = lua.create_table_with_capacity(records.len(), 0)?;
        for (level, message) in records {
            let record = lua.create_table_with_capacity(0, 2)?;
            record.set("level", level_name(level))?;
            record.set("message", message)?;
            table.raw_push(record)?;
        }
        Ok((table, dropped))
    }
}

/// Decides `input` with the verifier of `handle` and keeps the decision in
/// the handle. Returns ALLOW, DENY or PENDING, plus [`LOGS_QUEUED`] when the
/// fetch thread has queued log records; for PENDING, writes the generation
/// to `out_generation`. `mode` is [`SOURCE`] for a token source,
/// [`NO_SOURCE`] for a request without one and [`TOKEN`] for a bare token.
/// `generation` is the generation of an earlier PENDING, or 0.
///
/// # Safety
/// `handle` comes from the `address` method of a handle that is still
/// alive, `input` points to `len` readable bytes unless `mode` is
/// [`NO_SOURCE`], and `out_generation` points to a writable `uint64_t`.
pub(crate) unsafe extern "C" fn check(
    handle: *const Handle,
    input: *const u8,
    len: usize,
    mode: c_int,
    generation: u64,
    out_generation: *mut u64,
) -> c_int {
    // SAFETY: the caller keeps the handle alive and passes `len` bytes.
    let (handle, input) = unsafe {
        let input = (mode != NO_SOURCE).then(|| std::slice::from_raw_parts(input, len));
        (&*handle, input)
    };
    let pending = (generation != 0).then_some(Pending { generation });
    let decided = catch_unwind(AssertUnwindSafe(|| match (mode, input) {
        (NO_SOURCE | SOURCE, source) => Some(handle.verifier.verify_again(source, pending)),
        (TOKEN, Some(token)) => Some(handle.verifier.verify_token_again(token, pending)),
        _ => None,
    }));
    let Ok(Some(decision)) = decided else {
        return FAILED;
    };
    let kind = match &decision {
        Decision::Allow(_) => ALLOW,
        Decision::Deny(_) => DENY,
        Decision::Pending(pending) => {
            // SAFETY: the caller passes a writable uint64_t.
            unsafe { out_generation.write(pending.generation) };
            PENDING
        }
    };
    handle.last.set(Some(decision));
    let logs = if handle.logs.pending() > 0 {
        LOGS_QUEUED
    } else {
        0
    };
    c_int::from(kind) | logs
}

impl UserData for Handle {
    fn add_methods<M: UserDataMethods<Self>>(methods: &mut M) {
        methods.add_method("address", |_, this, ()| {
            Ok(LightUserData(std::ptr::from_ref(this).cast_mut().cast()))
        });
        methods.add_method("take_decision", |lua, this, ()| match this.last.take() {
            Some(decision) => this.decision(lua, decision),
            None => Err(mlua::Error::runtime(
                "no decision to take: call take_decision after check",
            )),
        });
        methods.add_method("deny_unavailable", |_, this, message: String| {
            this.last.set(Some(this.verifier.deny_unavailable(message)));
            Ok(())
        });

        methods.add_method("keys_generation", |_, this, ()| {
            Ok(this.verifier.keys_generation())
        });
        methods.add_method(
            "wait_for_keys",
            |_, this, (generation, timeout): (u64, f64)| {
                let started = Instant::now();
                let timeout = Duration::try_from_secs_f64(timeout).unwrap_or(Duration::ZERO);
                let changed = this.verifier.wait_for_keys(Pending { generation }, timeout);
                Ok((changed, started.elapsed().as_secs_f64()))
            },
        );

        methods.add_method("start", |lua, this, ()| match this.verifier.start() {
            Ok(()) => true.into_lua_multi(lua),
            Err(err) => (Value::Nil, err.to_string()).into_lua_multi(lua),
        });
        methods.add_method("stop", |_, this, ()| {
            this.verifier.stop();
            Ok(())
        });

        methods.add_method("key_stats", |lua, this, ()| {
            this.verifier
                .key_stats()
                .map(|stats| this.key_stats(lua, stats))
                .transpose()
        });
        methods.add_method("token_location", |_, this, ()| {
            let location = this.verifier.token_location();
            let source = match location.source {
                TokenSource::Header => "header",
                TokenSource::Query => "query",
            };
            Ok((source, location.name.clone()))
        });
        methods.add_method("warnings", |lua, this, ()| {
            lua.create_sequence_from(this.warnings.iter().map(String::as_str))
        });
        methods.add_method("wait_timeout", |_, this, ()| {
            Ok(this.wait_timeout.as_secs_f64())
        });
        methods.add_method("token_cache_entries", |_, this, ()| {
            Ok(this.token_cache_entries)
        });

        methods.add_method("pending_logs", |_, this, ()| Ok(this.logs.pending()));
        methods.add_method("take_logs", |lua, this, ()| this.take_logs(lua));
    }
}

impl Drop for Handle {
    /// Stops the fetch thread of a collected verifier. This can block for up
    /// to a second while a fetch is in progress.
    fn drop(&mut self) {
        self.verifier.stop();
    }
}
