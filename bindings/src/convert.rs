//! JSON values to Lua values, with lua-cjson's conventions.
//!
//! Claims tables are built with the raw Lua C API inside one protected call,
//! because one is built for each token allowed for the first time, and for
//! every allowed request when the token cache is off. Through mlua's `Table::raw_set`,
//! where every key and value passes through mlua's reference stack, a table
//! of 10 claims took about 13,000 instructions instead of 9,000 (callgrind,
//! LuaJIT, Lua's garbage collection included).

use std::ffi::c_int;
use std::ptr;

use mlua::{Lua, Result as LuaResult, Table, Value, ffi};
use serde_json::{Map, Value as Json};

/// Converts a JSON object to a Lua table.
///
/// JSON `null` becomes the NULL light userdata, which equals `ngx.null` and
/// `cjson.null`. Numbers become Lua numbers (doubles), so integers beyond
/// 2^53 lose precision as they do in lua-cjson. Arrays become sequences
/// carrying `array_mt` when it is given. The nesting depth was bounded when
/// the token was verified, so the recursion is bounded too.
pub(crate) fn object_to_table(
    lua: &Lua,
    object: &Map<String, Json>,
    array_mt: Option<&Table>,
) -> LuaResult<Table> {
    let array_mt = array_mt.map_or(Value::Nil, |table| Value::Table(table.clone()));
    // SAFETY: the closure runs in a protected call with `array_mt` as its
    // only stack slot, and leaves exactly the new table there. Its frames own
    // nothing that needs dropping, so a Lua error (out of memory) that jumps
    // out of it to the protected call leaks nothing.
    unsafe {
        lua.exec_raw(array_mt, |state| {
            push_object(state, object);
            ffi::lua_replace(state, 1);
        })
    }
}

/// Pushes `object` as a new table. Stack index 1 contains the array
/// metatable or nil.
unsafe fn push_object(state: *mut ffi::lua_State, object: &Map<String, Json>) {
    // SAFETY: each call pushes at most three values over its caller's, and
    // luaL_checkstack raises a Lua error rather than overflow.
    unsafe {
        ffi::luaL_checkstack(state, 3, c"claims nest too deeply".as_ptr());
        ffi::lua_createtable(state, 0, c_int::try_from(object.len()).unwrap_or(0));
        for (name, value) in object {
            push_str(state, name);
            push_value(state, value);
            ffi::lua_rawset(state, -3);
        }
    }
}

unsafe fn push_value(state: *mut ffi::lua_State, value: &Json) {
    // SAFETY: as in push_object. The caller reserved the slot this pushes.
    unsafe {
        match value {
            Json::Null => ffi::lua_pushlightuserdata(state, ptr::null_mut()),
            Json::Bool(flag) => ffi::lua_pushboolean(state, c_int::from(*flag)),
            Json::Number(number) => {
                ffi::lua_pushnumber(state, number.as_f64().unwrap_or(f64::NAN));
            }
            Json::String(text) => push_str(state, text),
            Json::Array(items) => {
                ffi::luaL_checkstack(state, 3, c"claims nest too deeply".as_ptr());
                ffi::lua_createtable(state, c_int::try_from(items.len()).unwrap_or(0), 0);
                for (index, item) in (1..).zip(items) {
                    push_value(state, item);
                    ffi::lua_rawseti(state, -2, index);
                }
                if ffi::lua_isnil(state, 1) == 0 {
                    ffi::lua_pushvalue(state, 1);
                    ffi::lua_setmetatable(state, -2);
                }
            }
            Json::Object(object) => push_object(state, object),
        }
    }
}

unsafe fn push_str(state: *mut ffi::lua_State, text: &str) {
    // SAFETY: lua_pushlstring copies `text.len()` bytes from a live &str.
    unsafe {
        ffi::lua_pushlstring(state, text.as_ptr().cast(), text.len());
    }
}
