# kt - the Kokoro-82M toolkit in C.
#
#   make            build libkt.a, libkt.so and the tools into $(BUILD)/
#   make run        install missing Debian packages, build, run the demo on the bundled fixtures
#   make test       install missing Debian packages, build, generate fixtures, run the whole suite
#   make test-kernels  the kernel-sensitive checks under each OpenBLAS kernel, on 1 and 2 CPUs
#   make bench      benchmarks (not part of make test)
#   make install PREFIX=/usr/local   (tools, library, headers, pkg-config file, man pages)
#   make SAN=1      build with AddressSanitizer + UndefinedBehaviorSanitizer (into build-san/)

BUILD ?= build
ifeq ($(SAN),1)
BUILD := build-san
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
endif

CC ?= cc
PREFIX ?= /usr/local
PYTHON ?= /usr/bin/python3
PKGS := zlib libcjson sndfile openblas espeak-ng soxr expat
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CMOCKA_LIBS := $(shell pkg-config --libs cmocka 2>/dev/null)
OPT ?= -O2
CFLAGS_ALL := -std=c11 $(OPT) -g -Wall -Wextra -Werror -fPIC -D_DEFAULT_SOURCE -D_FILE_OFFSET_BITS=64 \
	-Ilibkt/include -Iformats/include $(PKG_CFLAGS) $(SANFLAGS) $(CFLAGS)
LDLIBS_ALL := $(PKG_LIBS) -lm -lpthread $(SANFLAGS) $(LDFLAGS)

# Debian packages needed to build, run and test (make deps installs the missing ones).
DEB_BUILD := gcc make pkg-config zlib1g-dev libcjson-dev libsndfile1-dev libopenblas-dev \
	libespeak-ng-dev espeak-ng-data libsoxr-dev libexpat1-dev help2man
DEB_TEST := libcmocka-dev python3 python3-torch python3-numpy espeak-ng ffmpeg

LIB_SRC := $(sort $(wildcard libkt/*.c formats/*.c))
LIB_OBJ := $(patsubst %.c,$(BUILD)/obj/%.o,$(LIB_SRC))
CMD_SRC := $(sort $(wildcard cmd/*.c))
TOOLS := $(patsubst cmd/%.c,$(BUILD)/%,$(CMD_SRC))
TEST_SRC := $(sort $(wildcard tests/test_*.c))
TESTS := $(patsubst tests/%.c,$(BUILD)/tests/%,$(TEST_SRC))
TEST_UTIL_SRC := $(sort $(wildcard tests/util/*.c))
TEST_UTIL_OBJ := $(patsubst %.c,$(BUILD)/obj/%.o,$(TEST_UTIL_SRC))
HEADERS := $(wildcard libkt/include/kt/*.h formats/include/kt/*.h)
# man pages generated from each tool's --help and --version (help2man; built when it is installed)
MANS := $(patsubst cmd/%.c,$(BUILD)/man/%.1,$(CMD_SRC))
HELP2MAN := $(shell command -v help2man 2>/dev/null)

.PHONY: all run test test-kernels tests-build fuzz deps deps-test fixtures bench install clean man
all: $(BUILD)/libkt.a $(BUILD)/libkt.so $(TOOLS) $(if $(HELP2MAN),$(MANS))
man: $(MANS)

$(BUILD)/obj/%.o: %.c $(HEADERS) $(wildcard libkt/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -c $< -o $@

# config.c embeds the real config.json (tools/gen_config_default.py writes the .inc)
$(BUILD)/obj/libkt/config.o: libkt/config_default.inc
# test_regressions compiles every fuzz target in
$(BUILD)/obj/tests/test_regressions.o: $(wildcard tests/fuzz/*.c tests/fuzz/*.h)

$(BUILD)/libkt.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/libkt.so: $(LIB_OBJ)
	$(CC) -shared -o $@ $^ $(LDLIBS_ALL)

$(BUILD)/%: $(BUILD)/obj/cmd/%.o $(BUILD)/libkt.a
	$(CC) -o $@ $< $(BUILD)/libkt.a $(LDLIBS_ALL)

# NAME from the tool's first source line ("/* kt-synth - what it does */")
$(BUILD)/man/%.1: $(BUILD)/%
	@mkdir -p $(dir $@)
	help2man --no-info --no-discard-stderr --name="$$(sed -n '1{s|^/[*] [^ ]* - ||;s| [*]/$$||;s|[.]$$||;p}' cmd/$*.c)" \
		--output=$@ ./$<

$(BUILD)/tests/%: $(BUILD)/obj/tests/%.o $(TEST_UTIL_OBJ) $(BUILD)/libkt.a
	@mkdir -p $(dir $@)
	$(CC) -o $@ $< $(TEST_UTIL_OBJ) $(BUILD)/libkt.a $(CMOCKA_LIBS) $(LDLIBS_ALL)

# Install what is missing, through apt, as root (the README's fresh-machine path).
deps:
	@sh tools/install-deps.sh $(DEB_BUILD)

deps-test:
	@sh tools/install-deps.sh $(DEB_BUILD) $(DEB_TEST)

run: deps
	@$(MAKE) --no-print-directory all
	@sh tools/demo.sh $(BUILD)

# Generated test data (not committed): format fixtures, then the random-weight Kokoro models.
fixtures: $(TOOLS)
	@mkdir -p $(BUILD)/fixtures
	@if [ -f tests/gen_fixtures.py ]; then $(PYTHON) tests/gen_fixtures.py --out $(BUILD)/fixtures; fi
	@if [ -f tests/reference/make_model.py ]; then $(PYTHON) tests/reference/make_model.py --out $(BUILD)/fixtures; fi

test: deps-test
	@$(MAKE) --no-print-directory all tests-build
	@$(MAKE) --no-print-directory fixtures
	@sh tests/run.sh $(BUILD)
	@echo "== the same suite under AddressSanitizer + UndefinedBehaviorSanitizer"
	@$(MAKE) --no-print-directory SAN=1 all tests-build
	@KT_FIXTURES=$(BUILD)/fixtures sh tests/run.sh build-san

# The kernel-sensitive checks under every OpenBLAS kernel the CPU runs, on 1 and 2 CPUs.
test-kernels: deps-test
	@$(MAKE) --no-print-directory all tests-build
	@$(MAKE) --no-print-directory fixtures
	@sh tests/run_kernels.sh $(BUILD)

tests-build: $(TESTS) $(BUILD)/tests/e2e_synth

bench: deps-test
	@sh tools/install-deps.sh time
	@$(MAKE) --no-print-directory all
	@sh bench/run.sh $(BUILD)

# Fuzz every reader with libFuzzer (clang) for FUZZ_SECONDS each (not part of make test).
FUZZ_SECONDS ?= 60
fuzz: deps-test
	@sh tools/install-deps.sh clang libclang-rt-dev
	@sh tools/fuzz.sh $(FUZZ_SECONDS)

install: all man
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/include/kt \
		$(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 755 $(TOOLS) $(DESTDIR)$(PREFIX)/bin/
	install -m 644 $(MANS) $(DESTDIR)$(PREFIX)/share/man/man1/
	install -m 644 $(BUILD)/libkt.a $(DESTDIR)$(PREFIX)/lib/
	install -m 755 $(BUILD)/libkt.so $(DESTDIR)$(PREFIX)/lib/
	install -m 644 $(HEADERS) $(DESTDIR)$(PREFIX)/include/kt/
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@PKGS@|$(PKGS)|' tools/kt.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/kt.pc

clean:
	rm -rf build build-san
