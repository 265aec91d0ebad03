//! The userdata behind a Lua verifier object.
//!
//! Its methods are the low-level half of the API. They never yield, only
//! `wait_for_keys` and `stop` block, and they report through plain return
//! values that the Lua half (`jwtguard.lua`) turns into OpenResty-style
//! results.
//!
//! Verification itself goes through [`check`](crate::check::check), a C
//! function that the Lua half calls through LuaJIT's FFI.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use jwtguard::{Decision, ErrorKind, KeyStats, Pending, TokenSource, Verifier};
use mlua::{
    IntoLua, IntoLuaMulti, Lua, MultiValue, Result as LuaResult, Table, UserData, UserDataMethods,
    Value,
};

use crate::check::{ALLOW, Checked, DENY, PENDING, register, unregister};
use crate::convert::object_to_table;
use crate::logs::{LogQueue, level_name};
use crate::options;

/// A decision as `take_decision` returns it: its kind and four values.
type Verdict = (u8, Value, Value, Value, Value);

/// A loaded verifier, its number for checks, and its load warnings.
pub(crate) struct Handle {
    checked: Arc<Checked>,
    id: u64,
    warnings: Vec<String>,
    wait_timeout: Duration,
    array_mt: Option<Table>,
    /// Entries of the verified-token cache, which also bound the Lua half's
    /// copies of claims tables.
    token_cache_entries: usize,
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
    let checked = Arc::new(Checked::new(loaded.verifier, logs));
    let handle = Handle {
        id: register(Arc::clone(&checked)),
        checked,
        warnings: loaded.warnings,
        wait_timeout: options.wait_timeout,
        array_mt,
        token_cache_entries,
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
        let (records, dropped) = self.checked.logs.drain();
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

impl UserData for Handle {
    fn add_methods<M: UserDataMethods<Self>>(methods: &mut M) {
        methods.add_method("id", |_, this, ()| Ok(this.id));
        methods.add_method("take_decision", |lua, this, ticket: u64| {
            match this.checked.take(ticket) {
                Some(decision) => this.decision(lua, decision),
                None => Err(mlua::Error::runtime(format!(
                    "no decision kept under ticket {ticket}: it was taken already, or a \
                     verification that ran in between (from a finalizer or a hook) \
                     replaced it"
                ))),
            }
        });
        methods.add_method("deny_unavailable", |_, this, message: String| {
            let denial = this.checked.verifier.deny_unavailable(message);
            Ok(this.checked.store(Some(denial)))
        });

        methods.add_method("keys_generation", |_, this, ()| {
            Ok(this.checked.verifier.keys_generation())
        });
        methods.add_method(
            "wait_for_keys",
            |_, this, (generation, timeout): (u64, f64)| {
                let started = Instant::now();
                let timeout = Duration::try_from_secs_f64(timeout).unwrap_or(Duration::ZERO);
                let changed = this
                    .checked
                    .verifier
                    .wait_for_keys(Pending { generation }, timeout);
                Ok((changed, started.elapsed().as_secs_f64()))
            },
        );

        methods.add_method("start", |lua, this, ()| {
            match this.checked.verifier.start() {
                Ok(()) => true.into_lua_multi(lua),
                Err(err) => (Value::Nil, err.to_string()).into_lua_multi(lua),
            }
        });
        methods.add_method("stop", |_, this, ()| {
            this.checked.verifier.stop();
            Ok(())
        });

        methods.add_method("key_stats", |lua, this, ()| {
            this.checked
                .verifier
                .key_stats()
                .map(|stats| this.key_stats(lua, stats))
                .transpose()
        });
        methods.add_method("token_location", |_, this, ()| {
            let location = this.checked.verifier.token_location();
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

        methods.add_method("pending_logs", |_, this, ()| {
            Ok(this.checked.logs.pending())
        });
        methods.add_method("take_logs", |lua, this, ()| this.take_logs(lua));
    }
}

impl Drop for Handle {
    /// Stops the fetch thread of a collected verifier. This can block for up
    /// to a second while a fetch is in progress.
    fn drop(&mut self) {
        unregister(self.id);
        self.checked.verifier.stop();
    }
}
