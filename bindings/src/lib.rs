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

mod check;
mod convert;
mod handle;
mod logs;
mod options;

use std::ffi::{OsStr, c_void};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use mlua::{LightUserData, Lua, LuaString, Result as LuaResult, Table};

use crate::handle::Source;

/// The public API, run once at `require` with the low-level table as `...`.
const API_SOURCE: &str = include_str!("jwtguard.lua");

#[mlua::lua_module(name = "jwtguard")]
fn open(lua: &Lua) -> LuaResult<Table> {
    let core = lua.create_table()?;
    core.set("version", env!("CARGO_PKG_VERSION"))?;
    core.set("check", LightUserData(check::check as *mut c_void))?;
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
