#!/usr/bin/env python3
"""Run every jwtguard benchmark and write docs/benchmarks.md.

Usage: python3 benches/run.py [--quick]   (or `make bench`)

Core figures come from criterion (`cargo bench -p jwtguard`). NGINX figures
come from wrk against real nginx processes on 127.0.0.1, one worker pinned
to CPU 0 and wrk pinned to CPU 1. Tokens are signed with PyJWT.
"""

import argparse
import datetime
import json
import os
import pathlib
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
MODULE = ROOT / "target/nginx/ngx_http_jwtguard_module.so"
LUA_BINDING_DIR = ROOT / "target/lua"
NGINX_MODULES = pathlib.Path("/usr/lib/nginx/modules")
MANIFEST = ROOT / "crates/jwtguard/tests/fixtures/independent/manifest.json"
CORE_ALGORITHMS = ["HS256", "RS256", "PS256", "ES256", "ES384", "ES512", "EdDSA"]
NGINX_ALGORITHMS = ["HS256", "RS256", "ES256", "EdDSA"]
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def run(command, **kwargs):
    return subprocess.run(command, check=True, text=True, capture_output=True, **kwargs)


def ensure_pyjwt():
    try:
        import jwt  # noqa: F401
        import cryptography  # noqa: F401
    except ImportError:
        run([sys.executable, "-m", "pip", "install", "--quiet", "pyjwt", "cryptography"])


# ---------------------------------------------------------------- core


