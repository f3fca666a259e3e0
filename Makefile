# spoke: build, test and run. Plain GNU make; flags come from pkg-config where the
# package ships a .pc file, and from LIBS_NOPC below where it does not.

CC       ?= cc
PREFIX   ?= /usr/local
BUILD    ?= build
PYTHON   := /usr/bin/python3

# Debian 12 packages the build, the tests and `make run` need (clang 14 and
# its runtime libraries, a Recommends only, for the libFuzzer drivers;
# node-typescript checks spoke.d.ts). Debian's nodejs is installed only when
# no `node` is on PATH, since a node from elsewhere serves the tests as well.
DEB_PKGS := build-essential pkg-config libev-dev libwslay-dev libzstd-dev libssl-dev \
            libmsgpack-dev libhttp-parser-dev libjansson-dev libinih-dev libcmocka-dev libjwt-dev \
            libcurl4-openssl-dev libhiredis-dev redis-server zlib1g-dev libdeflate-dev \
            python3 python3-pytest python3-pytest-timeout python3-websockets python3-msgpack python3-zstandard python3-jwt python3-cryptography openssl nginx \
            chromium chromium-driver python3-selenium \
            clang libclang-rt-14-dev node-typescript

PC_PKGS   := libzstd msgpack jansson inih openssl libjwt libdeflate
# libev, wslay and http-parser ship no pkg-config file: the one fallback, here.
LIBS_NOPC := -lev -lwslay -lhttp_parser

PC_CFLAGS := $(shell pkg-config --cflags $(PC_PKGS) 2>/dev/null)
PC_LIBS   := $(shell pkg-config --libs $(PC_PKGS) 2>/dev/null)
# hiredis is the hub's only (its redis engine): the edge never links it.
HIREDIS_CFLAGS := $(shell pkg-config --cflags hiredis 2>/dev/null)
HIREDIS_LIBS   := $(shell pkg-config --libs hiredis 2>/dev/null)
# libcurl: spokectl's HTTP client, and common/httpcall.c (backend hooks on
# the loop), which puts it in libspoke.a and so in everything linking that.
CURL_CFLAGS := $(shell pkg-config --cflags libcurl 2>/dev/null)
CURL_LIBS   := $(shell pkg-config --libs libcurl 2>/dev/null)

WARN     := -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter -Wno-missing-field-initializers
CSTD     := -std=gnu11
OPT      ?= -O2 -g
CFLAGS_ALL = $(CSTD) $(OPT) $(WARN) -MMD -MP -pthread -I. $(PC_CFLAGS) $(EXTRA_CFLAGS)
LDLIBS_ALL = $(PC_LIBS) $(CURL_LIBS) $(LIBS_NOPC) -pthread -lm $(EXTRA_LDFLAGS)

