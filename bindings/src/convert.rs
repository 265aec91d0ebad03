//! JSON values to Lua values, with lua-cjson's conventions.

use mlua::{Lua, Result as LuaResult, Table, Value};
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
    let table = lua.create_table_with_capacity(0, object.len())?;
    for (name, value) in object {
        table.raw_set(name.as_str(), to_lua(lua, value, array_mt)?)?;
    }
    Ok(table)
}

fn to_lua(lua: &Lua, value: &Json, array_mt: Option<&Table>) -> LuaResult<Value> {
    Ok(match value {
        Json::Null => Value::NULL,
        Json::Bool(flag) => Value::Boolean(*flag),
        Json::Number(number) => Value::Number(number.as_f64().unwrap_or(f64::NAN)),
        Json::String(text) => Value::String(lua.create_string(text)?),
        Json::Array(items) => {
            let table = lua.create_table_with_capacity(items.len(), 0)?;
            for (index, item) in items.iter().enumerate() {
                table.raw_set(index + 1, to_lua(lua, item, array_mt)?)?;
            }
            if let Some(array_mt) = array_mt {
                table.set_metatable(Some(array_mt.clone()))?;
            }
            Value::Table(table)
        }
        Json::Object(object) => Value::Table(object_to_table(lua, object, array_mt)?),
    })
}
