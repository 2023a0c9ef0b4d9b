# SPDX-License-Identifier: MIT
# rnnmidi: the one build. `make` builds everything into build/, `make test`
# builds a sanitizer configuration and runs every test, `make bench` prints
# figures, `make install` / `make uninstall` honour PREFIX, DESTDIR, LV2DIR.

PREFIX     ?= /usr/local
BINDIR     ?= $(PREFIX)/bin
LV2DIR     ?= $(PREFIX)/lib/lv2
DESTDIR    ?=
PKG_CONFIG ?= pkg-config
CC         ?= cc
BUILD      ?= build

CFLAGS ?= -O2 -g
override CFLAGS += -std=c11 -D_DEFAULT_SOURCE -D_POSIX_C_SOURCE=200809L -Wall -Wextra \
                   -fPIC -fvisibility=hidden -fno-math-errno
TEST_CFLAGS = -O1 -g -std=c11 -D_DEFAULT_SOURCE -D_POSIX_C_SOURCE=200809L -Wall -Wextra \
              -Werror -fno-math-errno -fsanitize=address,undefined -fno-sanitize-recover=all \
              -fno-omit-frame-pointer
TEST_LDFLAGS = -fsanitize=address,undefined

# ---------------------------------------------------------------------------
# Debian packages. `make deps` installs what is missing; `make` and `make test`
# check first (dpkg-query, a fraction of a second) and install only then.
DEB_BUILD = pkg-config zlib1g-dev libopenblas-dev python3
DEB_TEST  = libcmocka-dev midicsv clang libclang-rt-14-dev
DEB_ALL   = $(DEB_BUILD) $(DEB_TEST)

define install_debs
	@missing=""; for p in $(1); do \
	  dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "deps: installing$$missing"; \
	    if [ ! -e $(BUILD)/.apt-updated ]; then apt-get update && mkdir -p $(BUILD) && touch $(BUILD)/.apt-updated; fi; \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y $$missing || exit 1; \
	  elif command -v sudo >/dev/null 2>&1; then \
	    echo "deps: installing$$missing (sudo)"; \
	    if [ ! -e $(BUILD)/.apt-updated ]; then sudo apt-get update && mkdir -p $(BUILD) && touch $(BUILD)/.apt-updated; fi; \
	    sudo DEBIAN_FRONTEND=noninteractive apt-get install -y $$missing || exit 1; \
	  else \
	    echo "deps: missing Debian packages. Run as root:"; \
	    echo "  apt-get update && apt-get install -y$$missing"; \
	    exit 1; \
	  fi; \
	fi
endef

.PHONY: all deps deps-test test bench install uninstall clean fuzz corpus golden format

all: deps
	@$(MAKE) --no-print-directory build-all

deps:
	$(call install_debs,$(DEB_BUILD))

deps-test:
	$(call install_debs,$(DEB_ALL))

BLAS_CFLAGS = $(shell $(PKG_CONFIG) --cflags openblas 2>/dev/null)
BLAS_LIBS   = $(shell $(PKG_CONFIG) --libs openblas 2>/dev/null || echo -lopenblas)