COMMON_SRC := $(wildcard common/*.c)
EDGE_SRC   := $(wildcard edge/*.c)
HUB_SRC    := $(filter-out hub/spokectl.c,$(wildcard hub/*.c))
CTL_SRC    := hub/spokectl.c

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))

# ---- files compiled in: every file of edge/www/ into spoke-edge, of hub/www/
# into spoke-hub (common/assets.h), through one generated .S per directory
# whose .incbin pulls the bytes in. The .S is rewritten when a file changes;
# the list stamp changes when a file is added or removed.
EDGE_WWW := $(sort $(wildcard edge/www/*))
HUB_WWW  := $(sort $(wildcard hub/www/*))
EDGE_WWW_OBJ = $(BUILD)/obj/gen/edge_www.o
HUB_WWW_OBJ  = $(BUILD)/obj/gen/hub_www.o

COMMON_OBJ := $(call obj,$(COMMON_SRC))
EDGE_OBJ   := $(call obj,$(EDGE_SRC))
HUB_OBJ    := $(call obj,$(HUB_SRC))
CTL_OBJ    := $(call obj,$(CTL_SRC))

BINS := $(BUILD)/spoke-hub $(BUILD)/spoke-edge $(BUILD)/spokectl

.PHONY: all deps install run run-redis test unit js integration asan clean bench bench-quick format
all: $(BINS)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -c $< -o $@

$(BUILD)/gen/%_www.list: FORCE
	@mkdir -p $(dir $@)
	@echo '$(WWW_$*)' | cmp -s - $@ 2>/dev/null || echo '$(WWW_$*)' > $@
WWW_edge = $(EDGE_WWW)
WWW_hub  = $(HUB_WWW)
$(BUILD)/gen/edge_www.S: $(EDGE_WWW) $(BUILD)/gen/edge_www.list common/assets_gen.sh
	sh common/assets_gen.sh edge_www_files $(EDGE_WWW) > $@.tmp && mv $@.tmp $@
$(BUILD)/gen/hub_www.S: $(HUB_WWW) $(BUILD)/gen/hub_www.list common/assets_gen.sh
	sh common/assets_gen.sh hub_www_files $(HUB_WWW) > $@.tmp && mv $@.tmp $@
$(BUILD)/obj/gen/%.o: $(BUILD)/gen/%.S
	@mkdir -p $(dir $@)
	$(CC) -c $< -o $@
.PHONY: FORCE
FORCE:

$(BUILD)/libspoke.a: $(COMMON_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(HUB_OBJ): CFLAGS_ALL += $(HIREDIS_CFLAGS)
$(BUILD)/spoke-hub: $(HUB_OBJ) $(HUB_WWW_OBJ) $(BUILD)/libspoke.a
	$(CC) $(CFLAGS_ALL) -o $@ $^ $(HIREDIS_LIBS) $(LDLIBS_ALL)
$(BUILD)/spoke-edge: $(EDGE_OBJ) $(EDGE_WWW_OBJ) $(BUILD)/libspoke.a
	$(CC) $(CFLAGS_ALL) -o $@ $^ $(LDLIBS_ALL)
$(CTL_OBJ) $(BUILD)/obj/common/httpcall.o: CFLAGS_ALL += $(CURL_CFLAGS)
$(BUILD)/spokectl: $(CTL_OBJ) $(BUILD)/libspoke.a
	$(CC) $(CFLAGS_ALL) -o $@ $^ $(LDLIBS_ALL)

# ---- test tools: programs the integration tests drive (not installed).
# The load generators too: tests/bench/test_*.py, part of make test, run them.
TOOL_BINS := $(BUILD)/httpcall-probe $(BUILD)/spoke-loadgen $(BUILD)/spoke-linkgen \
             $(BUILD)/spoke-sendfloor
$(BUILD)/httpcall-probe: $(BUILD)/obj/tests/tools/httpcall_probe.o $(BUILD)/libspoke.a
	$(CC) $(CFLAGS_ALL) -o $@ $^ $(LDLIBS_ALL)

# ---- unit tests: tests/unit/<dir>/test_<name>.c, one binary each, linked with cmocka.
UNIT_SRC  := $(wildcard tests/unit/*/test_*.c)
UNIT_BINS := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRC))
$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libspoke.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(shell pkg-config --cflags cmocka) -o $@ $< $(BUILD)/libspoke.a \
		$(LDLIBS_ALL) $(shell pkg-config --libs cmocka)

# Edge unit tests link the edge's objects too (all but main.o).
EDGE_LIB_OBJ := $(filter-out $(BUILD)/obj/edge/main.o,$(EDGE_OBJ)) $(EDGE_WWW_OBJ)
$(BUILD)/tests/edge/%: tests/unit/edge/%.c $(EDGE_LIB_OBJ) $(BUILD)/libspoke.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(shell pkg-config --cflags cmocka) -o $@ $< $(EDGE_LIB_OBJ) \
		$(BUILD)/libspoke.a $(LDLIBS_ALL) $(shell pkg-config --libs cmocka)

