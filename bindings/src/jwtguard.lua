-- Public API of the jwtguard module. The Rust library runs this chunk once,
-- at require time, with its low-level table as `...`. Waits for remote keys
-- live here because ngx.sleep must yield, and a coroutine cannot yield
-- across a Rust (C) function.

local core = ...

local bit = require "bit"
local ffi = require "ffi"

local band = bit.band
local error = error
local getmetatable = getmetatable
local pairs = pairs
local pcall = pcall
local rawget = rawget
local require = require
local setmetatable = setmetatable
local tonumber = tonumber
local type = type
local str_find = string.find
local str_format = string.format
local str_lower = string.lower
local str_sub = string.sub

local ngx = ngx
local in_nginx = type(ngx) == "table" and type(ngx.get_phase) == "function"
local ngx_exit, ngx_get_phase, ngx_get_headers, ngx_get_method, ngx_header
local ngx_log, ngx_now, ngx_sleep, ngx_time, ngx_timer_at, ngx_timer_every
local ngx_var
local ngx_ERR, ngx_INFO, ngx_WARN
local ngx_levels
if in_nginx then
    ngx_exit = ngx.exit
    ngx_get_phase = ngx.get_phase
    ngx_get_headers = ngx.req.get_headers
    ngx_get_method = ngx.req.get_method
    ngx_header = ngx.header
    ngx_log = ngx.log
    ngx_now = ngx.now
    ngx_sleep = ngx.sleep
    ngx_time = ngx.time
    ngx_timer_at = ngx.timer.at
    ngx_timer_every = ngx.timer.every
    ngx_var = ngx.var
    ngx_ERR = ngx.ERR
    ngx_INFO = ngx.INFO
    ngx_WARN = ngx.WARN
    ngx_levels = {
        err = ngx.ERR,
        warn = ngx.WARN,
        info = ngx.INFO,
        debug = ngx.DEBUG,
    }
end


-- Results of the core's check function: the decision's kind, plus
-- LOGS_QUEUED when the fetch thread has queued log records. The Rust
-- library defines the same numbers.
local ALLOW = 0
local DENY = 1
local PENDING = 2
local FAILED = 3
local COLLECTED = 4
local LOGS_QUEUED = 8

-- Kinds of input of the check function: the request's token source (or
-- none) or a bare token.
local NO_SOURCE = 0
local SOURCE = 1
local TOKEN = 2

-- The check function, called through the FFI so that LuaJIT compiles the
-- call into the caller's trace. It writes the decision's ticket to
-- check_out[0] and the generation of a pending decision to check_out[1].
local check_function = ffi.cast("int (*)(uint64_t, const char *, size_t, "
                                .. "int, uint64_t, int, uint64_t *)",
                                core.check)
local check_out = ffi.new("uint64_t[2]")

-- Polling interval while a request waits for remote keys, in seconds: it
-- starts short and doubles up to the maximum.
local MIN_POLL = 0.01
local MAX_POLL = 0.05

-- Interval of the timer that writes queued log records, in seconds.
local LOG_FLUSH_INTERVAL = 1

-- Maximum "request denied" lines at error level that a worker writes per
-- second, as in the C module. A flood of bad tokens would otherwise cost a
-- timer and a log write each.
local REJECT_LOG_RATE = 100

-- Phases with a current request.
local REQUEST_PHASES = {
    set = true,
    server_rewrite = true,
    rewrite = true,
    access = true,
    content = true,
    header_filter = true,
    body_filter = true,
    log = true,
    balancer = true,
}

-- Phases in which ngx.sleep may yield.
local YIELDABLE_PHASES = {
    server_rewrite = true,
    rewrite = true,
    access = true,
    content = true,
    timer = true,
    ssl_cert = true,
    ssl_session_fetch = true,
    ssl_client_hello = true,
}

-- Phases in which ngx.exit(status) sends an error response.
local EXIT_PHASES = {
    server_rewrite = true,
    rewrite = true,
    access = true,
    content = true,
}


local _M = { _VERSION = core.version }
local mt = { __index = _M }


-- OpenResty's lua-cjson marks decoded arrays with cjson.array_mt so that
-- cjson.encode keeps an empty array as []. Claims get the same mark when
-- that library is present.
local array_mt
do
    local ok, cjson = pcall(require, "cjson")
    if ok and type(cjson) == "table" and type(cjson.array_mt) == "table" then
        array_mt = cjson.array_mt
    end
