//! jwtguard for OpenResty and LuaJIT: `require "jwtguard"`.
//!
//! The module has two halves. This crate builds the low-level half: a
//! userdata per verifier whose methods call the core and never yield. The
//! public API is Lua code (`jwtguard.lua`, compiled into the library) that
//! checks arguments, reads the token from the current request and waits for
//! remote keys with `ngx.sleep`. Waiting has to happen in Lua because a
//! coroutine cannot yield across a C function such as a Rust callback.
//!
//! Module mode links no Lua: the symbols come from the host process (the
//! `luajit` binary, or nginx with lua-nginx-module loaded).

mod convert;
mod handle;
mod logs;
mod options;

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use mlua::{Lua, LuaString, Result as LuaResult, Table};

use crate::handle::Source;

/// The public API, run once at `require` with the low-level table as `...`.
const API_SOURCE: &str = include_str!("jwtguard.lua");

#[mlua::lua_module(name = "jwtguard")]
fn open(lua: &Lua) -> LuaResult<Table> {
    // Building a claims table is a few dozen Lua API calls, and mlua wraps
    // each in a protected call unless memory checks are skipped. Skipping
    // them cut a verification with a 10-claim table from 7.4 to 1.3 us (a
    // LuaJIT loop of 50,000 calls on the 2-CPU development VM).
    // NOTE: if LuaJIT then runs out of memory inside one of these calls, its
    // error unwinds through Rust frames, which is undefined behaviour; a
    // Lua VM out of memory is already fatal for an OpenResty worker.
    lua.skip_memory_check(true);
    let core = lua.create_table()?;
    core.set("version", env!("CARGO_PKG_VERSION"))?;
    core.set(
        "new",
        lua.create_function(
            |lua, (json, options, array_mt): (LuaString, Option<Table>, Option<Table>)| {
                handle::load(lua, Source::Json(&json.as_bytes()), options, array_mt)
            },
        )?,
    )?;
    core.set(
        "load",
        lua.create_function(
            |lua, (path, options, array_mt): (LuaString, Option<Table>, Option<Table>)| {
                let path = path.as_bytes();
                let path = Path::new(OsStr::from_bytes(&path));
                handle::load(lua, Source::File(path), options, array_mt)
            },
        )?,
    )?;
    lua.load(API_SOURCE)
        .set_name("=jwtguard.lua")
        .call::<Table>(core)
}
