# kt - the Kokoro-82M toolkit in C.
#
#   make            build libkt.a, libkt.so and the tools into $(BUILD)/
#   make run        install missing Debian packages, build, run the demo on the bundled fixtures
#   make models     download kokoro-v1_0.pth, config.json and the voices into models/, checked
#   make test       install missing Debian packages, build, generate fixtures, run the whole suite
#   make test-kernels  the kernel-sensitive checks under each OpenBLAS kernel, on 1 and 2 CPUs
#   make test-slurm kt-synth --batch as a Slurm job array on a private single-node Slurm (as root)
#   make bench      benchmarks (not part of make test)
#   make install PREFIX=/usr/local   (tools, library, headers, pkg-config file, man pages)
#   make SAN=1      build with AddressSanitizer + UndefinedBehaviorSanitizer (into build-san/)
#   make tsan-test  one model shared by several threads (tests/test_tts.c) under ThreadSanitizer

# ESPEAK=0 builds everything without libespeak-ng (GPL-3.0; see docs/licensing.md), into
# build-noespeak/: phoneme input works for every language, text input is an error naming its words.
ESPEAK ?= 1
ifeq ($(ESPEAK),0)
BUILD ?= build-noespeak
else
BUILD ?= build
endif
ifeq ($(SAN),1)
BUILD := build-san
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
endif
ifeq ($(TSAN),1)
BUILD := build-tsan
OPT := -O1
SANFLAGS := -fsanitize=thread -fno-omit-frame-pointer
endif

CC ?= cc
PREFIX ?= /usr/local
PYTHON ?= /usr/bin/python3
PKGS := zlib libcjson sndfile openblas soxr expat $(if $(filter 0,$(ESPEAK)),,espeak-ng)
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CMOCKA_LIBS := $(shell pkg-config --libs cmocka 2>/dev/null)
OPT ?= -O2
LAYERS := base core model text voice audio tts
# The library's version (kept equal to KT_VERSION_* in libkt/include/kt/export.h); the soname carries MAJOR.
VERSION := $(shell sed -n 's/^\#define KT_VERSION_\(MAJOR\|MINOR\|PATCH\) \([0-9]*\)$$/\2/p' libkt/include/kt/export.h | paste -sd.)
SOMAJOR := $(firstword $(subst ., ,$(VERSION)))
KT_INCLUDES := -Ilibkt/include $(patsubst %,-Ilibkt/%/include,$(LAYERS)) -Iformats/include
CFLAGS_ALL := -std=c11 $(OPT) -g -Wall -Wextra -Werror -fPIC -fvisibility=hidden -D_DEFAULT_SOURCE -D_FILE_OFFSET_BITS=64 \
	-DKT_ESPEAK=$(ESPEAK) \
	$(KT_INCLUDES) $(PKG_CFLAGS) $(SANFLAGS) $(CFLAGS)
MECAB_LIBS := $(shell mecab-config --libs 2>/dev/null)
LDLIBS_ALL := $(PKG_LIBS) $(MECAB_LIBS) -lm -lpthread $(SANFLAGS) $(LDFLAGS)

# Debian packages needed to build, run and test (make deps installs the missing ones).
DEB_BUILD := gcc make pkg-config zlib1g-dev libcjson-dev libsndfile1-dev libopenblas-dev \
	$(if $(filter 0,$(ESPEAK)),,libespeak-ng-dev espeak-ng-data) python3-jieba libmecab-dev unidic-mecab \
	libmicrohttpd-dev libsoxr-dev libexpat1-dev help2man
DEB_TEST := libcmocka-dev python3 python3-torch python3-numpy espeak-ng nodejs chromium ffmpeg

