//! The options table of `jwtguard.new` and `jwtguard.load`.

use std::path::PathBuf;
use std::time::Duration;

use jwtguard::Options;
use mlua::{Table, Value};

/// Extra time the Lua side waits for remote keys beyond the fetch timeout,
/// so that a fetch that times out still ends in the core's own decision.
const WAIT_MARGIN: Duration = Duration::from_secs(5);

/// Core options plus the settings that only the Lua side uses.
pub(crate) struct LuaOptions {
    pub(crate) core: Options,
    /// Maximum wait for remote keys in one verification.
    pub(crate) wait_timeout: Duration,
}

/// Reads the options table. Returns a message for `bad argument` on an
/// unknown name, a wrong type or a value out of range.
pub(crate) fn parse(table: Option<Table>) -> Result<LuaOptions, String> {
    let mut options = Options::default();
    let mut wait_timeout = None;
    let Some(table) = table else {
        return Ok(finish(options, wait_timeout));
    };
    for pair in table.pairs::<Value, Value>() {
        let (key, value) = pair.map_err(|err| err.to_string())?;
        let Value::String(name) = key else {
            return Err(format!(
                "option names must be strings, got {}",
                lua_type(&key)
            ));
        };
        let name = name.to_string_lossy();
        set_option(&mut options, &mut wait_timeout, &name, &value)?;
    }
    Ok(finish(options, wait_timeout))
}

fn finish(core: Options, wait_timeout: Option<Duration>) -> LuaOptions {
    let wait_timeout = wait_timeout.unwrap_or(core.fetch.timeout + WAIT_MARGIN);
    LuaOptions { core, wait_timeout }
}

fn set_option(
    options: &mut Options,
    wait_timeout: &mut Option<Duration>,
    name: &str,
    value: &Value,
) -> Result<(), String> {
    let fetch = &mut options.fetch;
    match name {
        "leeway" => options.leeway = seconds(name, value)?,
        "max_token_len" => options.max_token_len = count(name, value)?,
        "max_json_depth" => options.max_json_depth = count(name, value)?,
        "max_keys" => options.max_keys = count(name, value)?,
        "max_key_attempts" => options.max_key_attempts = count(name, value)?,
        "realm" => options.realm = Some(text(name, value)?),
        "token_cache_entries" => options.token_cache_entries = count(name, value)?,
        "connect_timeout" => fetch.connect_timeout = seconds(name, value)?,
        "fetch_timeout" => fetch.timeout = seconds(name, value)?,
        "max_body_bytes" => fetch.max_body_bytes = count(name, value)?,
        "max_redirects" => fetch.max_redirects = count(name, value)?,
        "ca_file" => fetch.ca_file = Some(PathBuf::from(text(name, value)?)),
        "kid_refresh_interval" => fetch.kid_refresh_interval = seconds(name, value)?,
        "backoff_initial" => fetch.backoff_initial = seconds(name, value)?,
        "backoff_max" => fetch.backoff_max = seconds(name, value)?,
        "max_stale" => fetch.max_stale = seconds(name, value)?,
        "wait_timeout" => *wait_timeout = Some(seconds(name, value)?),
        _ => return Err(format!("unknown option \"{name}\"")),
    }
    Ok(())
}

fn number(name: &str, value: &Value, expected: &str) -> Result<f64, String> {
    match value {
        Value::Number(number) => Ok(*number),
        Value::Integer(number) => Ok(*number as f64),
        other => Err(format!(
            "option \"{name}\" must be {expected}, got {}",
            lua_type(other)
        )),
    }
}

fn seconds(name: &str, value: &Value) -> Result<Duration, String> {
    let number = number(name, value, "a number of seconds")?;
    Duration::try_from_secs_f64(number).map_err(|_| {
        format!("option \"{name}\" must be a finite number of seconds >= 0, got {number}")
    })
}

fn count<T: TryFrom<u64>>(name: &str, value: &Value) -> Result<T, String> {
    let number = number(name, value, "a whole number")?;
    let invalid = || format!("option \"{name}\" must be a whole number >= 0, got {number}");
    // 2^64 is exactly representable, so the cast below cannot saturate.
    if number.fract() != 0.0 || !(0.0..18_446_744_073_709_551_616.0).contains(&number) {
        return Err(invalid());
    }
    T::try_from(number as u64).map_err(|_| invalid())
}

fn text(name: &str, value: &Value) -> Result<String, String> {
    match value {
        Value::String(text) => text
            .to_str()
            .map(|text| text.to_owned())
            .map_err(|_| format!("option \"{name}\" must be UTF-8 text")),
        other => Err(format!(
            "option \"{name}\" must be a string, got {}",
            lua_type(other)
        )),
    }
}

/// Returns the name Lua's `type` gives the value. mlua has an integer subtype, LuaJIT has
/// only numbers.
fn lua_type(value: &Value) -> &'static str {
    match value {
        Value::Integer(_) => "number",
        other => other.type_name(),
    }
}
