# jwtguard build, test and demo targets. Run `make help` for the list.

CARGO ?= cargo
NGINX_SRC ?= /usr/share/nginx/src
PREFIX ?= /usr/local
TARGET_DIR := $(CURDIR)/target
MODULE := $(TARGET_DIR)/nginx/ngx_http_jwtguard_module.so
LUA_MODULE := $(TARGET_DIR)/lua/jwtguard.so

.PHONY: help deps build module lua header test lint demo install clean

help:
	@echo "make deps     install the Debian packages and Rust components needed (root)"
	@echo "make build    build the Rust crates (release), libjwtguard.a and .so"
	@echo "make module   build $(MODULE) against $(NGINX_SRC)"
	@echo "make lua      build $(LUA_MODULE) for OpenResty"
	@echo "make header   regenerate include/jwtguard.h with cbindgen"
	@echo "make test     run every test: lint, header drift, unit, C, NGINX and Lua"
	@echo "make demo     run NGINX on 127.0.0.1:8080 guarding an example API"
	@echo "make install  install library, header and pkg-config file under PREFIX"

deps:
	./scripts/install-deps.sh

build:
	$(CARGO) build --release --workspace

lint:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

test: lint
	$(CARGO) test --workspace