HUB_LIB_OBJ := $(filter-out $(BUILD)/obj/hub/main.o,$(HUB_OBJ)) $(HUB_WWW_OBJ)
$(BUILD)/tests/hub/%: tests/unit/hub/%.c $(HUB_LIB_OBJ) $(BUILD)/libspoke.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(HIREDIS_CFLAGS) $(shell pkg-config --cflags cmocka) -o $@ $< \
		$(HUB_LIB_OBJ) $(BUILD)/libspoke.a $(HIREDIS_LIBS) $(LDLIBS_ALL) \
		$(shell pkg-config --libs cmocka)

# ---- packages
deps:
	@missing=""; for p in $(DEB_PKGS); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	command -v node >/dev/null || missing="$$missing nodejs"; \
	if [ -n "$$missing" ]; then \
		echo "make deps: installing$$missing"; \
		SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
		$$SUDO apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing; \
	fi

install: all
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 0755 $(BINS) $(DESTDIR)$(PREFIX)/bin/

# ---- sanitizer build used by the tests (separate tree so `make` stays optimised)
ASAN_DIR   := build/asan
ASAN_FLAGS := OPT="-O1 -g -fno-omit-frame-pointer" \
	EXTRA_CFLAGS="-fsanitize=address,undefined -fno-sanitize-recover=undefined" \
	EXTRA_LDFLAGS="-fsanitize=address,undefined" BUILD=$(ASAN_DIR)

asan: deps
	$(MAKE) --no-print-directory $(ASAN_FLAGS) all asan-unit-bins asan-tool-bins

asan-unit-bins: $(UNIT_BINS)
asan-tool-bins: $(TOOL_BINS)

unit: asan
	@$(PYTHON) tests/run_unit.py $(ASAN_DIR)/tests

# spoke.js's unit tests (Node's built-in runner; no build needed).
js: deps
	node --test tests/js/

integration: asan
	SPOKE_BIN_DIR=$(CURDIR)/$(ASAN_DIR) $(PYTHON) -m pytest -q tests/integration

# Ends with the fuzz smoke: every libFuzzer driver replays its corpus, then
# fuzzes FUZZ_SMOKE_SECONDS (tests/run_all.py, run_fuzz_smoke).
FUZZ_SMOKE_SECONDS ?= 3
test: deps
	@$(MAKE) --no-print-directory -j$$(nproc) asan fuzz-bins
	@SPOKE_FUZZ_DIR=$(CURDIR)/$(FUZZ_DIR) SPOKE_FUZZ_SECONDS=$(FUZZ_SMOKE_SECONDS) \
		$(PYTHON) tests/run_all.py --bin-dir $(CURDIR)/$(ASAN_DIR)