# ---------------------------------------------------------------------------
# core/: libc, libm and zlib only.
CORE_SRC = $(sort $(wildcard core/*.c))
CORE_OBJ = $(CORE_SRC:%.c=$(BUILD)/obj/%.o)
CORE_LIB = $(BUILD)/librnncore.a

# training/: library files, and one program per training/rnnmidi-*.c.
TRAIN_PROG_SRC = $(sort $(wildcard training/rnnmidi-*.c))
TRAIN_SRC  = $(filter-out $(TRAIN_PROG_SRC),$(sort $(wildcard training/*.c)))
TRAIN_OBJ  = $(TRAIN_SRC:%.c=$(BUILD)/obj/%.o)
TRAIN_LIB  = $(BUILD)/librnntrain.a
TRAIN_PROGS = $(TRAIN_PROG_SRC:training/%.c=$(BUILD)/%)

PROGS = $(TRAIN_PROGS)

.PHONY: build-all
build-all: $(CORE_LIB) $(TRAIN_LIB) $(PROGS)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(BLAS_CFLAGS) -MMD -MP -c $< -o $@

$(CORE_LIB): $(CORE_OBJ)
	@mkdir -p $(@D)
	rm -f $@ && ar rcs $@ $^

$(TRAIN_LIB): $(TRAIN_OBJ)
	@mkdir -p $(@D)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/rnnmidi-%: $(BUILD)/obj/training/rnnmidi-%.o $(TRAIN_LIB) $(CORE_LIB)
	$(CC) $(CFLAGS) -o $@ $^ $(BLAS_LIBS) -lz -lm -lpthread

# ---------------------------------------------------------------------------
# Tests: every tests/unit/test_*.c is one cmocka binary, linked against the
# sanitizer build of core/ and training/. Files named test_rt_*.c also trap
# malloc/calloc/realloc/free/pthread_mutex_lock through the linker (--wrap).
TBUILD = $(BUILD)/test
TEST_SRC = $(sort $(wildcard tests/unit/test_*.c))
TEST_BIN = $(TEST_SRC:tests/unit/%.c=$(TBUILD)/%)
TCORE_OBJ  = $(CORE_SRC:%.c=$(TBUILD)/obj/%.o)
TTRAIN_OBJ = $(TRAIN_SRC:%.c=$(TBUILD)/obj/%.o)
TSUPPORT_SRC = $(sort $(wildcard tests/support/*.c))
TSUPPORT_OBJ = $(TSUPPORT_SRC:%.c=$(TBUILD)/obj/%.o)
TTOOL_BIN = $(TRAIN_PROG_SRC:training/%.c=$(TBUILD)/%)
RT_WRAP = -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=free,--wrap=pthread_mutex_lock

$(TBUILD)/obj/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(TEST_CFLAGS) $(BLAS_CFLAGS) -MMD -MP -c $< -o $@

$(TBUILD)/librnncore.a: $(TCORE_OBJ)
	rm -f $@ && ar rcs $@ $^
$(TBUILD)/librnntrain.a: $(TTRAIN_OBJ)
	rm -f $@ && ar rcs $@ $^

TLIBS = $(TBUILD)/librnntrain.a $(TBUILD)/librnncore.a

$(TBUILD)/rnnmidi-%: $(TBUILD)/obj/training/rnnmidi-%.o $(TLIBS)
	$(CC) $(TEST_LDFLAGS) -o $@ $^ $(BLAS_LIBS) -lz -lm -lpthread

$(TBUILD)/test_rt_%: $(TBUILD)/obj/tests/unit/test_rt_%.o $(TSUPPORT_OBJ) $(TLIBS)
	$(CC) $(TEST_LDFLAGS) $(RT_WRAP) -o $@ $^ -lcmocka $(BLAS_LIBS) -lz -lm -lpthread

$(TBUILD)/test_%: $(TBUILD)/obj/tests/unit/test_%.o $(TSUPPORT_OBJ) $(TLIBS)
	$(CC) $(TEST_LDFLAGS) -o $@ $^ -lcmocka $(BLAS_LIBS) -lz -lm -lpthread

.PHONY: test-build
test-build: $(TEST_BIN) $(TTOOL_BIN)

# Tests run from the top folder (they read tests/golden, tests/fixtures) with
# the sanitizer tools on PATH first. The closing line counts the binaries.
test: deps-test
	@$(MAKE) --no-print-directory test-build
	@pass=0; fail=0; failed=""; \
	for t in $(TEST_BIN); do \
	  echo "== $$t"; \
	  if RNNMIDI_TOOLS=$(TBUILD) ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
	     UBSAN_OPTIONS=print_stacktrace=1 $$t; then pass=$$((pass+1)); \
	  else fail=$$((fail+1)); failed="$$failed $$t"; fi; \
	done; \
	echo; [ -z "$$failed" ] || echo "failed:$$failed"; \
	echo "tests: $$pass passed, $$fail failed"; \
	[ $$fail -eq 0 ]

# ---------------------------------------------------------------------------
# Benchmarks: release flags, figures printed as `BENCH name value unit`.
BENCH_SRC = $(sort $(wildcard tests/bench/bench_*.c))
BENCH_BIN = $(BENCH_SRC:tests/bench/%.c=$(BUILD)/bench/%)

$(BUILD)/bench/bench_%: $(BUILD)/obj/tests/bench/bench_%.o $(TRAIN_LIB) $(CORE_LIB)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -o $@ $^ $(BLAS_LIBS) -lz -lm -lpthread

bench: all
	@$(MAKE) --no-print-directory $(BENCH_BIN)
	@for b in $(BENCH_BIN); do echo "== $$b"; $$b || exit 1; done

# ---------------------------------------------------------------------------
# The development corpus: the MIDI files of a few Debian packages, each
# distinct file (by sha256) once, in data/corpus/PACKAGE/. The .deb files are
# downloaded and unpacked rather than installed, because several of the
# files live under /usr/share/doc, which slim images drop.
CORPUS_DEBS = mma simutrans-data openttd-openmsx freedink-data planetblupi-music-midi
CORPUS_DIR  = data/corpus

corpus:
	@set -e; tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	rm -rf $(CORPUS_DIR).new; mkdir -p $$tmp/x $(CORPUS_DIR).new; \
	cd $$tmp && { apt-get download $(CORPUS_DEBS) || { apt-get update && apt-get download $(CORPUS_DEBS); }; }; cd - >/dev/null; \
	for deb in $$tmp/*.deb; do pkg=$$(basename $$deb); pkg=$${pkg%%_*}; dpkg-deb -x $$deb $$tmp/x/$$pkg; done; \
	seen=$$tmp/seen; : > $$seen; \
	find $$tmp/x -type f \( -iname '*.mid' -o -iname '*.midi' \) | LC_ALL=C sort | while read -r f; do \
	  h=$$(sha256sum "$$f" | cut -c1-64); \
	  if grep -q "^$$h$$" $$seen; then continue; fi; echo "$$h" >> $$seen; \
	  rel=$${f#$$tmp/x/}; pkg=$${rel%%/*}; name=$$(basename "$$f"); \
	  mkdir -p $(CORPUS_DIR).new/$$pkg; \
	  if [ -e "$(CORPUS_DIR).new/$$pkg/$$name" ]; then name=$$(echo $$h | cut -c1-8)-$$name; fi; \
	  cp "$$f" "$(CORPUS_DIR).new/$$pkg/$$name"; \
	done; \
	rm -rf $(CORPUS_DIR) && mv $(CORPUS_DIR).new $(CORPUS_DIR); \
	echo "corpus: $$(find $(CORPUS_DIR) -type f | wc -l) distinct MIDI files in $(CORPUS_DIR)"

# libFuzzer target for the MIDI reader (clang): 60 s, starting from the fixtures.
FUZZ_TIME ?= 60
$(BUILD)/fuzz/fuzz_midifile: tests/fuzz/fuzz_midifile.c training/midifile.c training/midifile.h core/encoding.c core/encoding.h
	@mkdir -p $(@D)
	clang -g -O1 -std=c11 -D_DEFAULT_SOURCE -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Werror \
	  -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
	  -o $@ tests/fuzz/fuzz_midifile.c training/midifile.c core/encoding.c -lm

fuzz: deps-test $(BUILD)/fuzz/fuzz_midifile
	@mkdir -p $(BUILD)/fuzz/corpus
	$(BUILD)/fuzz/fuzz_midifile -max_total_time=$(FUZZ_TIME) -max_len=65536 -rss_limit_mb=2048 \
	  $(BUILD)/fuzz/corpus tests/fixtures/midi

# ---------------------------------------------------------------------------
install: all
	install -d $(DESTDIR)$(BINDIR)
	for p in $(PROGS); do install -m 755 $$p $(DESTDIR)$(BINDIR)/; done

uninstall:
	for p in $(notdir $(PROGS)); do rm -f $(DESTDIR)$(BINDIR)/$$p; done

clean:
	rm -rf $(BUILD)

format:
	clang-format -i $(wildcard core/*.[ch] training/*.[ch] plugin/*.[ch] plugin/*/*.[ch] tests/*/*.[ch])

-include $(shell find $(BUILD)/obj $(BUILD)/test/obj -name '*.d' -type f 2>/dev/null)