def core_benchmarks(quick):
    """Runs criterion and returns {benchmark id: median nanoseconds}."""
    criterion = ROOT / "target/criterion"
    shutil.rmtree(criterion, ignore_errors=True)
    command = ["cargo", "bench", "-p", "jwtguard", "--bench", "verify", "--", "--noplot"]
    if quick:
        command += ["--warm-up-time", "0.2", "--measurement-time", "0.5"]
    subprocess.run(command, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    medians = {}
    for estimates in criterion.glob("*/new/estimates.json"):
        benchmark = json.loads((estimates.parent / "benchmark.json").read_text())
        median = json.loads(estimates.read_text())["median"]["point_estimate"]
        medians[benchmark["full_id"]] = median
    return medians


# ---------------------------------------------------------------- nginx


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_port(port, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nginx did not listen on port {port}")


class Nginx:
    """One nginx with one worker on CPU 0, from a config written to a temp prefix."""

    def __init__(self, locations, lua_init=""):
        self.prefix = pathlib.Path(tempfile.mkdtemp(prefix="jwtguard-bench-"))
        self.port = free_port()
        modules = [f"load_module {MODULE};"]
        http_extra = ""
        if lua_init:
            modules = [
                f"load_module {NGINX_MODULES / 'ndk_http_module.so'};",
                f"load_module {NGINX_MODULES / 'ngx_http_lua_module.so'};",
            ] + modules
            http_extra = (f'lua_package_cpath "{LUA_BINDING_DIR}/?.so;;";\n'
                          f"    init_worker_by_lua_block {{\n{lua_init}\n    }}")
        user = "user root;" if os.geteuid() == 0 else ""
        temp_paths = "\n".join(
            f"    {name}_temp_path {self.prefix}/{name};"
            for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        config = f"""{user}
{chr(10).join(modules)}
worker_processes 1;
worker_cpu_affinity 01;
daemon off;
error_log {self.prefix}/error.log error;
pid {self.prefix}/nginx.pid;
events {{ worker_connections 1024; }}
http {{
    access_log off;
{temp_paths}
    {http_extra}
    server {{
        listen 127.0.0.1:{self.port} backlog=1024;
{locations}
    }}
}}
"""
        (self.prefix / "nginx.conf").write_text(config)
        self.process = subprocess.Popen(
            ["/usr/sbin/nginx", "-p", str(self.prefix), "-c", str(self.prefix / "nginx.conf")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_port(self.port)
        self.worker = self.find_worker()

    def find_worker(self):
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            children = run(["pgrep", "-P", str(self.process.pid)]).stdout.split()
            if children:
                return int(children[0])
            time.sleep(0.05)
        raise RuntimeError("no nginx worker process")

    def cpu_seconds(self):
        fields = pathlib.Path(f"/proc/{self.worker}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS

    def rss_kib(self):
        status = pathlib.Path(f"/proc/{self.worker}/status").read_text()
        return int(re.search(r"VmRSS:\s+(\d+)", status).group(1))

    def stop(self):
        self.process.send_signal(signal.SIGQUIT)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        shutil.rmtree(self.prefix, ignore_errors=True)


def wrk(nginx, path, tokens_file, seconds):
    """Runs wrk on CPU 1; returns requests/s, p99 ms, worker CPU seconds per request, non-2xx."""
    env = dict(os.environ, BENCH_PATH=path, BENCH_TOKENS=str(tokens_file))
    command = ["taskset", "-c", "1", "wrk", "-t1", "-c32", f"-d{seconds}s", "--latency",
               "-s", str(ROOT / "benches/tokens.lua"), f"http://127.0.0.1:{nginx.port}{path}"]
    cpu_before = nginx.cpu_seconds()
    output = run(command, env=env).stdout
    cpu = nginx.cpu_seconds() - cpu_before
    requests = int(re.search(r"(\d+) requests in", output).group(1))
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    p99 = latency_ms(re.search(r"99%\s+([\d.]+\w+)", output).group(1))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return {"rps": rps, "p99_ms": p99, "cpu_per_request": cpu / max(requests, 1),
            "requests": requests, "non_2xx": int(non_2xx.group(1)) if non_2xx else 0}


def latency_ms(text):
    value, unit = re.match(r"([\d.]+)(\w+)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def make_token_files(work):
    """Writes one token file per scenario and the policies; returns their paths."""
    import jwt
    from cryptography.hazmat.primitives.asymmetric import ec

    manifest = json.loads(MANIFEST.read_text())
    files = {}
    for alg in NGINX_ALGORITHMS:
        entry = next(t for t in manifest["tokens"] if t["alg"] == alg and t["expect"] == "allow")
        files[alg] = work / f"{alg}.txt"
        files[alg].write_text(entry["token"] + "\n")
    forged = next(t for t in manifest["tokens"]
                  if t["alg"] == "RS256" and t["reason"] == "bad_signature")
    files["forged"] = work / "forged.txt"
    files["forged"].write_text(forged["token"] + "\n")
    (work / "policy.json").write_text(json.dumps({"action": {"jwksKeys": manifest["jwks"]}}))

    # Many distinct valid tokens, from keys made here.
    secret = os.urandom(32)
    es_key = ec.generate_private_key(ec.SECP256R1())
    es_jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(es_key.public_key()))
    es_jwk.update({"kid": "bench-es256"})
    es_jwk.pop("key_ops", None)
    hs_jwk = {"kty": "oct", "kid": "bench-hs256",
              "k": jwt.utils.base64url_encode(secret).decode()}
    (work / "distinct-policy.json").write_text(
        json.dumps({"action": {"jwksKeys": [hs_jwk, es_jwk]}}))
    claims = {"iss": "https://issuer.example.test", "aud": "https://api.example.test",
              "exp": 4102444800, "nbf": 1700000000, "iat": 1700000000,
              "scope": "orders:read orders:write", "roles": ["customer"]}
    # Four times the default token cache, so nearly every request misses it.
    for name, key, alg, kid, count in (("distinct-HS256", secret, "HS256", "bench-hs256", 4096),
                                       ("distinct-ES256", es_key, "ES256", "bench-es256", 4096)):
        lines = (jwt.encode({**claims, "sub": f"user-{n}", "jti": f"{name}-{n}"}, key,
                            algorithm=alg, headers={"kid": kid}) for n in range(count))
        files[name] = work / f"{name}.txt"
        files[name].write_text("\n".join(lines) + "\n")
    return files


def nginx_locations(work):
    blocks = ["        location = /plain { return 200 'ok'; }",
              "        location = /empty { empty_gif; }"]
    for cache in ("off", "on"):
        size = 0 if cache == "off" else 1024
        blocks.append(f"""        location = /module-cache-{cache} {{
            jwtguard_policy {work}/policy.json;
            jwtguard_token_cache {size};
            empty_gif;
        }}""")
    blocks.append(f"""        location = /distinct {{
            jwtguard_policy {work}/distinct-policy.json;
            empty_gif;
        }}""")
    return "\n".join(blocks)


# Baselines for OpenResty's own cost before jwtguard runs: entering an
# access_by_lua handler, then that plus reading the Authorization header.
LUA_BASELINES = [("lua empty access block", "/lua-empty"),
                 ("lua header read", "/lua-header")]


def lua_setup(work):
    init = f"""        local jwtguard = require "jwtguard"
        bench_verifier = assert(jwtguard.load("{work}/policy.json"))"""
    location = """        location = /lua {
            access_by_lua_block { bench_verifier:access() }
            empty_gif;
        }
        location = /lua-empty {
            access_by_lua_block { }
            empty_gif;
        }
        location = /lua-header {
            access_by_lua_block { local _ = ngx.var.http_authorization }
            empty_gif;
        }"""
    return init, location


def nginx_benchmarks(quick):
    seconds = 3 if quick else 8
    work = pathlib.Path(tempfile.mkdtemp(prefix="jwtguard-bench-tokens-"))
    files = make_token_files(work)
    results = {}
    lua_available = (LUA_BINDING_DIR / "jwtguard.so").exists()
    init, lua_location = lua_setup(work) if lua_available else ("", "")
    locations = nginx_locations(work) + "\n" + lua_location
    nginx = Nginx(locations, init)
    try:
        for name, path, tokens in [("plain return 200", "/plain", files["HS256"]),
                                   ("plain empty_gif", "/empty", files["HS256"])]:
            results[name] = wrk(nginx, path, tokens, seconds)
        if lua_available:
            for name, path in LUA_BASELINES:
                results[name] = wrk(nginx, path, files["HS256"], seconds)
        for alg in NGINX_ALGORITHMS:
            for cache in ("off", "on"):
                results[f"module {alg} cache {cache}"] = wrk(
                    nginx, f"/module-cache-{cache}", files[alg], seconds)
            if lua_available:
                results[f"lua {alg}"] = wrk(nginx, "/lua", files[alg], seconds)
        results["module RS256 bad signature (deny)"] = wrk(
            nginx, "/module-cache-off", files["forged"], seconds)
        results["profile"] = {"plain": profile(nginx, "/empty", files["RS256"], seconds)}
        for alg in NGINX_ALGORITHMS:
            results["profile"][alg] = profile(nginx, "/module-cache-off", files[alg], seconds)
        if lua_available:
            results["lua profile"] = {
                "empty": profile(nginx, "/lua-empty", files["HS256"], seconds),
                "lua": profile(nginx, "/lua", files["HS256"], seconds),
            }
        for alg in ("HS256", "ES256"):
            results[f"module {alg} distinct tokens"] = wrk(
                nginx, "/distinct", files[f"distinct-{alg}"], seconds)
        results["memory"] = memory_run(nginx, files["distinct-HS256"], quick)
    finally:
        nginx.stop()
        shutil.rmtree(work, ignore_errors=True)
    return results, lua_available


def profile(nginx, path, tokens, seconds):
    """Samples the worker with perf, call graphs included, during a wrk run.
    Returns the run's figures, the share of samples per binary (the module,
    nginx, the kernel, libc) and the share spent waking the client, or None."""
    if shutil.which("perf") is None:
        return None
    data = nginx.prefix / "perf.data"
    recorder = subprocess.Popen(
        ["perf", "record", "-g", "-e", "cpu-clock", "-F", "2000", "-o", str(data),
         "-p", str(nginx.worker), "--", "sleep", str(seconds - 1)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    figures = wrk(nginx, path, tokens, seconds)
    recorder.wait()

    def report(*options):
        return subprocess.run(["perf", "report", "-i", str(data), "--stdio", "-g", "none",
                               *options], capture_output=True, text=True).stdout

    shares = {}
    for line in report("--no-children", "--sort", "dso").splitlines():
        match = re.match(r"\s+([\d.]+)%\s+(\S+)\s*$", line)
        if match:
            shares[match.group(2)] = float(match.group(1))
    # sock_def_readable wakes the reader of a socket. Here that reader is
    # wrk, as each response reaches its connection over loopback.
    wake = re.search(r"([\d.]+)%\s+[\d.]+%\s+\[k\] sock_def_readable\s*$",
                     report("--children", "--sort", "sym"), re.MULTILINE)
    if not shares:
        return None
    return {"figures": figures, "shares": shares, "wake": float(wake.group(1)) if wake else 0.0}


def memory_run(nginx, tokens, quick):
    """Worker RSS once the cache is full, and after about a million more distinct tokens."""
    wrk(nginx, "/distinct", tokens, 2)
    before = nginx.rss_kib()
    total = 0
    target = 100_000 if quick else 1_000_000
    while total < target:
        total += wrk(nginx, "/distinct", tokens, 10)["requests"]
    return {"rss_before_kib": before, "rss_after_kib": nginx.rss_kib(), "requests": total}


# ---------------------------------------------------------------- report


def machine():
    model = "unknown CPU"
    for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    nginx = subprocess.run(["/usr/sbin/nginx", "-v"], capture_output=True, text=True).stderr.strip()
    lock = (ROOT / "Cargo.lock").read_text()
    aws_lc = re.search(r'name = "aws-lc-rs"\nversion = "([^"]+)"', lock).group(1)
    return {
        "cpu": f"{model}, {os.cpu_count()} CPUs",
        "kernel": platform.release(),
        "rustc": run(["rustc", "--version"]).stdout.strip(),
        "nginx": nginx,
        "wrk": subprocess.run(["wrk", "--version"], capture_output=True, text=True).stdout.split("\n")[0],
        "aws-lc-rs": aws_lc,
        "guest halt polling": halt_polling(),
    }


def halt_polling():
    """Describes how long an idle virtual CPU polls before it halts."""
    parameter = pathlib.Path("/sys/module/haltpoll/parameters/guest_halt_poll_ns")
    if not parameter.exists():
        return "not in use"
    return f"{parameter.read_text().strip()} ns (haltpoll guest_halt_poll_ns)"


def microseconds(ns):
    return f"{ns / 1000:.2f} µs"


def core_section(medians):
    lines = ["## Core (criterion, medians)", "",
             "Whole decision (`Verifier::verify` on an `Authorization` header value, token cache off) "
             "next to the raw AWS-LC verify of the same signature with a key prepared once.", "",
             "| algorithm | decision | raw verify | ratio |", "| --- | --- | --- | --- |"]
    for alg in CORE_ALGORITHMS:
        decision, primitive = medians[f"decision/{alg}"], medians[f"primitive/{alg}"]
        lines.append(f"| {alg} | {microseconds(decision)} | {microseconds(primitive)} | "
                     f"{decision / primitive:.2f}x |")
    lines += ["", "| benchmark | median |", "| --- | --- |"]
    for name in sorted(medians):
        if not name.startswith(("decision/", "primitive/")):
            lines.append(f"| `{name}` | {microseconds(medians[name])} |")
    return lines


def nginx_section(results, medians, lua_available):
    plain = results["plain return 200"]
    empty = results["plain empty_gif"]
    cpu_plain = empty["cpu_per_request"]
    lines = ["## NGINX (wrk, one worker)", "",
             "`wrk -t1 -c32`, the worker pinned to CPU 0 and wrk to CPU 1. Ratios are against "
             "plain NGINX `return 200` measured in the same run. The module locations serve "
             "`empty_gif`, since `return` runs before the access phase; `plain empty_gif` is the "
             "same content handler without the module.", "",
             "| run | requests/s | p99 | vs plain | worker CPU per request | non-2xx |",
             "| --- | --- | --- | --- | --- | --- |"]
    for name, figures in results.items():
        if name in ("memory", "profile", "lua profile"):
            continue
        lines.append(f"| {name} | {figures['rps']:.0f} | {figures['p99_ms']:.2f} ms | "
                     f"{figures['rps'] / plain['rps']:.2f}x | "
                     f"{figures['cpu_per_request'] * 1e6:.1f} µs | {figures['non_2xx']} |")
    lines += ["", "### Against the floor", "",
              "The floor for one worker is 1 / (NGINX CPU time per plain `empty_gif` request + "
              "one raw verify), both measured in this run.", "",
              "| algorithm | floor requests/s | module, cache off | share of floor |",
              "| --- | --- | --- | --- |"]
    for alg in NGINX_ALGORITHMS:
        floor = 1 / (cpu_plain + medians[f"primitive/{alg}"] / 1e9)
        measured = results[f"module {alg} cache off"]["rps"]
        lines.append(f"| {alg} | {floor:.0f} | {measured:.0f} | {measured / floor:.2f}x |")
    # At 0.8x plain, the module may add a quarter of plain's CPU per request.
    budget = results["plain return 200"]["cpu_per_request"] * 1e6 / 4
    decision = medians["decision/HS256"] / 1e3
    lines += ["", f"For HS256 the target is 0.8x plain `return 200`, which leaves the module "
              f"about {budget:.2f} µs of worker CPU per request in this run, a quarter of a "
              f"plain request's. The whole decision takes {decision:.2f} µs in criterion, of "
              f"which the HMAC is {medians['primitive/HS256'] / 1e3:.2f} µs."]
    lines += profile_section(results.get("profile"), medians)
    if lua_available:
        lines += lua_section(results)
    memory = results["memory"]
    growth = memory["rss_after_kib"] / memory["rss_before_kib"] - 1
    lines += ["", "### Memory", "",
              f"Worker RSS with the token cache full: {memory['rss_before_kib']} KiB; after "
              f"{memory['requests']} more requests with distinct tokens: "
              f"{memory['rss_after_kib']} KiB ({growth * 100:+.1f}%)."]
    return lines


def profile_section(profile, medians):
    if profile is None or None in profile.values():
        return ["", "No profile: `perf` is not installed or recorded nothing."]

    def parts(run):
        cpu = run["figures"]["cpu_per_request"] * 1e6
        shares = run["shares"]
        module = sum(share for name, share in shares.items() if "jwtguard" in name)
        kernel = sum(share for name, share in shares.items() if "kernel" in name)
        return {"module": cpu * module / 100, "wake": cpu * run["wake"] / 100,
                "kernel": cpu * (kernel - run["wake"]) / 100,
                "rest": cpu * (100 - module - kernel) / 100, "total": cpu,
                "rps": run["figures"]["rps"]}

    plain = parts(profile["plain"])
    runs = {alg: parts(profile[alg]) for alg in NGINX_ALGORITHMS}
    rows = [("jwtguard module (core and AWS-LC)", "module"),
            ("kernel, waking wrk (`sock_def_readable`)", "wake"),
            ("kernel, the rest", "kernel"), ("nginx, libc and the rest", "rest"),
            ("total", "total")]
    header = " | ".join(f"module {alg}" for alg in NGINX_ALGORITHMS)
    lines = ["", "### Where the time goes (cache off)", "",
             "`perf record -g -e cpu-clock` on the worker during a plain `empty_gif` run and a "
             "module run per algorithm, cache off. Figures are µs of worker CPU per request.",
             "", f"| part | plain empty_gif | {header} |",
             "| --- | --- |" + " --- |" * len(NGINX_ALGORITHMS)]

    def row(label, plain_cell, cell):
        return f"| {label} | {plain_cell} | " + " | ".join(
            cell(alg, run) for alg, run in runs.items()) + " |"

    for label, key in rows:
        lines.append(row(label, f"{plain[key]:.1f}", lambda alg, run, key=key: f"{run[key]:.1f}"))
    lines.append(row("requests/s", f"{plain['rps']:.0f}", lambda alg, run: f"{run['rps']:.0f}"))
    lines.append(row("criterion decision", "", lambda alg, run:
                     f"{medians[f'decision/{alg}'] / 1000:.1f}"))

    def floor(alg):
        return 1e6 / (plain["total"] + medians[f"primitive/{alg}"] / 1000)

    def without_wake(run):
        return 1e6 / (run["total"] - run["wake"] + plain["wake"])

    lines.append(row("share of the floor", "", lambda alg, run: f"{run['rps'] / floor(alg):.2f}x"))
    lines.append(row("the same, with the plain run's wake-up cost", "",
                     lambda alg, run: f"{without_wake(run) / floor(alg):.2f}x"))
    rs256 = runs["RS256"]
    lines += ["",
              "The floor of each column is computed from this profile's plain run. In the "
              "module runs the module's part exceeds the criterion decision (RS256: "
              f"{rs256['module']:.1f} against {medians['decision/RS256'] / 1000:.1f} µs), "
              "probably because NGINX and the kernel evict the CPU caches between "
              "verifications (an estimate: this VM has no cache-miss counters). Waking wrk "
              f"costs {plain['wake']:.1f} µs per request in the plain run and "
              f"{rs256['wake']:.1f} µs in the RS256 run. At the module's lower request rate, "
              "wrk's CPU is idle when a response arrives. On this VM an idle CPU halts without "
              "polling first (see guest halt polling above), so each wake-up is an interrupt "
              "to a halted virtual CPU, and the worker pays for it. The floor counts the plain "
              "run's wake-up cost, and the last row shows each run with that cost in place of "
              "the measured one. NGINX's own cost per request also grows at lower rates (the "
              "\"nginx, libc and the rest\" row), probably because each event loop pass then "
              "handles fewer requests."]
    return lines


def lua_section(results):
    """Compares the Lua module with the C module, with OpenResty's own cost apart."""
    cpu = {name: figures["cpu_per_request"] * 1e6 for name, figures in results.items()
           if "cpu_per_request" in figures}
    lines = ["", "### Lua module against the C module (same token)", "",
             "| algorithm | Lua / C module (cache on) |", "| --- | --- |"]
    for alg in NGINX_ALGORITHMS:
        ratio = results[f"lua {alg}"]["rps"] / results[f"module {alg} cache on"]["rps"]
        lines.append(f"| {alg} | {ratio:.2f}x |")
    empty, entered = cpu["plain empty_gif"], cpu["lua empty access block"]
    header, lua = cpu["lua header read"], cpu["lua HS256"]
    c_module = cpu["module HS256 cache on"]
    ceiling = c_module / (entered + max(c_module - empty, 0))
    lines += ["",
              "Worker CPU per request with the HS256 token (cache on), split with the empty "
              "`access_by_lua_block` baseline:", "",
              "| part | µs per request |", "| --- | --- |",
              f"| plain `empty_gif` | {empty:.2f} |",
              f"| entering `access_by_lua_block` | {entered - empty:.2f} |",
              f"| `verifier:access()`: header read, verification, claims | "
              f"{lua - entered:.2f} |",
              f"| the C module's part, for comparison | {c_module - empty:.2f} |", "",
              "`verifier:access()` runs as LuaJIT-compiled code: it reads the header and "
              "reaches the core through FFI calls, and a repeated token gets a copy of a "
              "claims table kept from its first verification. It stays compiled after the "
              "header-read baseline has run, although that baseline makes LuaJIT blacklist "
              "lua-resty-core's `ngx.var` getter. The code of the block itself runs in "
              "LuaJIT's interpreter, so reading `ngx.var.http_authorization` there costs "
              f"{header - entered:.2f} µs (the header-read baseline), against "
              f"{lua - entered:.2f} µs for the whole of `verifier:access()`. "
              "Even if `verifier:access()` cost only as much as the C module's part, "
              f"entering the block would keep the Lua module at {ceiling:.2f}x the C module."]
    return lines + lua_profile_section(results.get("lua profile"))


def lua_profile_section(profile):
    """Splits the worker's CPU per request by binary, for the empty
    `access_by_lua_block` baseline and for `verifier:access()`."""
    if profile is None or None in profile.values():
        return []
    binaries = [("LuaJIT (interpreter, tables, strings, garbage collection)", "luajit"),
                ("jwtguard Lua module (`jwtguard.so`)", "jwtguard.so"),
                ("lua-nginx-module", "ngx_http_lua_module"), ("nginx", "nginx"),
                ("libc", "libc"), ("kernel", "kernel")]

    def per_request(run, key):
        cpu = run["figures"]["cpu_per_request"] * 1e6
        return cpu * sum(share for name, share in run["shares"].items() if key in name) / 100

    lines = ["", "`perf record` on the worker during the empty `access_by_lua_block` baseline "
             "and the `verifier:access()` run (HS256, cache on), in µs of worker CPU per "
             "request:", "",
             "| binary | empty block | `verifier:access()` |", "| --- | --- | --- |"]
    for label, key in binaries:
        lines.append(f"| {label} | {per_request(profile['empty'], key):.2f} | "
                     f"{per_request(profile['lua'], key):.2f} |")
    return lines


def targets_section(medians, results, lua_available):
    """Checks each performance target against this run's figures."""
    rows = []

    def check(target, measured, met):
        rows.append(f"| {target} | {measured} | {'yes' if met else 'no'} |")

    for alg in ("RS256", "ES256", "EdDSA"):
        ratio = medians[f"decision/{alg}"] / medians[f"primitive/{alg}"]
        check(f"{alg} decision at most 1.10x the raw verify", f"{ratio:.2f}x", ratio <= 1.10)
    hs256 = medians["decision/HS256"] / 1000
    check("HS256 decision under 2 µs", f"{hs256:.2f} µs", hs256 < 2)
    hit = medians["cache_hit/RS256"]
    check("cache hit under 300 ns", f"{hit:.0f} ns", hit < 300)
    plain = results["plain return 200"]["rps"]
    cpu_plain = results["plain empty_gif"]["cpu_per_request"]
    for alg in NGINX_ALGORITHMS:
        ratio = results[f"module {alg} cache on"]["rps"] / plain
        check(f"module {alg}, cache on, at least 0.9x plain", f"{ratio:.2f}x", ratio >= 0.9)
    for alg in ("RS256", "ES256", "EdDSA"):
        floor = 1 / (cpu_plain + medians[f"primitive/{alg}"] / 1e9)
        ratio = results[f"module {alg} cache off"]["rps"] / floor
        check(f"module {alg}, cache off, at least 0.9x the floor", f"{ratio:.2f}x", ratio >= 0.9)
    ratio = results["module HS256 cache off"]["rps"] / plain
    check("module HS256, cache off, at least 0.8x plain", f"{ratio:.2f}x", ratio >= 0.8)
    deny = results["module RS256 bad signature (deny)"]["rps"]
    allow = results["module RS256 cache off"]["rps"]
    check("deny path at least as fast as allow (RS256)", f"{deny / allow:.2f}x", deny >= 0.97 * allow)
    if lua_available:
        for alg in NGINX_ALGORITHMS:
            ratio = results[f"lua {alg}"]["rps"] / results[f"module {alg} cache on"]["rps"]
            check(f"Lua {alg} at least 0.8x the C module", f"{ratio:.2f}x", ratio >= 0.8)
    memory = results["memory"]
    growth = memory["rss_after_kib"] / memory["rss_before_kib"] - 1
    check("worker RSS flat within 5% over 1M distinct tokens", f"{growth * 100:+.1f}%",
          abs(growth) <= 0.05)
    return ["## Targets", "", "| target | measured | met |", "| --- | --- | --- |"] + rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short runs, for a smoke test")
    parser.add_argument("--output", default=str(ROOT / "docs/benchmarks.md"))
    args = parser.parse_args()
    ensure_pyjwt()
    for tool in ("wrk", "taskset", "cargo"):
        if shutil.which(tool) is None:
            sys.exit(f"benchmarks need {tool}; run `make deps`")
    if not MODULE.exists():
        sys.exit(f"{MODULE} is missing; run `make module`")
    medians = core_benchmarks(args.quick)
    results, lua_available = nginx_benchmarks(args.quick)
    info = machine()
    lines = ["# Benchmarks", "",
             f"Written by `benches/run.py` on {datetime.date.today()}. The machine is shared and "
             "noisy: compare figures within one run, not across runs.", ""]
    lines += [f"- {key}: {value}" for key, value in info.items()]
    lines += [""] + targets_section(medians, results, lua_available)
    lines += [""] + core_section(medians) + [""] + nginx_section(results, medians, lua_available)
    pathlib.Path(args.output).write_text("\n".join(lines) + "\n")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