end


-- OpenResty's LuaJIT has table.clone, a shallow copy that copies the
-- table's memory at once. Other LuaJIT builds copy with a loop.
local clone
do
    local ok, table_clone = pcall(require, "table.clone")
    if ok then
        clone = table_clone
    else
        clone = function(source)
            local copy = {}
            for key, value in pairs(source) do
                copy[key] = value
            end
            return copy
        end
    end
end


-- Returns the value of the nginx variable `name` of the current request, or
-- nil. `lowcase` is a buffer of #name bytes.
--
-- ngx.var[name] does the same through lua-resty-core's getter. Inline code
-- such as `local v = ngx.var.x` in an access_by_lua_block makes LuaJIT
-- start traces in that getter, which abort (NYI: return to lower frame).
-- After enough aborts LuaJIT blacklists the getter. A blacklisted function
-- also aborts every trace that calls it, so verifier:access() would run in
-- the interpreter: about 1.1 us more per request in a wrk run against one
-- nginx 1.22 worker. This reads the variable with the C function that the
-- getter calls, declared by lua-resty-core, and falls back to ngx.var where
-- it is missing.
local read_var = function(name)
    return ngx_var[name]
end
if in_nginx then
    local ok, base = pcall(require, "resty.core.base")
    local declared, var_get = pcall(function()
        return ffi.C.ngx_http_lua_ffi_var_get
    end)
    if ok and declared then
        local get_request = base.get_request
        local value_out = ffi.new("char *[1]")
        local length_out = ffi.new("size_t[1]")
        local error_out = ffi.new("char *[1]")
        read_var = function(name, lowcase)
            local r = get_request()
            if not r then
                error("jwtguard: no request found", 2)
            end
            local rc = var_get(r, name, #name, lowcase, 0, value_out,
                               length_out, error_out)
            if rc == 0 then
                local value = ffi.string(value_out[0], length_out[0])
                return value
            end
            if rc == -1 then
                error("jwtguard: reading $" .. name .. " failed: "
                      .. ffi.string(error_out[0]))
            end
            return nil
        end
    end
end


-- lua-resty-core's function that returns the level of the error log that
-- ngx.log writes to, so that a line which that level filters out costs no
-- timer.
local get_log_level
if in_nginx then
    local ok, errlog = pcall(require, "ngx.errlog")
    if ok and type(errlog) == "table"
       and type(errlog.get_sys_filter_level) == "function"
    then
        get_log_level = errlog.get_sys_filter_level
    end
end


-- Each worker has its own Lua VM, so these counters are per worker. They
-- contain the second being counted, the "request denied" lines at error
-- level written in it, and the rejections not logged since the last line.
local reject_second = 0
local reject_lines = 0
local reject_unlogged = 0


local function check_self(self, name)
    if getmetatable(self) ~= mt then
        error(str_format("calling '%s' on bad self (verifier expected, "
                         .. "got %s)", name, type(self)), 3)
    end
end


local function flush_logs(handle)
    local records, dropped = handle:take_logs()
    for i = 1, #records do
        local record = records[i]
        ngx_log(ngx_levels[record.level], "jwtguard: ", record.message)
    end
    if dropped > 0 then
        ngx_log(ngx_WARN, "jwtguard: ", dropped, " log records dropped ",
                "because the queue was full")
    end
end


local function flush_timer(_, handle)
    if handle:pending_logs() > 0 then
        flush_logs(handle)
    end
end


local function flush_once_timer(_, self)
    self.flush_scheduled = false
    flush_timer(nil, self.handle)
end


local function in_request()
    return in_nginx and REQUEST_PHASES[ngx_get_phase()] == true
end


local function write_log_timer(_, level, message)
    ngx_log(level, message)
end


-- Writes a log line now, or from a zero-delay timer while a request is
-- current. nginx ends each line written during a request with the request
-- line, query string included, so a token read from the query would reach
-- the log. A timer runs outside the request, and its lines end with the
-- client and server address instead. Returns false when the line was
-- neither written nor scheduled.
local function write_log(level, message)
    if not in_request() then
        ngx_log(level, message)
        return true
    end
    if get_log_level and level > get_log_level() then
        return true
    end
    local ok = ngx_timer_at(0, write_log_timer, level, message)
    return ok ~= nil
end