LIB_SRC := $(sort $(wildcard libkt/*.c $(patsubst %,libkt/%/*.c,$(LAYERS)) formats/*.c))
LIB_OBJ := $(patsubst %.c,$(BUILD)/obj/%.o,$(LIB_SRC))
CMD_SRC := $(sort $(wildcard cmd/*.c))
TOOLS := $(patsubst cmd/%.c,$(BUILD)/%,$(CMD_SRC))
BATCH_OBJ := $(patsubst %.c,$(BUILD)/obj/%.o,$(sort $(wildcard cmd/batch/*.c)))
TEST_SRC := $(sort $(wildcard tests/test_*.c))
TESTS := $(patsubst tests/%.c,$(BUILD)/tests/%,$(TEST_SRC))
TEST_UTIL_SRC := $(sort $(wildcard tests/util/*.c))
TEST_UTIL_OBJ := $(patsubst %.c,$(BUILD)/obj/%.o,$(TEST_UTIL_SRC))
# kt-serve: cmd/kt-serve.c plus cmd/serve/*.c, linked with libmicrohttpd (only kt-serve needs it).
SERVE_OBJ := $(patsubst %.c,$(BUILD)/obj/%.o,$(sort $(wildcard cmd/serve/*.c))) $(BUILD)/obj/serve_page.o
MHD_CFLAGS := $(shell pkg-config --cflags libmicrohttpd 2>/dev/null)
MHD_LIBS := $(shell pkg-config --libs libmicrohttpd 2>/dev/null)
# Installed headers: the public API only.
PUBLIC_HEADERS := $(wildcard libkt/include/kt/*.h)
# man pages generated from each tool's --help and --version (help2man; built when it is installed)
MANS := $(patsubst cmd/%.c,$(BUILD)/man/%.1,$(CMD_SRC))
HELP2MAN := $(shell command -v help2man 2>/dev/null)

.PHONY: all run test test-kernels test-slurm tests-build tsan-test fuzz deps deps-test fixtures bench install clean models man
all: $(BUILD)/libkt.a $(BUILD)/libkt.so $(TOOLS) $(if $(HELP2MAN),$(MANS))
man: $(MANS)

$(BUILD)/obj/%.o: %.c Makefile
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -MMD -MP -c $< -o $@

-include $(wildcard $(BUILD)/obj/*/*.d $(BUILD)/obj/*/*/*.d $(BUILD)/obj/*/*/*/*.d)

# the English lexicon (data/*.ktlex): installed under $(PREFIX)/share/kt, else read from this tree
$(BUILD)/obj/libkt/text/en_lexicon.o: CFLAGS_ALL += -DKT_DATADIR='"$(PREFIX)/share/kt"' -DKT_SRCDATADIR='"$(CURDIR)/data"'

# config.c embeds the real config.json (tools/gen_config_default.py writes the .inc)
$(BUILD)/obj/libkt/model/config.o: libkt/model/config_default.inc
# test_regressions compiles every fuzz target in
$(BUILD)/obj/tests/test_regressions.o: $(wildcard tests/fuzz/*.c tests/fuzz/*.h)

$(BUILD)/libkt.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/libkt.so.$(VERSION): $(LIB_OBJ)
	$(CC) -shared -Wl,-soname,libkt.so.$(SOMAJOR) -o $@ $^ $(LDLIBS_ALL)

$(BUILD)/libkt.so: $(BUILD)/libkt.so.$(VERSION)
	ln -sf libkt.so.$(VERSION) $(BUILD)/libkt.so.$(SOMAJOR)
	ln -sf libkt.so.$(VERSION) $@

$(BUILD)/%: $(BUILD)/obj/cmd/%.o $(BUILD)/libkt.a
	$(CC) -o $@ $< $(BUILD)/libkt.a $(LDLIBS_ALL)

$(BUILD)/kt-serve: $(BUILD)/obj/cmd/kt-serve.o $(SERVE_OBJ) $(BUILD)/libkt.a
	$(CC) -o $@ $(BUILD)/obj/cmd/kt-serve.o $(SERVE_OBJ) $(BUILD)/libkt.a $(MHD_LIBS) $(LDLIBS_ALL)

$(SERVE_OBJ): CFLAGS_ALL += $(MHD_CFLAGS)

# The web page at / : cmd/serve/index.html compiled in as a NUL-terminated array.
$(BUILD)/obj/serve_page.o: cmd/serve/index.html
	@mkdir -p $(dir $@)
	{ echo 'extern const char kts_page_html[];'; echo 'const char kts_page_html[] = {'; \
	  od -An -v -tx1 $< | sed 's/\([0-9a-f][0-9a-f]\)/0x\1,/g'; echo '0};'; } > $(BUILD)/obj/serve_page.c
	$(CC) $(CFLAGS_ALL) -c $(BUILD)/obj/serve_page.c -o $@

# kt-synth links its batch mode (cmd/batch/)
$(BUILD)/kt-synth: $(BUILD)/obj/cmd/kt-synth.o $(BATCH_OBJ) $(BUILD)/libkt.a
	$(CC) -o $@ $< $(BATCH_OBJ) $(BUILD)/libkt.a $(LDLIBS_ALL)

# NAME from the tool's first source line ("/* kt-synth - what it does */")
$(BUILD)/man/%.1: $(BUILD)/%
	@mkdir -p $(dir $@)
	help2man --no-info --no-discard-stderr --name="$$(sed -n '1{s|^/[*] [^ ]* - ||;s| [*]/$$||;s|[.]$$||;p}' cmd/$*.c)" \
		--output=$@ ./$<

$(BUILD)/tests/%: $(BUILD)/obj/tests/%.o $(TEST_UTIL_OBJ) $(BUILD)/libkt.a
	@mkdir -p $(dir $@)
	$(CC) -o $@ $< $(TEST_UTIL_OBJ) $(BUILD)/libkt.a $(CMOCKA_LIBS) $(LDLIBS_ALL)

# The convolution kernels' rates at the model's shapes (make bench runs it; bench/conv_rate.c).
$(BUILD)/bench/conv_rate: $(BUILD)/obj/bench/conv_rate.o $(BUILD)/libkt.a
	@mkdir -p $(dir $@)
	$(CC) -o $@ $< $(BUILD)/libkt.a $(LDLIBS_ALL)

# The FMA and dot-product peaks (bench_synth.sh builds and runs its own copy; built here so that
# make tests-build compiles it with the project's warnings).
$(BUILD)/bench/fma_peak: bench/fma_peak.c
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -O2 -Wall -Wextra -Werror -pthread $< -o $@

# Each compute path's error stage by stage against float32 (make bench runs it; bench/stage_snr.c).
$(BUILD)/bench/stage_snr: $(BUILD)/obj/bench/stage_snr.o $(BUILD)/obj/tests/util/snr.o $(BUILD)/libkt.a
	@mkdir -p $(dir $@)
	$(CC) -o $@ $^ $(LDLIBS_ALL)

# Install what is missing, through apt, as root (the README's fresh-machine path).
deps:
	@sh tools/install-deps.sh $(DEB_BUILD)

deps-test:
	@sh tools/install-deps.sh $(DEB_BUILD) $(DEB_TEST)

run: deps
	@$(MAKE) --no-print-directory all
	@sh tools/demo.sh $(BUILD)

# The real Kokoro-82M v1.0 files, downloaded and checked into models/ (tools/fetch-models.sh).
models:
	@sh tools/fetch-models.sh

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
	@$(MAKE) --no-print-directory tsan-test

# Several threads synthesizing on one shared model, under ThreadSanitizer (build-tsan/): the API
# test, then kt-synth --batch with 3 workers (two of its 8 lines are bad: exit 1, 6 outputs).
tsan-test:
	@$(MAKE) --no-print-directory TSAN=1 build-tsan/tests/test_threads build-tsan/tests/test_tts
	TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" build-tsan/tests/test_threads
	TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" build-tsan/tests/test_tts
	@$(MAKE) --no-print-directory TSAN=1 build-tsan/kt-synth
	@rm -rf build-tsan/batch-out
	TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" build-tsan/kt-synth --batch fixtures/batch/jobs.jsonl \
		--out-dir build-tsan/batch-out --jobs 3 -m fixtures/tiny/kokoro-tiny.pth -c fixtures/tiny/config.json \
		--voices fixtures/tiny/voices; test $$? -eq 1 && test $$(ls build-tsan/batch-out | wc -l) -eq 7

# The kernel-sensitive checks under every OpenBLAS kernel the CPU runs, on 1 and 2 CPUs.
test-kernels: deps-test
	@$(MAKE) --no-print-directory all tests-build
	@$(MAKE) --no-print-directory fixtures
	@sh tests/run_kernels.sh $(BUILD)

# kt-synth --batch as a 4-task Slurm job array on a private single-node Slurm (root; installs
# slurm-wlm and munge; about 30 s).
test-slurm: deps-test
	@$(MAKE) --no-print-directory all
	@sh tests/slurm_batch.sh $(BUILD)

tests-build: $(TESTS) $(BUILD)/tests/e2e_synth $(BUILD)/tests/g2p_lines \
	$(BUILD)/bench/conv_rate $(BUILD)/bench/stage_snr $(BUILD)/bench/fma_peak

bench: deps-test
	@sh tools/install-deps.sh time
	@$(MAKE) --no-print-directory all $(BUILD)/bench/conv_rate $(BUILD)/bench/stage_snr
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
	install -m 755 $(BUILD)/libkt.so.$(VERSION) $(DESTDIR)$(PREFIX)/lib/
	ln -sf libkt.so.$(VERSION) $(DESTDIR)$(PREFIX)/lib/libkt.so.$(SOMAJOR)
	ln -sf libkt.so.$(VERSION) $(DESTDIR)$(PREFIX)/lib/libkt.so
	install -m 644 $(PUBLIC_HEADERS) $(DESTDIR)$(PREFIX)/include/kt/
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@PKGS@|$(PKGS)|' -e 's|@VERSION@|$(VERSION)|' tools/kt.pc.in \
		> $(DESTDIR)$(PREFIX)/lib/pkgconfig/kt.pc
	install -d $(DESTDIR)$(PREFIX)/share/kt
	install -m 644 data/en_us.ktlex data/en_gb.ktlex data/NOTICE data/LICENSE-misaki $(DESTDIR)$(PREFIX)/share/kt/

clean:
	rm -rf build build-san build-tsan
