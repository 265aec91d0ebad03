//! Loads the built module into the `luajit` interpreter and runs Lua scripts that check each
//! function of the API outside NGINX, where waits for remote keys block.
//!
//! Cargo builds `libjwtguard_lua.so` next to this test executable before it runs it. Each
//! test links it as `jwtguard.so` in a temporary directory, puts that directory on
//! `LUA_CPATH` and runs one script with `luajit`. A script raises on its first failed check
//! and prints `done` at the end.

use std::env;
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use jwtguard_harness::{
    Case, KeyServer, Ports, Route, TokenIn, control_jwks, expired_token, inline_policy,
    remote_policy, valid_token,
};
use serde_json::{Value, json};

/// Environment variable that selects the LuaJIT interpreter.
const LUAJIT_VAR: &str = "JWTGUARD_TEST_LUAJIT";
const DEFAULT_LUAJIT: &str = "/usr/bin/luajit";

/// Secret of the HS256 key in [`claims_policy`], base64url-encoded in the policy.
const SECRET: &[u8] = b"jwtguard-lua-loader-test-secret-32+bytes";
const SECRET_K: &str = "and0Z3VhcmQtbHVhLWxvYWRlci10ZXN0LXNlY3JldC0zMitieXRlcw";

/// Lua helpers prepended to every script.
const PRELUDE: &str = r#"
local jwtguard = require "jwtguard"

local function show(value)
    if type(value) == "string" then
        return string.format("%q", value)
    end
    return tostring(value)
end

local function check(actual, expected, label)
    if actual ~= expected then
        error(label .. ": expected " .. show(expected) .. ", got "
              .. show(actual), 2)
    end
end

local function check_match(text, pattern, label)
    if type(text) ~= "string" or not text:find(pattern) then
        error(label .. ": " .. show(text) .. " does not match "
              .. show(pattern), 2)
    end
end

local function check_raises(pattern, label, fn)
    local ok, err = pcall(fn)
    if ok then
        error(label .. ": no error raised", 2)
    end
    if type(err) ~= "string" or not err:find(pattern) then
        error(label .. ": error " .. show(err) .. " does not match "
              .. show(pattern), 2)
    end
end
"#;

fn luajit() -> PathBuf {
    let path = env::var_os(LUAJIT_VAR)
        .filter(|value| !value.is_empty())
        .map_or_else(|| PathBuf::from(DEFAULT_LUAJIT), PathBuf::from);
    assert!(
        path.is_file(),
        "LuaJIT not found at {}: install it with `apt-get install luajit2` or set {LUAJIT_VAR}",
        path.display()
    );
    path
}

/// Returns the module Cargo built for this test run: `libjwtguard_lua.so` in the `deps`
/// directory that contains this test executable. Cargo builds it there together with the rlib
/// the test depends on, so it is never older than the sources.
fn built_module() -> PathBuf {
    let exe = env::current_exe().expect("path of the test executable");
    let deps_dir = exe.parent().expect("test executable has a directory");
    let module = deps_dir.join("libjwtguard_lua.so");
    assert!(
        module.is_file(),
        "built module not found at {}: run the test with `cargo test -p jwtguard-lua`",
        module.display()
    );
    module
}

/// A script written next to a link to the built module, ready to run.
struct Script {
    dir: tempfile::TempDir,
}

impl Script {
    /// Writes `script` after [`PRELUDE`], with each of `vars` defined as a local string.
    fn new(script: &str, vars: &[(&str, &str)]) -> Script {
        let dir = tempfile::tempdir().expect("temporary directory");
        symlink(built_module(), dir.path().join("jwtguard.so")).expect("link the module");

        let mut source = String::from(PRELUDE);
        for (name, value) in vars {
            assert!(
                !value.contains("]==]"),
                "value of {name} ends a Lua long string"
            );
            source.push_str(&format!("local {name} = [==[{value}]==]\n"));
        }
        source.push_str(script);
        fs::write(dir.path().join("check.lua"), source).expect("write the script");
        Script { dir }
    }

