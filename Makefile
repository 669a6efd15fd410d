# sessiond - build, test and run. `make help` lists the targets.
#
# Builds go to build/ (normal) and build-asan/ (AddressSanitizer + UndefinedBehaviorSanitizer);
# pass B=DIR SAN=1 to choose. CI sets WERROR=1.

VERSION    := 0.1.0
PREFIX     ?= /usr/local
B          ?= build
SAN        ?= 0
WERROR     ?= 0
LIB_PKGS   := libsodium lmdb jansson hiredis
PKGS       := libh2o-evloop inih $(LIB_PKGS)
PORT       ?= 8080

CC         ?= cc
CFLAGS_BASE := -std=c17 -Wall -Wextra -g -D_GNU_SOURCE -DH2O_USE_LIBUV=0 -Iinclude -Isrc \
               -DSESSIOND_VERSION='"$(VERSION)"' -fPIC -MMD -MP
ifeq ($(SAN),1)
CFLAGS_BASE += -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
LDFLAGS_SAN := -fsanitize=address,undefined
else
CFLAGS_BASE += -O2
endif
ifeq ($(WERROR),1)
CFLAGS_BASE += -Werror
endif

# Hardening (docs/security.md, V14; scripts/hardening.sh checks the result): Debian's flags with
# every hardening feature on, from dpkg-buildflags when dpkg-dev is installed, else the same list
# fixed here. Only the hardening flags are taken: its -g, -O2 and path maps would override ours.
# Two flags dpkg 1.21 (Debian 12) does not give yet are always added: -fstack-clash-protection,
# and on x86 -fcf-protection. _FORTIFY_SOURCE needs optimisation and is left out of builds
# with -O0 and of the sanitizer builds (SAN=1, fuzz, tsan): their runtimes check memcpy and
# friends through interceptors that glibc's __*_chk variants would partly bypass.
# Executables are position-independent (-fPIE is implied by the -fPIC every object has, -pie
# links them so) with full RELRO; libsessiond.so and the nginx module get full RELRO.
DPKG_FLAGS = $(shell DEB_BUILD_MAINT_OPTIONS=hardening=+all dpkg-buildflags --get $(1) 2>/dev/null)
HARDEN_DROP := -g -O% -ffile-prefix-map=% -fdebug-prefix-map=% -fstack-clash-protection \
               -fcf-protection%
ifneq ($(shell command -v dpkg-buildflags 2>/dev/null),)
HARDEN_CFLAGS := $(filter-out $(HARDEN_DROP),$(call DPKG_FLAGS,CFLAGS))
HARDEN_CPPFLAGS := $(call DPKG_FLAGS,CPPFLAGS)
HARDEN_LDFLAGS := $(call DPKG_FLAGS,LDFLAGS)
else
HARDEN_CFLAGS := -fstack-protector-strong -Wformat -Werror=format-security
HARDEN_CPPFLAGS := -Wdate-time -D_FORTIFY_SOURCE=2
HARDEN_LDFLAGS := -Wl,-z,relro -Wl,-z,now
endif
HARDEN_CFLAGS += -fstack-clash-protection
ifneq ($(filter x86_64-% i386-% i486-% i586-% i686-%,$(shell $(CC) -dumpmachine)),)
HARDEN_CFLAGS += -fcf-protection
endif
ifneq ($(filter -O0 -fsanitize=%,$(CFLAGS_BASE) $(CFLAGS)),)
HARDEN_CPPFLAGS := $(filter-out -D_FORTIFY_SOURCE%,$(HARDEN_CPPFLAGS))
endif
HARDEN_EXE_LDFLAGS := -pie $(HARDEN_LDFLAGS)

PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lpthread
ALL_CFLAGS = $(CFLAGS_BASE) $(HARDEN_CPPFLAGS) $(HARDEN_CFLAGS) $(PKG_CFLAGS) $(CFLAGS)
EXE_LDFLAGS = $(LDFLAGS_SAN) $(HARDEN_EXE_LDFLAGS)

