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


def lua_setup(work):
    init = f"""        local jwtguard = require "jwtguard"
        bench_verifier = assert(jwtguard.load("{work}/policy.json"))"""
    location = """        location = /lua {
            access_by_lua_block { bench_verifier:access() }
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
        for alg in NGINX_ALGORITHMS:
            for cache in ("off", "on"):
                results[f"module {alg} cache {cache}"] = wrk(
                    nginx, f"/module-cache-{cache}", files[alg], seconds)
            if lua_available:
                results[f"lua {alg}"] = wrk(nginx, "/lua", files[alg], seconds)
        results["module RS256 bad signature (deny)"] = wrk(
            nginx, "/module-cache-off", files["forged"], seconds)
        results["profile"] = profile(nginx, "/module-cache-off", files["RS256"], seconds)
        for alg in ("HS256", "ES256"):
            results[f"module {alg} distinct tokens"] = wrk(
                nginx, "/distinct", files[f"distinct-{alg}"], seconds)
        results["memory"] = memory_run(nginx, files["distinct-HS256"], quick)
    finally:
        nginx.stop()
        shutil.rmtree(work, ignore_errors=True)
    return results, lua_available


def profile(nginx, path, tokens, seconds):
    """Samples the worker with perf during a wrk run; returns the share of
    samples per binary (the module, nginx, the kernel, libc), or None."""
    if shutil.which("perf") is None:
        return None
    data = nginx.prefix / "perf.data"
    recorder = subprocess.Popen(
        ["perf", "record", "-e", "cpu-clock", "-F", "2000", "-o", str(data),
         "-p", str(nginx.worker), "--", "sleep", str(seconds - 1)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    figures = wrk(nginx, path, tokens, seconds)
    recorder.wait()
    report = subprocess.run(["perf", "report", "-i", str(data), "--stdio", "--sort", "dso"],
                            capture_output=True, text=True).stdout
    shares = {}
    for line in report.splitlines():
        match = re.match(r"\s+([\d.]+)%\s+(\S+)\s*$", line)
        if match:
            shares[match.group(2)] = float(match.group(1))
    return {"figures": figures, "shares": shares} if shares else None


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
    }


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
        if name in ("memory", "profile"):
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
    lines += profile_section(results.get("profile"), medians)
    if lua_available:
        lines += ["", "### Lua module against the C module (same token)", "",
                  "| algorithm | Lua / C module (cache on) |", "| --- | --- |"]
        for alg in NGINX_ALGORITHMS:
            ratio = results[f"lua {alg}"]["rps"] / results[f"module {alg} cache on"]["rps"]
            lines.append(f"| {alg} | {ratio:.2f}x |")
    memory = results["memory"]
    growth = memory["rss_after_kib"] / memory["rss_before_kib"] - 1
    lines += ["", "### Memory", "",
              f"Worker RSS with the token cache full: {memory['rss_before_kib']} KiB; after "
              f"{memory['requests']} more requests with distinct tokens: "
              f"{memory['rss_after_kib']} KiB ({growth * 100:+.1f}%)."]
    return lines


def profile_section(profile, medians):
    if profile is None:
        return ["", "No profile: `perf` is not installed."]
    cpu = profile["figures"]["cpu_per_request"] * 1e6
    shares = profile["shares"]
    module = sum(share for name, share in shares.items() if "jwtguard" in name)
    kernel = sum(share for name, share in shares.items() if "kernel" in name)
    rest = 100 - module - kernel
    lines = ["", "### Where the time goes (RS256, cache off)", "",
             f"`perf record -e cpu-clock` on the worker during a {profile['figures']['rps']:.0f} "
             f"requests/s run, {cpu:.1f} µs of worker CPU per request:", "",
             "| part | share of samples | µs per request |", "| --- | --- | --- |",
             f"| jwtguard module (core and AWS-LC) | {module:.1f}% | {cpu * module / 100:.1f} |",
             f"| kernel | {kernel:.1f}% | {cpu * kernel / 100:.1f} |",
             f"| nginx, libc and the rest | {rest:.1f}% | {cpu * rest / 100:.1f} |", ""]
    module_us = cpu * module / 100
    decision_us = medians["decision/RS256"] / 1000
    if abs(module_us - decision_us) <= 0.2 * decision_us:
        lines.append(
            f"The module's part is within 20% of the criterion decision above "
            f"({decision_us:.2f} µs). The floor assumes the NGINX and kernel cost per request of "
            "the plain run, but at a fraction of its request rate each request carries more of "
            "it: fewer events per `epoll_wait`, more wake-ups and interrupts. That difference, "
            "not jwtguard, is what keeps the module from the floor.")
    else:
        lines.append(f"The module's part differs from the criterion decision above "
                     f"({decision_us:.2f} µs) by more than 20%.")
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