    /// Returns the `luajit` command that runs the script.
    fn command(&self) -> Command {
        let mut command = Command::new(luajit());
        command
            .arg(self.dir.path().join("check.lua"))
            .env("LUA_CPATH", format!("{}/?.so;;", self.dir.path().display()));
        command
    }
}

/// Runs `script` after [`PRELUDE`], with each of `vars` defined as a local string, and
/// returns what it printed.
///
/// # Panics
///
/// Panics with the script's output when it fails or does not print `done` last.
fn run_lua(script: &str, vars: &[(&str, &str)]) -> String {
    let output = Script::new(script, vars)
        .command()
        .output()
        .expect("run luajit");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stdout.trim_end().ends_with("done"),
        "Lua script failed ({}):\n--- stderr\n{stderr}\n--- stdout\n{stdout}",
        output.status
    );
    stdout
}

/// Returns a policy with one HS256 key whose secret is [`SECRET`].
fn claims_policy() -> String {
    json!({"action": {"jwksKeys": [
        {"kty": "oct", "kid": "claims", "alg": "HS256", "k": SECRET_K}
    ]}})
    .to_string()
}

fn sign(claims: &Value) -> String {
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some("claims".to_string());
    let key = EncodingKey::from_secret(SECRET).expect("HS256 key");
    encode(&header, claims, &key).expect("sign a token")
}

#[test]
fn require_returns_module_table() {
    let version = env!("CARGO_PKG_VERSION");
    run_lua(
        r#"
check(jwtguard._VERSION, VERSION, "_VERSION")
check(require("jwtguard"), jwtguard, "second require")
for _, name in ipairs({"new", "load", "verify", "verify_request", "access",
                       "start", "stop", "keys_generation", "key_stats",
                       "token_location", "warnings", "logs"}) do
    check(type(jwtguard[name]), "function", name)
end
print("done")
"#,
        &[("VERSION", version)],
    );
}

#[test]
fn verify_allows_valid_token() {
    run_lua(
        r#"
local verifier, err = jwtguard.new(POLICY)
check(err, nil, "new error")
for attempt = 1, 2 do
    local claims, reason, status = verifier:verify(TOKEN)
    check(reason, nil, "reason of attempt " .. attempt)
    check(status, nil, "status of attempt " .. attempt)
    check(type(claims), "table", "claims of attempt " .. attempt)
    check(claims.sub, "user-123", "sub")
    check(claims.iss, "https://issuer.example.test", "iss")
    check(claims.exp, 4102444800, "exp")
end
print("done")
"#,
        &[
            ("POLICY", &inline_policy(TokenIn::Header)),
            ("TOKEN", &valid_token()),
        ],
    );
}

#[test]
fn verify_denies_expired_token() {
    let case = Case::find("066");
    run_lua(
        r#"
local verifier = assert(jwtguard.new(POLICY))
for attempt = 1, 2 do
    local claims, reason, status, message, challenge = verifier:verify(TOKEN)
    check(claims, nil, "claims")
    check(reason, "expired", "reason")
    check(status, 403, "status")
    check_match(message, "^token expired", "message")
    check(challenge, 'Bearer error="invalid_token"', "challenge")
end
print("done")
"#,
        &[
            ("POLICY", &case.policy(Ports::default())),
            ("TOKEN", &expired_token()),
        ],
    );
}

#[test]
fn verify_reports_each_reason() {
    let policy = claims_policy();
    let header = r#"{"alg":"none"}"#;
    let alg_none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(r#"{"sub":"x"}"#)
    );
    let bad_claim = sign(&json!({"sub": "x", "exp": "tomorrow"}));
    run_lua(
        r#"
local verifier = assert(jwtguard.new(POLICY))
local cases = {
    {"", "missing", 401, "Bearer"},
    {"abc", "malformed", 403, 'Bearer error="invalid_token"'},
    {ALG_NONE, "unsupported_algorithm", 403, nil},
    {BAD_CLAIM, "invalid_claim", 403, nil},
}
for _, case in ipairs(cases) do
    local claims, reason, status, message, challenge = verifier:verify(case[1])
    check(claims, nil, case[2] .. " claims")
    check(reason, case[2], case[2] .. " reason")
    check(status, case[3], case[2] .. " status")
    check(type(message), "string", case[2] .. " message")
    if case[4] then
        check(challenge, case[4], case[2] .. " challenge")
    end
end
print("done")
"#,
        &[
            ("POLICY", &policy),
            ("ALG_NONE", &alg_none),
            ("BAD_CLAIM", &bad_claim),
        ],
    );
}