# $(B)/flags holds the flags the build dir was made with; every object and link depends on it,
# so a change of flags (the hardening list above, SAN, CFLAGS) rebuilds what they went into
# instead of mixing old objects into a new build. Goals that build nothing leave it alone.
FLAGS_NOW = $(ALL_CFLAGS) | $(EXE_LDFLAGS) $(LDFLAGS)
ifneq ($(filter-out help format format-check clean,$(or $(MAKECMDGOALS),all)),)
ifneq ($(file <$(B)/flags),$(FLAGS_NOW))
$(shell mkdir -p $(B))
$(file >$(B)/flags,$(FLAGS_NOW))
endif
endif

LIB_SRC  := $(sort $(wildcard lib/*.c lib/store/*.c))
SRV_SRC  := $(sort $(wildcard src/core/*.c src/http/*.c src/cli/*.c))
MAIN_SRC := src/main.c
TEST_SRC := $(sort $(wildcard tests/unit/test_*.c))
FUZZ_SRC := $(sort $(wildcard fuzz/fuzz_*.c))

LIB_OBJ  := $(LIB_SRC:%.c=$(B)/%.o)
SRV_OBJ  := $(SRV_SRC:%.c=$(B)/%.o)
MAIN_OBJ := $(MAIN_SRC:%.c=$(B)/%.o)
TESTS    := $(TEST_SRC:tests/unit/%.c=$(B)/tests/%)
FUZZERS  := $(FUZZ_SRC:fuzz/%.c=$(B)/fuzz/%)
FUZZ_SECONDS ?= 60

BIN        := $(if $(filter build,$(B)),sessiond,$(B)/sessiond)
LIB_A      := $(B)/libsessiond.a
LIB_SO     := $(B)/libsessiond.so.0
NGINX_MODULE := $(B)/ngx_http_sessiond_module.so

.PHONY: all deps run demo check check-unit check-integration check-asan check-browser screenshots \
        test-bin format format-check install clean help examples fuzz fuzz-bin fuzz-smoke soak tsan deb \
        bench nginx-module

all: $(BIN) $(LIB_A) $(LIB_SO) $(B)/sessiond.pc

help:
	@echo "make             build ./sessiond, libsessiond.a/.so and sessiond.pc"
	@echo "make run         install missing packages (as root), build, serve on 127.0.0.1:$(PORT)"
	@echo "make demo        sessiond + nginx + a small protected app on loopback, with a demo user"
	@echo "make check       every test: unit, integration, browser, and again under ASan+UBSan"
	@echo "make check-asan  only the sanitizer pass"
	@echo "make check-browser  only the browser suite (chromium behind nginx, tests/browser)"
	@echo "make nginx-module  the nginx module (needs nginx-dev) into build/ngx_http_sessiond_module.so"
	@echo "make screenshots    redo docs/screenshots/ (login, devices, preferences; light and dark)"
	@echo "make tsan        build the server with ThreadSanitizer into build-tsan/"
	@echo "make fuzz        build the libFuzzer targets (clang) into build-fuzz/fuzz/"
	@echo "make fuzz-smoke  run each fuzz target for FUZZ_SECONDS (default 60) seconds"
	@echo "make bench       the benchmark suite against nginx, Node and Redis (BENCH_QUICK=1: ~2 min)"
	@echo "make soak        the long batteries: 600 s per fuzz target, 100 kill -9 cycles, ..."
	@echo "make install PREFIX=DIR   binary, library, headers, man page, systemd unit"
	@echo "make deb         the Debian package, into $(B)/ (scripts/deb.sh)"
	@echo "make format      clang-format every C file"

$(B)/%.o: %.c $(B)/flags
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

# libsessiond exports only what its public headers mark SESS_EXPORT (include/sessiond/export.h):
# everything else of lib/ is hidden in libsessiond.so (scripts/abi.sh lists what is exported).
$(LIB_OBJ): ALL_CFLAGS += -fvisibility=hidden

# The common-password list the password page refuses (src/core/pwpolicy.c, docs/security.md):
# Debian's john-data list, made into C string literals at build time and compiled in, so that
# nothing is read or fetched at run time. scripts/deps.sh installs john-data.
PWLIST ?= /usr/share/john/password.lst
$(B)/gen/pwlist.inc: scripts/pwlist.sh $(wildcard $(PWLIST))
	@mkdir -p $(dir $@)
	scripts/pwlist.sh $(PWLIST) $@

$(B)/src/core/pwpolicy.o: $(B)/gen/pwlist.inc
$(B)/src/core/pwpolicy.o: ALL_CFLAGS += -I$(B)/gen

$(LIB_A): $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(LIB_SO): $(LIB_OBJ)
	$(CC) -shared -Wl,-soname,libsessiond.so.0 $(LDFLAGS_SAN) $(HARDEN_LDFLAGS) -o $@ $^ \
	    $(shell pkg-config --libs $(LIB_PKGS) 2>/dev/null) -lpthread
	ln -sf libsessiond.so.0 $(B)/libsessiond.so

$(B)/libsessiond-server.a: $(SRV_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BIN): $(MAIN_OBJ) $(B)/libsessiond-server.a $(LIB_A)
	$(CC) $(EXE_LDFLAGS) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(B)/sessiond.pc: sessiond.pc.in Makefile
	@mkdir -p $(B)
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@VERSION@|$(VERSION)|g' $< > $@

$(B)/tests/%: tests/unit/%.c $(B)/libsessiond-server.a $(LIB_A) tests/unit/harness.h
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Itests/unit $(EXE_LDFLAGS) -o $@ $< $(B)/libsessiond-server.a $(LIB_A) \
	    $(PKG_LIBS) -lcmocka

# What make check runs: the server, the unit tests, the token stream, and the shared library
# (scripts/abi.sh reads its exports).
test-bin: $(BIN) $(TESTS) $(B)/tools/token-stream $(LIB_SO)

# Decoded session tokens on stdout, for the token-quality battery (scripts/token-quality.sh).
$(B)/tools/token-stream: tests/batteries/token_stream.c $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(EXE_LDFLAGS) -o $@ $< $(LIB_A) $(PKG_LIBS)

# libFuzzer targets: the library and server objects are built with clang and
# -fsanitize=fuzzer-no-link plus ASan+UBSan (SAN=1) into build-fuzz/, each target links
# libFuzzer's main. Seeds in fuzz/corpus/TARGET/, dictionaries in fuzz/dict/TARGET.dict.
$(B)/fuzz/%: fuzz/%.c fuzz/fuzz.h $(B)/libsessiond-server.a $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -fsanitize=fuzzer $(EXE_LDFLAGS) -o $@ $< $(B)/libsessiond-server.a \
	    $(LIB_A) $(PKG_LIBS)

fuzz-bin: $(FUZZERS)

# The benchmark suite (docs/benchmarks.md): not part of `make check`. Installs its Debian
# packages and the Node peer's locked packages, then runs bench/run.mjs, which writes
# bench/results/ and docs/benchmarks.md. BENCH_QUICK=1 runs short rounds and 100k sessions.
$(B)/bench/fill: bench/fill.c $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(EXE_LDFLAGS) -o $@ $< $(LIB_A) $(PKG_LIBS)

bench: all $(B)/bench/fill $(NGINX_MODULE)
	scripts/deps.sh bench
	npm ci --prefix bench --no-audit --no-fund --loglevel=error
	BENCH_QUICK=$(BENCH_QUICK) BENCH_FILL=$(B)/bench/fill BENCH_NGINX_MODULE=$(abspath $(NGINX_MODULE)) \
	    node bench/run.mjs

fuzz:
	@$(MAKE) --no-print-directory B=build-fuzz SAN=1 CC=clang CFLAGS=-fsanitize=fuzzer-no-link fuzz-bin

# The server built with ThreadSanitizer (clang) into build-tsan/, for the integration suite.
tsan:
	@$(MAKE) --no-print-directory B=build-tsan CC=clang CFLAGS=-fsanitize=thread \
	    LDFLAGS=-fsanitize=thread build-tsan/sessiond

# The nginx module (nginx/, docs/nginx-module.md) against Debian's nginx-dev, into
# $(B)/ngx_http_sessiond_module.so; with SAN=1 built with ASan+UBSan.
nginx-module: $(NGINX_MODULE)

# It gets the hardening flags above (nginx's own objects keep Debian's).
$(NGINX_MODULE): nginx/ngx_http_sessiond_module.c nginx/config scripts/nginx-module.sh $(LIB_A) \
                 $(B)/flags
	@SAN=$(SAN) HARDEN_CFLAGS="$(HARDEN_CPPFLAGS) $(HARDEN_CFLAGS)" HARDEN_LDFLAGS="$(HARDEN_LDFLAGS)" \
	    scripts/nginx-module.sh $(B)

fuzz-smoke: fuzz
	@scripts/fuzz.sh build-fuzz $(FUZZ_SECONDS)

# The long forms of the batteries (not in CI): see scripts/soak.sh.
soak: deps
	@scripts/soak.sh

deps:
	@scripts/deps.sh

run: deps
	@$(MAKE) --no-print-directory all
	./sessiond serve --listen 127.0.0.1:$(PORT) --data ./sessiond-data

demo: deps
	@$(MAKE) --no-print-directory all
	node examples/demo/demo.mjs

# The whole test suite: unit + integration, then the same under ASan+UBSan, then the example
# program built through pkg-config. Ends with one "N passed, N failed" line.
check: deps
	@scripts/check.sh

check-unit: test-bin
	@scripts/check.sh --unit-only $(B)

check-asan: deps
	@scripts/check.sh --asan-only

check-browser: deps
	@scripts/check.sh --browser-only

screenshots: deps all
	@[ -d node_modules/playwright-core ] || npm ci --no-audit --no-fund
	node tests/browser/screenshots.mjs docs/screenshots

examples: all
	@scripts/build-examples.sh $(B)

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/include/sessiond
	install -m 0755 $(BIN) $(DESTDIR)$(PREFIX)/bin/sessiond
	install -m 0644 $(LIB_A) $(DESTDIR)$(PREFIX)/lib/libsessiond.a
	install -m 0755 $(LIB_SO) $(DESTDIR)$(PREFIX)/lib/libsessiond.so.0
	ln -sf libsessiond.so.0 $(DESTDIR)$(PREFIX)/lib/libsessiond.so
	install -m 0644 include/sessiond/*.h $(DESTDIR)$(PREFIX)/include/sessiond/
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@VERSION@|$(VERSION)|g' sessiond.pc.in \
	    > $(DESTDIR)$(PREFIX)/lib/pkgconfig/sessiond.pc
	install -d $(DESTDIR)$(PREFIX)/share/man/man8 $(DESTDIR)$(PREFIX)/lib/systemd/system \
	    $(DESTDIR)$(PREFIX)/share/doc/sessiond
	install -m 0644 packaging/sessiond.8 $(DESTDIR)$(PREFIX)/share/man/man8/sessiond.8
	sed -e 's|@PREFIX@|$(PREFIX)|g' packaging/sessiond.service.in \
	    > $(DESTDIR)$(PREFIX)/lib/systemd/system/sessiond.service
	install -m 0644 packaging/sessiond.ini packaging/logrotate $(DESTDIR)$(PREFIX)/share/doc/sessiond/

# The Debian package: scripts/deb.sh stages the binary, man page, unit, config and logrotate
# rules and runs dpkg-deb; it prints the .deb's path.
deb: $(BIN)
	@scripts/deb.sh $(BIN) $(VERSION) $(B)

format:
	clang-format -i nginx/*.c $(LIB_SRC) $(SRV_SRC) $(MAIN_SRC) $(TEST_SRC) $(FUZZ_SRC) include/sessiond/*.h \
	    $(wildcard lib/*.h lib/store/*.h src/core/*.h src/http/*.h src/cli/*.h tests/unit/*.h examples/*.c fuzz/*.h tests/batteries/*.c)

format-check:
	clang-format --dry-run -Werror nginx/*.c $(LIB_SRC) $(SRV_SRC) $(MAIN_SRC) $(TEST_SRC) $(FUZZ_SRC) \
	    include/sessiond/*.h $(wildcard lib/*.h lib/store/*.h src/core/*.h src/http/*.h src/cli/*.h tests/unit/*.h examples/*.c fuzz/*.h tests/batteries/*.c)

clean:
	rm -rf build build-asan build-fuzz build-tsan sessiond

-include $(shell find $(B) -name '*.d' 2>/dev/null)