-- Writes the fetch thread's queued records now, or from a zero-delay timer
-- while a request is current, for the reason given at write_log. When no
-- timer can be created, the records stay queued for the timer that start
-- creates.
local function flush_pending(self)
    if not in_nginx or self.handle:pending_logs() == 0 then
        return
    end
    if not in_request() then
        flush_logs(self.handle)
        return
    end
    if not self.flush_scheduled then
        local ok = ngx_timer_at(0, flush_once_timer, self)
        self.flush_scheduled = ok ~= nil
    end
end


-- Returns the log line of a denial. It names the request by method and
-- path, and leaves out the query string, which may contain the token.
local function denial_line(reason, status, message, unlogged)
    local uri = ngx_var.request_uri or ""
    local query_start = str_find(uri, "?", 1, true)
    if query_start then
        uri = str_sub(uri, 1, query_start - 1)
    end

    local note = ""
    if unlogged > 0 then
        note = str_format("; %d earlier rejections were not logged", unlogged)
    end
    return str_format('jwtguard: request denied with status %d: %s: %s%s, '
                      .. 'request: "%s %s"', status, reason, message, note,
                      ngx_get_method(), uri)
end


-- Logs a denial of `access`, at info level for a missing token and at error
-- level for the others. Error lines are limited to REJECT_LOG_RATE a second
-- per worker, and the next line written after a limited second counts the
-- rejections it left out, as the C module does.
local function log_denial(reason, status, message)
    -- Requests without a token are common, so a line that the error log
    -- filters out returns before any string is built.
    local level = reason == "missing" and ngx_INFO or ngx_ERR
    if get_log_level and level > get_log_level() then
        return
    end

    if level == ngx_INFO then
        write_log(ngx_INFO, denial_line(reason, status, message, 0))
        return
    end

    local now = ngx_time()
    if now ~= reject_second then
        reject_second = now
        reject_lines = 0
    end
    if reject_lines >= REJECT_LOG_RATE then
        reject_unlogged = reject_unlogged + 1
        return
    end
    reject_lines = reject_lines + 1

    local line = denial_line(reason, status, message, reject_unlogged)
    if write_log(ngx_ERR, line) then
        reject_unlogged = 0
    else
        reject_unlogged = reject_unlogged + 1
    end
end


-- Decides `input` in the core. `mode` is SOURCE or TOKEN, and a nil input
-- is a request without a token source. `generation` is the one of an
-- earlier PENDING, or 0. An ALLOW decision is stored for take_decision only
-- when `store_allow` is true. Returns the decision's kind, the ticket to
-- take it with, and for PENDING the generation to wait past.
local function check(self, input, mode, generation, store_allow)
    local length = 0
    if input then
        length = #input
    else
        mode = NO_SOURCE
    end
    local result = check_function(self.id, input, length, mode, generation,
                                  store_allow and 1 or 0, check_out)
    if result == FAILED then
        error("jwtguard: internal error while verifying a token", 0)
    end
    if result == COLLECTED then
        error("jwtguard: this verifier was garbage-collected and can no "
              .. "longer verify; keep a reference to it while it is in use", 0)
    end
    -- check_out is shared, so it is read before flush_pending, which may
    -- run other Lua code.
    local kind = band(result, LOGS_QUEUED - 1)
    local ticket = tonumber(check_out[0])
    local pending_generation
    if kind == PENDING then
        pending_generation = tonumber(check_out[1])
    end
    if band(result, LOGS_QUEUED) ~= 0 then
        flush_pending(self)
    end
    return kind, ticket, pending_generation
end


-- Waits until the key generation differs from `generation`, at most
-- `timeout` seconds. Returns whether it changed and the seconds spent.
local function wait_for_change(handle, generation, timeout)
    if not in_nginx then
        return handle:wait_for_keys(generation, timeout)
    end

    local started = ngx_now()
    local poll = MIN_POLL
    while handle:keys_generation() == generation do
        local elapsed = ngx_now() - started
        if elapsed >= timeout then
            return false, elapsed
        end
        ngx_sleep(poll)
        if poll < MAX_POLL then
            poll = poll * 2 > MAX_POLL and MAX_POLL or poll * 2
        end
    end
    return true, ngx_now() - started
end