# ---- benchmarks: optimised build (no sanitizers), the load generator, the suite.
LOADGEN_SRC := $(wildcard tests/bench/loadgen/*.c)
LOADGEN_OBJ := $(call obj,$(LOADGEN_SRC))
# zlib: the load generator's --deflate and the per-message cost microbench.
ZLIB_LIBS := $(shell pkg-config --libs zlib 2>/dev/null)
$(BUILD)/spoke-loadgen: $(LOADGEN_OBJ) $(BUILD)/libspoke.a
	$(CC) $(CFLAGS_ALL) -o $@ $^ $(LDLIBS_ALL) $(ZLIB_LIBS)
# The hub's own load generator (tests/bench/linkgen/README.md).
LINKGEN_SRC := $(wildcard tests/bench/linkgen/*.c)
LINKGEN_OBJ := $(call obj,$(LINKGEN_SRC))
$(BUILD)/spoke-linkgen: $(LINKGEN_OBJ) $(BUILD)/obj/tests/bench/loadgen/corpus.o \
		$(BUILD)/obj/tests/bench/loadgen/tool.o $(BUILD)/libspoke.a
	$(CC) $(CFLAGS_ALL) -o $@ $^ $(LDLIBS_ALL)
$(BUILD)/deflate-cost: $(BUILD)/obj/tests/bench/deflate_cost.o $(BUILD)/obj/tests/bench/loadgen/corpus.o $(BUILD)/libspoke.a
	$(CC) $(CFLAGS_ALL) -o $@ $^ $(LDLIBS_ALL) $(ZLIB_LIBS)

# The floor of one write per subscriber from one thread (docs/performance.md,
# "Against NATS (issue 17)"); built on demand for compare-nats, and under the
# sanitizers for its test (tests/bench/test_sendfloor.py).
$(BUILD)/spoke-sendfloor: $(BUILD)/obj/tests/bench/sendfloor.o
	$(CC) $(CFLAGS_ALL) -o $@ $^

bench: deps all $(BUILD)/spoke-loadgen $(BUILD)/spoke-linkgen $(BUILD)/deflate-cost
	$(PYTHON) tests/bench/run_bench.py --bin-dir $(BUILD)

bench-quick: deps all $(BUILD)/spoke-loadgen $(BUILD)/spoke-linkgen $(BUILD)/deflate-cost
	$(PYTHON) tests/bench/run_bench.py --bin-dir $(BUILD) --quick

run: deps all
	@bash deploy/local-cluster.sh $(BUILD)

# Two hubs sharing one redis-server (the redis engine) and two edges.
run-redis: deps all
	@bash deploy/local-cluster.sh --redis $(BUILD)

# Applies .clang-format to every C file git tracks.
format:
	git ls-files '*.c' '*.h' | xargs clang-format -i

clean:
	rm -rf build

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)

# ---- fuzz: begin. libFuzzer drivers, one per decoder (tests/fuzz/fuzz_<name>.c),
# built with clang and every sanitizer into build/fuzz/, then run FUZZ_SECONDS
# each over tests/fuzz/corpus/<name>/ by tests/fuzz/run.sh. Fails if any driver
# crashes; reproducers land in tests/fuzz/crashes/ (not committed).
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 20
FUZZ_DIR     := build/fuzz
FUZZ_FLAGS   := -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
                -fno-omit-frame-pointer -O1 -g
FUZZ_CFLAGS  := $(CSTD) $(WARN) -MMD -MP -pthread -I. $(PC_CFLAGS) $(HIREDIS_CFLAGS) $(CURL_CFLAGS) \
                $(FUZZ_FLAGS)
FUZZ_LDLIBS  := $(shell pkg-config --libs libzstd msgpack jansson libjwt openssl inih hiredis libcurl \
                  libdeflate 2>/dev/null) -lhttp_parser -lwslay -lev -lm -lpthread
FUZZ_NAMES   := $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BINS    := $(addprefix $(FUZZ_DIR)/fuzz_,$(FUZZ_NAMES))
# What the drivers reach: common/, the edge's handshake, token check and
# frame handling, and the hub's link handling (all of hub/ but main.c),
# instrumented alike.
FUZZ_LIB_OBJ := $(patsubst %.c,$(FUZZ_DIR)/obj/%.o,$(COMMON_SRC) edge/handshake.c edge/auth.c \
                  edge/wsconn.c edge/frame.c edge/sendq.c \
                  $(filter-out hub/main.c,$(HUB_SRC)))

.PHONY: fuzz fuzz-bins
fuzz-bins: $(FUZZ_BINS)
fuzz: $(FUZZ_BINS)
	@sh tests/fuzz/run.sh $(FUZZ_DIR) $(FUZZ_SECONDS) $(FUZZ_NAMES)

$(FUZZ_DIR)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -c $< -o $@

# The hub's files, for drivers that reach hub/http_www.c.
FUZZ_LIB_OBJ += $(FUZZ_DIR)/obj/gen/hub_www.o
$(FUZZ_DIR)/obj/gen/hub_www.o: $(BUILD)/gen/hub_www.S
	@mkdir -p $(dir $@)
	$(FUZZ_CC) -c $< -o $@

$(FUZZ_DIR)/libspoke-fuzz.a: $(FUZZ_LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(FUZZ_DIR)/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_DIR)/libspoke-fuzz.a
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $< $(FUZZ_DIR)/libspoke-fuzz.a $(FUZZ_LDLIBS)

-include $(wildcard $(FUZZ_DIR)/*.d $(FUZZ_DIR)/obj/*/*.d)
# ---- fuzz: end
