# jwtguard build, test and demo targets. Run `make help` for the list.

CARGO ?= cargo
NGINX_SRC ?= /usr/share/nginx/src
PREFIX ?= /usr/local
TARGET_DIR := $(CURDIR)/target
MODULE := $(TARGET_DIR)/nginx/ngx_http_jwtguard_module.so
LUA_MODULE := $(TARGET_DIR)/lua/jwtguard.so

.PHONY: help deps build module lua header test lint bench demo install clean

help:
	@echo "make deps     install the Debian packages and Rust components needed (root)"
	@echo "make build    build the Rust crates (release), libjwtguard.a and .so"
	@echo "make module   build $(MODULE) against $(NGINX_SRC)"
	@echo "make lua      build $(LUA_MODULE) for OpenResty"
	@echo "make header   regenerate include/jwtguard.h with cbindgen"
	@echo "make test     run every test: lint, header drift, unit, C, NGINX and Lua"
	@echo "make bench    run the benchmarks and write docs/benchmarks.md"
	@echo "make demo     run NGINX on 127.0.0.1:8080 guarding an example API"
	@echo "make install  install library, header and pkg-config file under PREFIX"

deps:
	./scripts/install-deps.sh

build:
	$(CARGO) build --release --workspace

# The module is compiled in target/nginx/build, which links to the auto/ and
# src/ of NGINX_SRC and is configured with the flags the installed nginx was
# built with (conf_flags), so its binary signature matches. configure runs
# again only when nginx-module/config, conf_flags or NGINX_SRC change, and
# the module is relinked when libjwtguard.a is newer.
module: NGINX_BUILD := $(TARGET_DIR)/nginx/build
module: build
	@mkdir -p $(NGINX_BUILD)
	@if [ ! -f $(NGINX_BUILD)/objs/Makefile ] \
	    || [ "$$(cat $(NGINX_BUILD)/nginx-src 2>/dev/null)" != "$(NGINX_SRC)" ] \
	    || [ nginx-module/config -nt $(NGINX_BUILD)/objs/Makefile ] \
	    || [ $(NGINX_SRC)/conf_flags -nt $(NGINX_BUILD)/objs/Makefile ]; then \
	    echo "configuring nginx in $(NGINX_BUILD), log in configure.log"; \
	    ln -sfn $(NGINX_SRC)/auto $(NGINX_BUILD)/auto && \
	    ln -sfn $(NGINX_SRC)/src $(NGINX_BUILD)/src && \
	    ln -sf $(NGINX_SRC)/configure $(NGINX_BUILD)/configure && \
	    echo "$(NGINX_SRC)" > $(NGINX_BUILD)/nginx-src && \
	    cd $(NGINX_BUILD) && bash -c '. $(NGINX_SRC)/conf_flags && \
	        ./configure "$${NGX_CONF_FLAGS[@]}" \
	        --with-cc-opt="-g -O2 -fstack-protector-strong -Wformat \
	            -Werror=format-security -fPIC -D_FORTIFY_SOURCE=2" \
	        --with-ld-opt="-Wl,-z,relro -Wl,-z,now -fPIC" \
	        --add-dynamic-module=$(CURDIR)/nginx-module' \
	        > configure.log 2>&1 \
	    || { tail -20 configure.log; rm -f objs/Makefile; exit 1; }; \
	fi
	@if [ $(TARGET_DIR)/release/libjwtguard.a \
	        -nt $(NGINX_BUILD)/objs/ngx_http_jwtguard_module.so ]; then \
	    rm -f $(NGINX_BUILD)/objs/ngx_http_jwtguard_module.so; \
	fi
	$(MAKE) -C $(NGINX_BUILD) -f objs/Makefile modules
	install -m 644 $(NGINX_BUILD)/objs/ngx_http_jwtguard_module.so $(MODULE)

lua:
	$(CARGO) build --release -p jwtguard-lua
	mkdir -p $(dir $(LUA_MODULE))
	cp $(TARGET_DIR)/release/libjwtguard_lua.so $(LUA_MODULE)

header:
	JWTGUARD_UPDATE_HEADER=1 $(CARGO) test -p jwtguard-ffi --test header

lint:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

# The NGINX and Lua tests load the built module files, so build them first.
test: lint module lua
	$(CARGO) test --workspace
	@echo "make test: all tests passed"

install:
	$(CARGO) build --release -p jwtguard-ffi
	install -d $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/include
	install -m 644 $(TARGET_DIR)/release/libjwtguard.a $(DESTDIR)$(PREFIX)/lib/
	install -m 755 $(TARGET_DIR)/release/libjwtguard.so $(DESTDIR)$(PREFIX)/lib/
	install -m 644 include/jwtguard.h $(DESTDIR)$(PREFIX)/include/
	sed -e 's|@PREFIX@|$(PREFIX)|' \
	    -e "s|@VERSION@|$$(sed -n 's/^version = \"\(.*\)\"/\1/p' Cargo.toml)|" \
	    crates/jwtguard-ffi/jwtguard.pc.in \
	    > $(DESTDIR)$(PREFIX)/lib/pkgconfig/jwtguard.pc

# Benchmarks are not tests: they write docs/benchmarks.md and take minutes.
bench: module lua
	python3 benches/run.py

demo: deps module
	./scripts/demo.sh