-- Checks a pending decision again each time the key generation changes,
-- until it is decided or the verifier's wait_timeout has passed. Returns
-- the decision's kind and ticket.
local function wait_and_retry(self, input, mode, generation, store_allow)
    local handle = self.handle
    if in_nginx then
        local phase = ngx_get_phase()
        if not YIELDABLE_PHASES[phase] then
            return DENY, handle:deny_unavailable(
                "the key set is not loaded yet and the " .. phase
                .. " phase cannot wait for it")
        end
    end

    local timeout = handle:wait_timeout()
    local remaining = timeout
    while true do
        local changed, elapsed = wait_for_change(handle, generation,
                                                 remaining)
        remaining = remaining - elapsed
        if not changed then
            return DENY, handle:deny_unavailable(str_format(
                "timed out after %g s waiting for the key set", timeout))
        end

        local kind, ticket, next_generation = check(self, input, mode,
                                                    generation, store_allow)
        if kind ~= PENDING then
            return kind, ticket
        end
        generation = next_generation
    end
end


-- A memo entry keeps a private copy of a claims table and, for each table
-- nested in it, the key and the nested table's own entry, so that
-- copy_claims can make a deep copy without walking the whole table.
local function memo_entry(claims)
    local template = clone(claims)
    local nested
    for key, value in pairs(template) do
        if type(value) == "table" then
            local entry = memo_entry(value)
            template[key] = entry.template
            nested = nested or {}
            nested[#nested + 1] = key
            nested[#nested + 1] = entry
        end
    end
    return { template = template, nested = nested, mt = getmetatable(claims) }
end


local function copy_claims(entry)
    local claims = clone(entry.template)
    local nested = entry.nested
    if nested then
        for i = 1, #nested, 2 do
            claims[nested[i]] = copy_claims(nested[i + 1])
        end
    end
    if entry.mt then
        setmetatable(claims, entry.mt)
    end
    return claims
end


-- Adds the claims of an allowed input to `memo`, which starts anew when
-- full. The memo keeps its own copy, so that the caller may change
-- `claims`.
local function remember(self, memo, input, claims)
    if memo.size >= self.memo_limit then
        memo.entries = {}
        memo.size = 0
    end
    memo.entries[input] = memo_entry(claims)
    memo.size = memo.size + 1
end


-- Decides `input` (see check) and returns the claims, or nil and the
-- denial's reason, status, message and challenge.
--
-- Equal inputs have equal claims. So the memo of the input's mode keeps a
-- copy of the claims of each input allowed, and a repeated input gets a
-- fresh copy of it instead of a conversion, which costs more. Every input
-- is still decided by the core.
local function decide(self, input, mode)
    local memo = self.memos and self.memos[mode]
    local entry = memo and input and memo.entries[input]
    local kind, ticket, generation = check(self, input, mode, 0, not entry)
    if kind == PENDING then
        kind, ticket = wait_and_retry(self, input, mode, generation,
                                      not entry)
    end

    if kind == ALLOW and entry then
        return copy_claims(entry)
    end
    local handle = self.handle
    if kind == ALLOW then
        local _, claims = handle:take_decision(ticket)
        if memo then
            remember(self, memo, input, claims)
        end
        return claims
    end
    local _, reason, status, message, challenge = handle:take_decision(ticket)
    return nil, reason, status, message, challenge
end


-- Returns the value of the first request header whose name equals the
-- token name, compared case-insensitively, as the C module reads it.
--
-- ngx.var.http_<name> differs in two ways: it also matches a header that
-- spells a '-' of the name as '_' (accepted with underscores_in_headers on),
-- and some variables join repeated headers (all unknown headers since nginx
-- 1.23.0 with ", ", $http_cookie with "; "). ngx.req.get_headers has none of
-- these, but it copies every header into a table, which cost about 0.06 us
-- per header in a wrk run against one nginx 1.22 worker (2-CPU Xeon VM). So
-- it runs only when the variable may differ: for a name with '-' or '_', and
-- for a value with ',' or ';', which a joined value contains.
local function header_value(self)
    local header_var = self.header_var
    if header_var then
        local value = read_var(header_var, self.lowcase)
        if value == nil
           or not (str_find(value, ",", 1, true)
                   or str_find(value, ";", 1, true))
        then
            return value
        end
    end

    -- rawget, because the table's __index would also try the name with '_'
    -- as '-'.
    local value = rawget(ngx_get_headers(0), self.header_key)
    if type(value) == "table" then
        return value[1]
    end
    return value
end


-- Reads the token source of the current request. The caller passes the
-- current phase, which it reads only once per request.
local function request_source(self, name, phase)
    if not REQUEST_PHASES[phase] then
        error(str_format("no request found for '%s'", name), 3)
    end

    if self.query then
        return read_var("args", self.lowcase)
    end
    return header_value(self)
end


local function open(name, loader, input, options)
    if type(input) ~= "string" then
        error(str_format("bad argument #1 to '%s' (string expected, got %s)",
                         name, type(input)), 3)
    end
    if options ~= nil and type(options) ~= "table" then
        error(str_format("bad argument #2 to '%s' (table expected, got %s)",
                         name, type(options)), 3)
    end

    local handle, err, misuse = loader(input, options, array_mt)
    if not handle then
        if misuse then
            error(str_format("bad argument #2 to '%s' (%s)", name, err), 3)
        end
        return nil, err
    end

    local source, token_name = handle:token_location()
    local header_key = str_lower(token_name)
    -- Set only for names in which ngx.var.http_<name> matches exactly the
    -- headers of that name, see header_value.
    local header_var
    if not str_find(header_key, "[-_]") then
        header_var = "http_" .. header_key
    end
    -- A query source is the whole query string, whose other parameters
    -- may differ on every request, so it gets no memo.
    local memo_limit = handle:token_cache_entries()
    local memos
    if memo_limit > 0 then
        memos = { [TOKEN] = { entries = {}, size = 0 } }
        if source ~= "query" then
            memos[SOURCE] = { entries = {}, size = 0 }
        end
    end
    local self = {
        handle = handle,
        id = handle:id(),
        -- The buffer that read_var needs for the variable to read.
        lowcase = ffi.new("char[?]", #(source == "query" and "args"
                                       or header_var or "")),
        memos = memos,
        memo_limit = memo_limit,
        query = source == "query",
        header_key = header_key,
        header_var = header_var,
        log_timer = false,
        flush_scheduled = false,
    }
    return setmetatable(self, mt)
end


function _M.new(policy, options)
    local verifier, err = open("new", core.new, policy, options)
    return verifier, err
end


function _M.load(path, options)
    local verifier, err = open("load", core.load, path, options)
    return verifier, err
end


function _M.verify(self, token)
    check_self(self, "verify")
    if type(token) ~= "string" then
        error(str_format("bad argument #1 to 'verify' (string expected, "
                         .. "got %s)", type(token)), 2)
    end

    return decide(self, token, TOKEN)
end


function _M.verify_request(self)
    check_self(self, "verify_request")
    local source = request_source(self, "verify_request",
                                  in_nginx and ngx_get_phase())
    return decide(self, source, SOURCE)
end


function _M.access(self)
    check_self(self, "access")
    local phase = in_nginx and ngx_get_phase()
    local source = request_source(self, "access", phase)
    if not EXIT_PHASES[phase] then
        error("'access' cannot run in the " .. phase .. " phase; call it "
              .. "in access_by_lua*, rewrite_by_lua* or content_by_lua*", 2)
    end

    local claims, reason, status, message, challenge =
        decide(self, source, SOURCE)
    if claims then
        return claims
    end

    log_denial(reason, status, message)
    ngx_header["WWW-Authenticate"] = challenge
    return ngx_exit(status)
end


function _M.start(self)
    check_self(self, "start")
    if in_nginx and ngx_get_phase() == "init" then
        error("'start' cannot run in init_by_lua*, which runs in the master "
              .. "process; call it in init_worker_by_lua*", 2)
    end

    local ok, err = self.handle:start()
    if not ok then
        return nil, err
    end

    if in_nginx and not self.log_timer then
        local timer_ok, timer_err = ngx_timer_every(LOG_FLUSH_INTERVAL,
                                                    flush_timer, self.handle)
        if timer_ok then
            self.log_timer = true
        else
            write_log(ngx_ERR, "jwtguard: failed to create the log timer: "
                               .. timer_err)
        end
    end
    return true
end


function _M.stop(self)
    check_self(self, "stop")
    self.handle:stop()
    flush_pending(self)
    return true
end


function _M.keys_generation(self)
    check_self(self, "keys_generation")
    return self.handle:keys_generation()
end


function _M.key_stats(self)
    check_self(self, "key_stats")
    return self.handle:key_stats()
end


function _M.token_location(self)
    check_self(self, "token_location")
    return self.handle:token_location()
end


function _M.warnings(self)
    check_self(self, "warnings")
    return self.handle:warnings()
end


function _M.logs(self)
    check_self(self, "logs")
    return self.handle:take_logs()
end


return _M