#[test]
fn verify_matches_independent_tokens() {
    let manifest_path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../crates/jwtguard/tests/fixtures/independent/manifest.json");
    let manifest: Value =
        serde_json::from_slice(&fs::read(&manifest_path).expect("read manifest.json"))
            .expect("manifest.json is JSON");
    let policy = json!({"action": {"jwksKeys": manifest["jwks"]["keys"]}}).to_string();
    let tokens = manifest["tokens"].as_array().expect("tokens array");
    let mut table = String::from("local TOKENS = {\n");
    for token in tokens {
        let reason = token["reason"].as_str().unwrap_or("");
        table.push_str(&format!(
            "    {{name = \"{}\", token = \"{}\", expect = \"{}\", reason = \"{reason}\"}},\n",
            token["name"].as_str().expect("name"),
            token["token"].as_str().expect("token"),
            token["expect"].as_str().expect("expect"),
        ));
    }
    table.push_str("}\n");
    let script = table
        + r#"
local verifier = assert(jwtguard.new(POLICY))
check(#TOKENS > 50, true, "token count")
for _, case in ipairs(TOKENS) do
    local claims, reason = verifier:verify(case.token)
    if case.expect == "allow" then
        check(reason, nil, case.name .. " reason")
        check(claims.sub, "user-4711", case.name .. " sub")
        check(claims.roles[2], "support-agent", case.name .. " roles[2]")
    else
        check(claims, nil, case.name .. " claims")
        check(reason, case.reason, case.name .. " reason")
    end
end
print("done")
"#;
    run_lua(&script, &[("POLICY", &policy)]);
}

#[test]
fn claims_convert_to_lua_values() {
    let token = sign(&json!({
        "sub": "claims",
        "exp": 4102444800u64,
        "nothing": null,
        "flag": true,
        "ratio": 1.5,
        "empty": [],
        "list": ["a", null, 3],
        "nested": {"inner": [{"deep": false}]},
    }));
    run_lua(
        r#"
-- A stand-in for OpenResty's lua-cjson, which the module asks for array_mt.
local array_mt = {}
package.loaded.jwtguard = nil
package.preload.cjson = function() return {array_mt = array_mt} end
local jwtguard = require "jwtguard"

-- The first verification converts the claims; later ones copy them from the
-- memo, unless the cache is off. Each must give a fresh table, so a caller
-- that changes its copy changes no other.
for _, options in ipairs({{}, {token_cache_entries = 0}}) do
    local verifier = assert(jwtguard.new(POLICY, options))
    local previous = {}
    for attempt = 1, 3 do
        local label = "cache " .. tostring(options.token_cache_entries)
                      .. ", attempt " .. attempt .. ": "
        local claims = assert(verifier:verify(TOKEN))
        check(claims.sub, "claims", label .. "sub")
        check(type(claims.nothing), "userdata", label .. "null type")
        check(tostring(claims.nothing), "userdata: NULL", label .. "null value")
        check(claims.flag, true, label .. "flag")
        check(claims.ratio, 1.5, label .. "ratio")
        check(#claims.empty, 0, label .. "empty length")
        check(getmetatable(claims.empty), array_mt, label .. "empty metatable")
        check(#claims.list, 3, label .. "list length")
        check(claims.list[1], "a", label .. "list[1]")
        check(claims.list[2], claims.nothing, label .. "list[2]")
        check(claims.list[3], 3, label .. "list[3]")
        check(getmetatable(claims.list), array_mt, label .. "list metatable")
        check(getmetatable(claims), nil, label .. "claims metatable")
        check(getmetatable(claims.nested), nil, label .. "object metatable")
        check(claims.nested.inner[1].deep, false, label .. "nested value")
        check(claims ~= previous and claims.nested ~= previous.nested, true,
              label .. "fresh tables")

        claims.sub = "changed"
        claims.empty[1] = "changed"
        claims.list[1] = "changed"
        claims.nested.inner[1].deep = "changed"
        previous = claims
    end
end
print("done")
"#,
        &[("POLICY", &claims_policy()), ("TOKEN", &token)],
    );
}

#[test]
fn repeated_tokens_are_decided_each_time() {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("system time after the Unix epoch")
        .as_secs();
    let short = sign(&json!({"sub": "short", "exp": now + 2}));
    let users: Vec<String> = (1..=3)
        .map(|n| sign(&json!({"sub": format!("user-{n}"), "exp": 4102444800u64})))
        .collect();
    run_lua(
        r#"
-- Claims copied from the memo never stand in for a decision: a token that
-- expires is denied after it was allowed.
local verifier = assert(jwtguard.new(POLICY, {leeway = 0}))
check(assert(verifier:verify(SHORT)).sub, "short", "first verification")
check(assert(verifier:verify(SHORT)).sub, "short", "repeated verification")
local deadline = os.time() + 4
local claims, reason
repeat
    os.execute("sleep 0.2")
    claims, reason = verifier:verify(SHORT)
until not claims or os.time() > deadline
check(reason, "expired", "reason after exp")

-- With more distinct tokens than the cache holds, the memo starts anew and
-- every token still gets its own claims.
local small = assert(jwtguard.new(POLICY, {token_cache_entries = 2}))
local tokens = {USER1, USER2, USER3}
for round = 1, 3 do
    for n, token in ipairs(tokens) do
        check(assert(small:verify(token)).sub, "user-" .. n,
              "round " .. round .. ", token " .. n)
    end
end
print("done")
"#,
        &[
            ("POLICY", &claims_policy()),
            ("SHORT", &short),
            ("USER1", &users[0]),
            ("USER2", &users[1]),
            ("USER3", &users[2]),
        ],
    );
}

#[test]
fn collected_handle_raises_on_verify() {
    let token = sign(&json!({"sub": "claims", "exp": 4102444800u64}));
    run_lua(
        r#"
-- A finalizer that runs in the collection which destroys a verifier's
-- handle can make the verifier reachable again.
do
    local verifier = assert(jwtguard.new(POLICY))
    assert(verifier:verify(TOKEN))
    local proxy = newproxy(true)
    getmetatable(proxy).__gc = function() RESURRECTED = verifier end
end
collectgarbage()
collectgarbage()
check_raises("garbage%-collected", "verify after resurrection", function()
    RESURRECTED:verify(TOKEN)
end)

-- The same for a verifier whose handle field was dropped.
local verifier = assert(jwtguard.new(POLICY))
verifier.handle = nil
collectgarbage()
collectgarbage()
check_raises("garbage%-collected", "verify without a handle", function()
    verifier:verify(TOKEN)
end)
print("done")
"#,
        &[("POLICY", &claims_policy()), ("TOKEN", &token)],
    );
}

#[test]
fn nested_verification_never_swaps_claims() {
    let bob = sign(&json!({"sub": "bob", "exp": 4102444800u64}));
    let carol = sign(&json!({"sub": "carol", "exp": 4102444800u64}));
    run_lua(
        r#"
-- A hook runs a verification of another token between each step of the
-- outer one. The outer call may fail, but must never return bob's claims
-- for carol's token, nor remember them.
local verifier = assert(jwtguard.new(POLICY))
check(assert(verifier:verify(BOB)).sub, "bob", "bob first")
debug.sethook(function() verifier:verify(BOB) end, "", 1)
local ok, claims = pcall(verifier.verify, verifier, CAROL)
debug.sethook()
if ok then
    check(claims.sub, "carol", "carol during the hook")
else
    check_match(tostring(claims), "no decision kept under ticket",
                "error during the hook")
end
check(assert(verifier:verify(CAROL)).sub, "carol", "carol after the hook")
print("done")
"#,
        &[
            ("POLICY", &claims_policy()),
            ("BOB", &bob),
            ("CAROL", &carol),
        ],
    );
}

#[test]
fn claims_without_cjson_have_no_metatable() {
    let token = sign(&json!({"sub": "claims", "list": [1]}));
    run_lua(
        r#"
local verifier = assert(jwtguard.new(POLICY))
local claims = assert(verifier:verify(TOKEN))
check(getmetatable(claims.list), nil, "list metatable")
check(claims.list[1], 1, "list[1]")
print("done")
"#,
        &[("POLICY", &claims_policy()), ("TOKEN", &token)],
    );
}

#[test]
fn new_returns_policy_errors() {
    run_lua(
        r#"
local verifier, err = jwtguard.new("{}")
check(verifier, nil, "verifier of {}")
check_match(err, "^%$: ", "error of {}")

verifier, err = jwtguard.new("not json")
check(verifier, nil, "verifier of text")
check_match(err, "not valid JSON", "error of text")

verifier, err = jwtguard.new(
    '{"action": {"jwksKeys": [], "tokenSuppliedIn": "BODY"}}')
check(verifier, nil, "verifier with bad tokenSuppliedIn")
check_match(err, "action%.", "error path")
print("done")
"#,
        &[],
    );
}

#[test]
fn load_reads_policy_file() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("policy.json");
    fs::write(&path, inline_policy(TokenIn::Query)).expect("write policy");
    run_lua(
        r#"
local verifier, err = jwtguard.load(PATH)
check(err, nil, "load error")
local source, name = verifier:token_location()
check(source, "query", "source")
check(name, "access_token", "name")

local missing, missing_err = jwtguard.load(PATH .. ".absent")
check(missing, nil, "verifier of a missing file")
check_match(missing_err, "^cannot read .*%.absent", "error of a missing file")

check_raises("bad argument #1 to 'load' %(string expected, got nil%)",
             "load without path", function() jwtguard.load() end)
print("done")
"#,
        &[("PATH", path.to_str().expect("UTF-8 path"))],
    );
}

#[test]
fn options_misuse_raises() {
    run_lua(
        r#"
local cases = {
    {{foo = 1}, 'unknown option "foo"'},
    {{leeway = "5"}, 'option "leeway" must be a number of seconds, got string'},
    {{leeway = -1}, 'option "leeway" must be a finite number of seconds >= 0'},
    {{fetch_timeout = 1 / 0}, 'option "fetch_timeout" must be a finite'},
    {{max_keys = 1.5}, 'option "max_keys" must be a whole number >= 0'},
    {{max_redirects = 2 ^ 40}, 'option "max_redirects" must be a whole number'},
    {{realm = 42}, 'option "realm" must be a string, got number'},
    {{[1] = 2}, "option names must be strings, got number"},
    {{max_token_len = 0}, "invalid option: max_token_len is 0"},
    {{realm = 'a"b'}, "invalid option: realm"},
}
for _, case in ipairs(cases) do
    check_raises("check%.lua:%d+: bad argument #2 to 'new' %(" .. case[2]:gsub("[%(%)%.%-%+%^]", "%%%0"),
                 case[2], function() jwtguard.new(POLICY, case[1]) end)
end
check_raises("check%.lua:%d+: bad argument #2 to 'new' %(table expected, got string%)",
             "options string", function() jwtguard.new(POLICY, "x") end)
check_raises("check%.lua:%d+: bad argument #1 to 'new' %(string expected, got number%)",
             "policy number", function() jwtguard.new(42) end)
print("done")
"#,
        &[("POLICY", &inline_policy(TokenIn::Header))],
    );
}

#[test]
fn options_change_decisions() {
    let expired = expired_token();
    run_lua(
        r#"
-- exp of the expired token is 1000000000; 4e9 s of leeway reaches past now.
local lenient = assert(jwtguard.new(POLICY, {leeway = 4e9}))
local claims, reason = lenient:verify(EXPIRED)
check(reason, nil, "reason with leeway")
check(claims.sub, "user-123", "sub with leeway")

local short = assert(jwtguard.new(POLICY, {max_token_len = 10}))
local _, short_reason = short:verify(VALID)
check(short_reason, "malformed", "reason over max_token_len")

local realm = assert(jwtguard.new(POLICY, {realm = "orders"}))
local _, _, _, _, challenge = realm:verify("abc")
check(challenge, 'Bearer realm="orders", error="invalid_token"', "challenge")
local _, _, _, _, missing = realm:verify("")
check(missing, 'Bearer realm="orders"', "missing challenge")

local all = assert(jwtguard.new(POLICY, {
    leeway = 0, max_token_len = 8192, max_json_depth = 16, max_keys = 10,
    max_key_attempts = 2, connect_timeout = 1, fetch_timeout = 2,
    max_body_bytes = 65536, max_redirects = 0, kid_refresh_interval = 5,
    backoff_initial = 0.5, backoff_max = 30, max_stale = 60,
    token_cache_entries = 16, wait_timeout = 3,
}))
check(select(2, all:verify(VALID)), nil, "reason with every option")
print("done")
"#,
        &[
            ("POLICY", &inline_policy(TokenIn::Header)),
            ("EXPIRED", &expired),
            ("VALID", &valid_token()),
        ],
    );
}

#[test]
fn methods_raise_on_misuse() {
    run_lua(
        r#"
local verifier = assert(jwtguard.new(POLICY))
check_raises("calling 'verify' on bad self %(verifier expected, got string%)",
             "dot call", function() verifier.verify("token") end)
check_raises("check%.lua:%d+: bad argument #1 to 'verify' %(string expected, got nil%)",
             "nil token", function() verifier:verify() end)
check_raises("calling 'start' on bad self", "start on table",
             function() verifier.start({}) end)
check_raises("calling 'keys_generation' on bad self",
             "keys_generation on nil",
             function() verifier.keys_generation() end)
check_raises("check%.lua:%d+: no request found for 'verify_request'",
             "verify_request outside NGINX",
             function() verifier:verify_request() end)
check_raises("check%.lua:%d+: no request found for 'access'",
             "access outside NGINX", function() verifier:access() end)
print("done")
"#,
        &[("POLICY", &inline_policy(TokenIn::Header))],
    );
}

#[test]
fn inline_verifier_accessors() {
    let policy = json!({"action": {
        "jwksKeys": [{"kty": "oct", "kid": "a", "k": SECRET_K}],
        "unknownField": true,
    }})
    .to_string();
    run_lua(
        r#"
local verifier = assert(jwtguard.new(POLICY))
check(verifier:keys_generation(), 1, "generation")
check(verifier:key_stats(), nil, "key_stats")
local source, name = verifier:token_location()
check(source, "header", "source")
check(name, "Authorization", "name")
local warnings = verifier:warnings()
check(type(warnings), "table", "warnings type")
check(#warnings >= 1, true, "warning count")
check_match(warnings[1], "unknownField", "warning text")
check(verifier:start(), true, "start")
check(verifier:start(), true, "second start")
check(verifier:stop(), true, "stop")
local records, dropped = verifier:logs()
check(#records, 0, "log records")
check(dropped, 0, "dropped records")
print("done")
"#,
        &[("POLICY", &policy)],
    );
}

#[test]
fn remote_keys_block_until_fetched() {
    let server = KeyServer::start();
    server.set_route(
        "/jwks.json",
        Route::json(control_jwks()).with_delay(Duration::from_millis(300)),
    );
    let policy = remote_policy(&server.url("/jwks.json"), "12h");
    run_lua(
        r#"
local verifier = assert(jwtguard.new(POLICY))
check(verifier:keys_generation(), 1, "generation before start")
local _, reason, status, message = verifier:verify(VALID)
check(reason, "keys_unavailable", "reason before start")
check(status, 403, "status before start")
check_match(message, "not running", "message before start")

check(verifier:start(), true, "start")
for attempt = 1, 2 do
    local claims, attempt_reason = verifier:verify(VALID)
    check(attempt_reason, nil, "reason of attempt " .. attempt)
    check(claims.sub, "user-123", "sub of attempt " .. attempt)
end
local _, expired_reason = verifier:verify(EXPIRED)
check(expired_reason, "expired", "expired reason")

local stats = verifier:key_stats()
check(stats.fetches, 1, "fetches")
check(stats.failures, 0, "failures")
check(stats.keys, 8, "keys")
check(stats.generation, 2, "stats generation")
check(type(stats.last_success), "number", "last_success")
check(stats.cache_age >= 0, true, "cache_age")
check(verifier:keys_generation(), 2, "generation")

check(verifier:stop(), true, "stop")
local _, stopped_reason = verifier:verify(VALID)
check(stopped_reason, "keys_unavailable", "reason after stop")
print("done")
"#,
        &[
            ("POLICY", &policy),
            ("VALID", &valid_token()),
            ("EXPIRED", &expired_token()),
        ],
    );
    assert_eq!(server.request_count("/jwks.json"), 1);
}

#[test]
fn remote_keys_over_https_with_ca_file() {
    let server = KeyServer::start_tls();
    server.set_route("/jwks.json", Route::json(control_jwks()));
    let policy = remote_policy(&server.url("/jwks.json"), "12h");
    let ca_file = server.ca_file().expect("TLS server has a CA file");
    run_lua(
        r#"
local trusting = assert(jwtguard.new(POLICY, {ca_file = CA_FILE}))
assert(trusting:start())
local claims, reason, _, message = trusting:verify(VALID)
check(reason, nil, "reason with ca_file: " .. tostring(message))
check(claims.sub, "user-123", "sub with ca_file")
trusting:stop()

local strict = assert(jwtguard.new(POLICY, {backoff_initial = 60,
                                            backoff_max = 60}))
assert(strict:start())
local _, strict_reason = strict:verify(VALID)
check(strict_reason, "keys_unavailable", "reason without ca_file")
strict:stop()
print("done")
"#,
        &[
            ("POLICY", &policy),
            ("VALID", &valid_token()),
            ("CA_FILE", ca_file.to_str().expect("UTF-8 path")),
        ],
    );
}

#[test]
fn remote_key_server_down_denies() {
    // A port that was free a moment ago: nothing listens there.
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("free port")
        .port();
    let policy = remote_policy(&format!("http://127.0.0.1:{port}/jwks.json"), "12h");
    run_lua(
        r#"
local verifier = assert(jwtguard.new(POLICY, {backoff_initial = 60,
                                              backoff_max = 60}))
assert(verifier:start())
for attempt = 1, 2 do
    local claims, reason, status = verifier:verify(VALID)
    check(claims, nil, "claims of attempt " .. attempt)
    check(reason, "keys_unavailable", "reason of attempt " .. attempt)
    check(status, 403, "status of attempt " .. attempt)
end
local records, dropped = verifier:logs()
check(#records, 1, "log records")
check(records[1].level, "err", "log level")
check_match(records[1].message, "^key set fetch from http://127%.0%.0%.1:%d+/jwks%.json failed",
            "log message")
check(dropped, 0, "dropped")
check(#verifier:logs(), 0, "records after a drain")
verifier:stop()
print("done")
"#,
        &[("POLICY", &policy), ("VALID", &valid_token())],
    );
}

#[test]
fn remote_wait_times_out() {
    let server = KeyServer::start();
    server.set_route("/jwks.json", Route::hang());
    let policy = remote_policy(&server.url("/jwks.json"), "12h");
    run_lua(
        r#"
local verifier = assert(jwtguard.new(POLICY, {fetch_timeout = 10,
                                              wait_timeout = 0.3}))
assert(verifier:start())
local claims, reason, status, message, challenge = verifier:verify(VALID)
check(claims, nil, "claims")
check(reason, "keys_unavailable", "reason")
check(status, 403, "status")
check(message, "timed out after 0.3 s waiting for the key set", "message")
check(challenge, "Bearer", "challenge")
verifier:stop()
print("done")
"#,
        &[("POLICY", &policy), ("VALID", &valid_token())],
    );
}

/// Starts a server on 127.0.0.1 that replies to each request with status 500 or 503 in turn,
/// so that each key set fetch fails with a cause that differs from the last one. Returns the
/// port, the request counter, and the flag that stops the server.
fn start_alternating_server() -> (u16, Arc<AtomicUsize>, Arc<AtomicBool>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a port on 127.0.0.1");
    listener
        .set_nonblocking(true)
        .expect("non-blocking listener");
    let port = listener.local_addr().expect("local address").port();
    let count = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let (thread_count, thread_stop) = (Arc::clone(&count), Arc::clone(&stop));
    thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !thread_stop.load(Ordering::Relaxed) && Instant::now() < deadline {
            let Ok((mut stream, _)) = listener.accept() else {
                thread::sleep(Duration::from_millis(1));
                continue;
            };
            let _ = stream.set_nonblocking(false);
            let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
            let mut buffer = [0u8; 4096];
            let _ = stream.read(&mut buffer);
            let served = thread_count.fetch_add(1, Ordering::Relaxed);
            let status = if served % 2 == 0 {
                "500 Internal Server Error"
            } else {
                "503 Service Unavailable"
            };
            let response =
                format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
            let _ = stream.write_all(response.as_bytes());
        }
    });
    (port, count, stop)
}

#[test]
fn log_queue_counts_dropped_records() {
    let (port, count, stop) = start_alternating_server();
    let policy = remote_policy(&format!("http://127.0.0.1:{port}/jwks.json"), "12h");
    run_lua(
        r#"
local verifier = assert(jwtguard.new(POLICY, {backoff_initial = 0.001,
                                              backoff_max = 0.001}))
assert(verifier:start())
local deadline = os.time() + 20
while verifier:key_stats().failures < 80 do
    assert(os.time() < deadline, "fewer than 80 failed fetches in 20 s")
    os.execute("sleep 0.05")
end
verifier:stop()
local records, dropped = verifier:logs()
check(#records, 64, "queued records")
check(dropped > 0, true, "dropped count " .. dropped)
check_match(records[1].message, "HTTP status 50[03]", "first record")
print("done")
"#,
        &[("POLICY", &policy)],
    );
    stop.store(true, Ordering::Relaxed);
    assert!(count.load(Ordering::Relaxed) >= 80);
}

#[test]
fn collected_verifier_stops_fetching() {
    let server = KeyServer::start();
    server.set_route("/jwks.json", Route::json(control_jwks()));
    // Keys cached for 1 s are refreshed every 0.9 s while the fetch thread runs.
    let policy = remote_policy(&server.url("/jwks.json"), "1s");
    let script = Script::new(
        r#"
local verifier = assert(jwtguard.new(POLICY))
assert(verifier:start())
assert(verifier:verify(VALID))
os.execute("sleep 2")
verifier = nil
collectgarbage()
collectgarbage()
print("collected")
io.stdout:flush()
os.execute("sleep 2")
print("done")
"#,
        &[("POLICY", &policy), ("VALID", &valid_token())],
    );
    let mut child = script
        .command()
        .stdout(Stdio::piped())
        .spawn()
        .expect("run luajit");
    let stdout = child.stdout.take().expect("piped stdout");
    let mut lines = BufReader::new(stdout).lines();
    let first = lines.next().and_then(Result::ok);
    assert_eq!(first.as_deref(), Some("collected"), "first line");
    // stop() leaves a fetch in progress to end by itself, so one may still reach the
    // server. Any fetch after that would be a refresh, due within 0.9 s.
    let fetches_at_collection = server.request_count("/jwks.json");
    thread::sleep(Duration::from_millis(300));
    let fetches_after_stop = server.request_count("/jwks.json");
    let status = child.wait().expect("wait for luajit");
    assert!(status.success(), "luajit exit status {status}");

    assert!(
        fetches_at_collection >= 2,
        "only {fetches_at_collection} fetches before collection"
    );
    assert!(
        fetches_after_stop <= fetches_at_collection + 1,
        "{fetches_after_stop} fetches 0.3 s after collection, {fetches_at_collection} at it"
    );
    assert_eq!(
        server.request_count("/jwks.json"),
        fetches_after_stop,
        "fetches from 0.3 s to 2 s after collection"
    );
}
