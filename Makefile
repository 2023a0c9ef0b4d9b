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
              -Werror -fno-math-errno -fsanitize=address,undefined,float-cast-overflow -fno-sanitize-recover=all \
              -fno-omit-frame-pointer
TEST_LDFLAGS = -fsanitize=address,undefined

# ---------------------------------------------------------------------------
# Debian packages. Plain `make` and `make install` never install anything:
# they check (dpkg-query, a fraction of a second, only where dpkg is the
# package manager) and stop with the list of missing packages and the command
# that installs them. `make deps` (build), `make deps-test` (build and test),
# `make run` and `make test` install what is missing with apt-get, as root or
# through sudo. Each block below adds its packages to these lists.
DEB_BUILD = gcc libc6-dev pkg-config zlib1g-dev libopenblas-dev libsndfile1-dev
DEB_TEST  = libcmocka-dev midicsv clang libclang-rt-14-dev libaubio-dev
DEB_ALL   = $(DEB_BUILD) $(DEB_TEST)

# The packages of $(1) that dpkg does not list as installed, into $$missing.
define missing_debs
	missing=""; if command -v dpkg-query >/dev/null 2>&1; then for p in $(1); do \
	  dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; \
	done; fi
endef

define install_debs
	@$(missing_debs); \
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

define check_debs
	@$(missing_debs); \
	if [ -n "$$missing" ]; then \
	  echo "rnnmidi: missing Debian packages:$$missing" >&2; \
	  echo "  \`make $(2)\` installs them (apt-get, as root or with sudo), or:" >&2; \
	  echo "  apt-get install$$missing" >&2; \
	  exit 1; \
	fi
endef

.PHONY: all deps deps-test check-deps test bench install uninstall clean fuzz corpus golden format

all: check-deps
	@$(MAKE) --no-print-directory build-all

deps:
	$(call install_debs,$(DEB_BUILD))

deps-test:
	$(call install_debs,$(DEB_ALL))

check-deps:
	$(call check_debs,$(DEB_BUILD),deps)

BLAS_CFLAGS = $(shell $(PKG_CONFIG) --cflags openblas 2>/dev/null)
BLAS_LIBS   = $(shell $(PKG_CONFIG) --libs openblas 2>/dev/null || echo -lopenblas)

# ---------------------------------------------------------------------------
# core/: libc and libm only (core/crc32.c is the presets' CRC-32, as zlib's;
# core/midifile.c the Standard MIDI File reader and writer). training/ and
# plugin/ both build on core/ and never on each other (test_layout checks it).
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

$(BUILD)/obj/%.o: %.c | check-deps
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(BLAS_CFLAGS) -MMD -MP -c $< -o $@

# The trainer's pointwise kernels and the attention layer's loops: the
# vectoriser needs these two flags for their branch-free clamps and selects
# (the ISA is picked at run time).
$(BUILD)/obj/training/train_kernels.o: override CFLAGS += -fno-trapping-math -fvect-cost-model=dynamic
$(BUILD)/obj/training/train_attention.o: override CFLAGS += -fno-trapping-math -fvect-cost-model=dynamic
# core/net.c's plain loops vectorised too: the finish of layer 0 adds each
# condition column's weights to the gates (4H floats a column), scalar at
# -O2's default cost model, which made that slice of a conditioned step the
# dearest block of playback (bench_engine). Element-wise sums only: no sum
# is reordered, so the results are the same bit for bit.
$(BUILD)/obj/core/net.o: override CFLAGS += -fvect-cost-model=dynamic

$(CORE_LIB): $(CORE_OBJ)
	@mkdir -p $(@D)
	rm -f $@ && ar rcs $@ $^

$(TRAIN_LIB): $(TRAIN_OBJ)
	@mkdir -p $(@D)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/rnnmidi-%: $(BUILD)/obj/training/rnnmidi-%.o $(TRAIN_LIB) $(CORE_LIB)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(BLAS_LIBS) -lz -lm -lpthread

# ---------------------------------------------------------------------------
# Tests: every tests/unit/test_*.c is one cmocka binary, linked against the
# sanitizer build of core/ and training/. Files named test_rt_*.c also trap
# malloc/calloc/realloc/free/pthread_mutex_lock through the linker (--wrap),
# counted by tests/support/rt/rt_trap.c (linked into those only). Every
# tests/support/*.c is linked into every test; the helpers in folders below it
# need libraries or link flags only some tests have, and are named by the
# rules of those tests.
TBUILD = $(BUILD)/test
TEST_SRC = $(sort $(wildcard tests/unit/test_*.c))
TEST_BIN = $(TEST_SRC:tests/unit/%.c=$(TBUILD)/%)
TCORE_OBJ  = $(CORE_SRC:%.c=$(TBUILD)/obj/%.o)
TTRAIN_OBJ = $(TRAIN_SRC:%.c=$(TBUILD)/obj/%.o)
TSUPPORT_SRC = $(sort $(wildcard tests/support/*.c))
TSUPPORT_OBJ = $(TSUPPORT_SRC:%.c=$(TBUILD)/obj/%.o)
TTOOL_BIN = $(TRAIN_PROG_SRC:training/%.c=$(TBUILD)/%)
RT_WRAP = -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=free,--wrap=pthread_mutex_lock
TRT_OBJ = $(TBUILD)/obj/tests/support/rt/rt_trap.o

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

$(TBUILD)/test_rt_%: $(TBUILD)/obj/tests/unit/test_rt_%.o $(TRT_OBJ) $(TSUPPORT_OBJ) $(TLIBS)
	$(CC) $(TEST_LDFLAGS) $(RT_WRAP) -o $@ $^ -lcmocka $(BLAS_LIBS) -lz -lm -lpthread

$(TBUILD)/test_%: $(TBUILD)/obj/tests/unit/test_%.o $(TSUPPORT_OBJ) $(TLIBS)
	$(CC) $(TEST_LDFLAGS) -o $@ $^ -lcmocka $(BLAS_LIBS) -lz -lm -lpthread

# test_slot runs the model slot's audio side under the trap, and wraps
# rnn_engine_model_free too: its ledger checks every model is freed once.
$(TBUILD)/test_slot: $(TBUILD)/obj/tests/unit/test_slot.o $(TRT_OBJ) $(TSUPPORT_OBJ) $(TLIBS)
	$(CC) $(TEST_LDFLAGS) $(RT_WRAP) -Wl,--wrap=rnn_engine_model_free -o $@ $^ -lcmocka $(BLAS_LIBS) \
	  -lz -lm -lpthread

# test_rt_engine_record logs every network step the engine begins, to hold
# the engine's recording of the player against what its net was fed.
$(TBUILD)/test_rt_engine_record: $(TBUILD)/obj/tests/unit/test_rt_engine_record.o $(TRT_OBJ) \
  $(TSUPPORT_OBJ) $(TLIBS)
	$(CC) $(TEST_LDFLAGS) $(RT_WRAP) -Wl,--wrap=rnn_net_step_begin_cond -o $@ $^ -lcmocka \
	  $(BLAS_LIBS) -lz -lm -lpthread

# test_midifile_mem counts the MIDI reader's heap through the same --wrap.
$(TBUILD)/test_midifile_mem: $(TBUILD)/obj/tests/unit/test_midifile_mem.o $(TSUPPORT_OBJ) $(TLIBS)
	$(CC) $(TEST_LDFLAGS) -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=free -o $@ $^ \
	  -lcmocka $(BLAS_LIBS) -lz -lm -lpthread

.PHONY: test-build
test-build: $(TEST_BIN) $(TTOOL_BIN)

# test_cli_tables runs every tool's --help
$(TBUILD)/test_cli_tables: | $(TTOOL_BIN) $(TBUILD)/rnnmidi-listen $(TBUILD)/rnnmidi-demo

# Tests run from the top folder (they read tests/golden, tests/fixtures) with
# the sanitizer tools on PATH first. Each binary records what it could not run
# (tests/support/skip.h) in $(TBUILD)/skips/NAME; the Ardour and MPI suites
# run when their tools are installed. The summary lists everything that did
# not run and why under "not run:", then the closing line (CI parses it):
# `tests: N passed, N failed[, N skipped]`, where passed and failed count test
# binaries and suites, skipped counts the test cases and suites that did not run.
TEST_SUITES ?= clang lv2lint ardour ardour-session jalv mpi
# The host scripts whose status 77 (not run) the loop reads itself: through
# $(MAKE) it would arrive as 2.
ARDOUR_SESSION_RUN = BUILD=$(BUILD) FIXTURE=$(TBUILD)/ardour_fixture tests/ardour/roundtrip.sh
JALV_RUN           = BUILD=$(BUILD) FIXTURE=$(TBUILD)/ardour_fixture tests/jalv/run.sh

test: deps-test
	@$(MAKE) --no-print-directory test-build
	@$(MAKE) --no-print-directory test-run

.PHONY: test-run
test-run:
	@pass=0; fail=0; failed=""; skips=$(TBUILD)/skips; notrun=$(TBUILD)/not-run; \
	rm -rf $$skips; mkdir -p $$skips; : > $$notrun; \
	for t in $(TEST_BIN); do \
	  n=$$(basename $$t); echo "== $$t"; \
	  if RNNMIDI_TOOLS=$(TBUILD) RNNMIDI_SKIPS=$$skips/$$n ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
	     UBSAN_OPTIONS=print_stacktrace=1 $$t; then pass=$$((pass+1)); \
	  else fail=$$((fail+1)); failed="$$failed $$t"; fi; \
	  [ ! -s $$skips/$$n ] || sed "s|^|$$n: |" $$skips/$$n >> $$notrun; \
	done; \
	for s in $(TEST_SUITES); do case $$s in \
	clang) \
	  if command -v clang >/dev/null 2>&1; then \
	    echo "== test-clang"; \
	    if $(MAKE) --no-print-directory test-clang; then pass=$$((pass+1)); \
	    else fail=$$((fail+1)); failed="$$failed test-clang"; fi; \
	  else echo "test-clang: clang is not installed (make deps-test)" >> $$notrun; fi ;; \
	lv2lint) \
	  if command -v lv2lint >/dev/null 2>&1; then \
	    echo "== test-lv2lint"; \
	    if $(MAKE) --no-print-directory test-lv2lint; then pass=$$((pass+1)); \
	    else fail=$$((fail+1)); failed="$$failed test-lv2lint"; fi; \
	  else echo "test-lv2lint: lv2lint is not installed (not packaged by Debian: build it from its source)" >> $$notrun; fi ;; \
	ardour) \
	  if command -v ardour7-lua >/dev/null 2>&1; then \
	    echo "== test-ardour"; \
	    if $(MAKE) --no-print-directory test-ardour; then pass=$$((pass+1)); \
	    else fail=$$((fail+1)); failed="$$failed test-ardour"; fi; \
	  else echo "test-ardour: ardour7-lua is not installed (apt-get install ardour x42-plugins)" >> $$notrun; fi ;; \
	mpi) \
	  if command -v mpirun >/dev/null 2>&1 && command -v mpicc >/dev/null 2>&1; then \
	    echo "== test-mpi"; \
	    if $(MAKE) --no-print-directory test-mpi; then pass=$$((pass+1)); \
	    else fail=$$((fail+1)); failed="$$failed test-mpi"; fi; \
	  else echo "test-mpi: mpirun and mpicc are not installed (make deps-mpi)" >> $$notrun; fi ;; \
	ardour-session) \
	  if command -v ardour7-lua >/dev/null 2>&1; then \
	    echo "== test-ardour-session"; \
	    $(MAKE) --no-print-directory lv2 $(TBUILD)/ardour_fixture >/dev/null && \
	    $(ARDOUR_SESSION_RUN); rc=$$?; \
	    if [ $$rc -eq 0 ]; then pass=$$((pass+1)); \
	    elif [ $$rc -eq 77 ]; then echo "test-ardour-session: the bundle has no drums model (presets/drums-gru.rnnw)" >> $$notrun; \
	    else fail=$$((fail+1)); failed="$$failed test-ardour-session"; fi; \
	  else echo "test-ardour-session: ardour7-lua is not installed (apt-get install ardour x42-plugins)" >> $$notrun; fi ;; \
	jalv) \
	  echo "== test-jalv"; \
	  $(MAKE) --no-print-directory lv2 $(TBUILD)/ardour_fixture >/dev/null && \
	  $(JALV_RUN); rc=$$?; \
	  if [ $$rc -ne 0 ] && [ $$rc -ne 77 ]; then echo "test-jalv: once more (JACK's dummy clock under load)"; \
	    $(JALV_RUN); rc=$$?; fi; \
	  if [ $$rc -eq 0 ]; then pass=$$((pass+1)); \
	  elif [ $$rc -eq 77 ]; then echo "test-jalv: jackd, jalv or the JACK example clients are not installed, or no drums model (apt-get install jalv jackd2)" >> $$notrun; \
	  else fail=$$((fail+1)); failed="$$failed test-jalv"; fi ;; \
	esac; done; \
	skipped=$$(wc -l < $$notrun); \
	echo; [ -z "$$failed" ] || echo "failed:$$failed"; \
	if [ $$skipped -gt 0 ]; then echo "not run:"; sed 's/^/  /' $$notrun; fi; \
	echo "tests: $$pass passed, $$fail failed$$([ $$skipped -eq 0 ] || echo ", $$skipped skipped")"; \
	[ $$fail -eq 0 ]

# ---------------------------------------------------------------------------
# plugin/listen/: the audio note detector (detector.c over the in-tree onset,
# YIN and FFT: libm only; listen_file.c reads files with libsndfile), shared
# by the LV2 audio input, the demo's microphone and the tool rnnmidi-listen
# (plugin/listen/rnnmidi-listen.c: the detector over a recording; core/ and
# the detector only). Release build/librnnlisten.a and build/rnnmidi-listen,
# sanitizer build/test/librnnlisten.a and build/test/rnnmidi-listen.
# test_detector_hook is built without sanitizers (it replaces malloc and
# friends for the whole process) and against the release library. aubio is a
# test dependency only: test_listen_dsp compares the in-tree onset and YIN
# with aubio's, test_demo_render checks the demo's audio with it.
LISTEN_SRC     = $(filter-out plugin/listen/rnnmidi-listen.c,$(sort $(wildcard plugin/listen/*.c)))
LISTEN_TOOL    = $(BUILD)/rnnmidi-listen
LISTEN_DSP     = detector onset yin fft
LISTEN_LIB     = $(BUILD)/librnnlisten.a
TLISTEN_LIB    = $(TBUILD)/librnnlisten.a
LISTEN_CFLAGS  = $(shell $(PKG_CONFIG) --cflags sndfile 2>/dev/null)
LISTEN_LIBS    = $(shell $(PKG_CONFIG) --libs sndfile 2>/dev/null || echo -lsndfile)
AUBIO_LIBS     = $(shell $(PKG_CONFIG) --libs aubio 2>/dev/null || echo -laubio)
HOOK_CFLAGS    = -O1 -g -std=c11 -D_DEFAULT_SOURCE -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Werror

PROGS         += $(LISTEN_TOOL)

build-all: $(LISTEN_LIB) $(LISTEN_TOOL)
test-build: $(TBUILD)/rnnmidi-listen

$(BUILD)/obj/plugin/listen/%.o: plugin/listen/%.c | check-deps
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LISTEN_CFLAGS) -MMD -MP -c $< -o $@
$(TBUILD)/obj/plugin/listen/%.o: plugin/listen/%.c
	@mkdir -p $(@D)
	$(CC) $(TEST_CFLAGS) $(LISTEN_CFLAGS) -MMD -MP -c $< -o $@

$(LISTEN_LIB): $(LISTEN_SRC:%.c=$(BUILD)/obj/%.o)
	rm -f $@ && ar rcs $@ $^
$(TLISTEN_LIB): $(LISTEN_SRC:%.c=$(TBUILD)/obj/%.o)
	rm -f $@ && ar rcs $@ $^

# The detector's tests and benchmark render and score melodies with
# tests/support/listen/melody_audio.c (libsndfile and the detector).
TMELODY_OBJ = $(TBUILD)/obj/tests/support/listen/melody_audio.o
$(TBUILD)/obj/tests/support/listen/%.o: TEST_CFLAGS += $(LISTEN_CFLAGS)
$(BUILD)/obj/tests/support/listen/%.o: override CFLAGS += $(LISTEN_CFLAGS)
$(TBUILD)/test_detector: $(TBUILD)/obj/tests/unit/test_detector.o $(TMELODY_OBJ) $(TSUPPORT_OBJ) $(TLISTEN_LIB) \
                         $(TLIBS)
	$(CC) $(TEST_LDFLAGS) -o $@ $^ -lcmocka $(LISTEN_LIBS) $(BLAS_LIBS) -lz -lm -lpthread
$(TBUILD)/test_rt_detector: $(TBUILD)/obj/tests/unit/test_rt_detector.o $(TRT_OBJ) $(TMELODY_OBJ) $(TSUPPORT_OBJ) \
                            $(TLISTEN_LIB) $(TLIBS)
	$(CC) $(TEST_LDFLAGS) $(RT_WRAP) -o $@ $^ -lcmocka $(LISTEN_LIBS) $(BLAS_LIBS) -lz -lm -lpthread
$(TBUILD)/obj/tests/unit/test_detector_hook.o: tests/unit/test_detector_hook.c
	@mkdir -p $(@D)
	$(CC) $(HOOK_CFLAGS) $(LISTEN_CFLAGS) -MMD -MP -c $< -o $@
$(TBUILD)/obj/hook/tests/support/listen/melody_audio.o: tests/support/listen/melody_audio.c
	@mkdir -p $(@D)
	$(CC) $(HOOK_CFLAGS) $(LISTEN_CFLAGS) -MMD -MP -c $< -o $@
$(TBUILD)/test_detector_hook: $(TBUILD)/obj/tests/unit/test_detector_hook.o \
                              $(TBUILD)/obj/hook/tests/support/listen/melody_audio.o $(LISTEN_LIB)
	$(CC) -rdynamic -o $@ $^ -lcmocka $(LISTEN_LIBS) -lm -lpthread
$(TBUILD)/test_listen_dsp: $(TBUILD)/obj/tests/unit/test_listen_dsp.o $(TMELODY_OBJ) $(TSUPPORT_OBJ) \
                           $(TLISTEN_LIB) $(TLIBS)
	$(CC) $(TEST_LDFLAGS) -o $@ $^ -lcmocka $(AUBIO_LIBS) $(LISTEN_LIBS) $(BLAS_LIBS) -lz -lm -lpthread
$(BUILD)/bench/bench_detector: $(BUILD)/obj/tests/bench/bench_detector.o \
                               $(BUILD)/obj/tests/support/listen/melody_audio.o $(LISTEN_LIB)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LISTEN_LIBS) -lm -lpthread
$(LISTEN_TOOL): $(BUILD)/obj/plugin/listen/rnnmidi-listen.o $(LISTEN_LIB) $(CORE_LIB)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LISTEN_LIBS) -lm
$(TBUILD)/rnnmidi-listen: $(TBUILD)/obj/plugin/listen/rnnmidi-listen.o $(TLISTEN_LIB) $(TBUILD)/librnncore.a
	$(CC) $(TEST_LDFLAGS) -o $@ $^ $(LISTEN_LIBS) -lm

# ---------------------------------------------------------------------------
# Benchmarks: release flags, figures printed as `BENCH name value unit`.
BENCH_SRC = $(sort $(wildcard tests/bench/bench_*.c))
BENCH_BIN = $(BENCH_SRC:tests/bench/%.c=$(BUILD)/bench/%)

# Each bench plays random-weight presets from the tests' fixture and draws
# its other random values from tests/support/random.
$(BUILD)/bench/bench_%: $(BUILD)/obj/tests/bench/bench_%.o $(BUILD)/obj/tests/support/engine_fixture.o \
                        $(BUILD)/obj/tests/support/random.o $(TRAIN_LIB) $(CORE_LIB)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(BLAS_LIBS) -lz -lm -lpthread

bench: all
	@$(MAKE) --no-print-directory $(BENCH_BIN)
	@for b in $(BENCH_BIN); do echo "== $$b"; $$b || exit 1; done

# ---------------------------------------------------------------------------
# Golden files of tests/unit/test_net.c: PyTorch (Debian's python3-torch)
# writes small presets and the logits of a fixed event sequence; and of
# tests/unit/test_train_golden.c: the loss, gradients and AdamW steps of a
# tiny model per cell type; and of test_attention and test_train_attention:
# the attention layer's contexts, weights and gradients; and of test_encoder
# and test_train_encoder: the bidirectional encoder's outputs and gradients.
# The files are committed; this regenerates them.
golden:
	/usr/bin/python3 tests/golden/make_golden.py
	/usr/bin/python3 tests/golden/make_train_golden.py
	/usr/bin/python3 tests/golden/make_attention_golden.py
	/usr/bin/python3 tests/golden/make_encoder_golden.py

# ---------------------------------------------------------------------------
# The development corpus: the MIDI files of a few Debian packages, each
# distinct file (by sha256) once, in data/corpus/PACKAGE/. The .deb files are
# downloaded and unpacked rather than installed, because several of the
# files live under /usr/share/doc, which slim images drop. Compressed files
# (FILE.mid.gz) are read inflated.
CORPUS_DEBS = mma simutrans-data openttd-openmsx freedink-data planetblupi-music-midi \
              crimson liquidwar-data pangzero pinball-table-hurd-data playmidi yoshimi-data
CORPUS_DIR  = data/corpus
# Reserved for a check from outside the corpus: never in it. The target
# refuses them in CORPUS_DEBS and refuses any corpus file whose bytes equal
# one of their MIDI files (another package may ship a copy).
CORPUS_RESERVED = pianobooster faust-common abcmidi
# MMA's groove library, rendered by the mma of the unpacked package (run by
# Debian's python3, not installed): one file per library file in
# data/corpus/mma-grooves/LIB-FILE.mid, each of its grooves in turn for one
# bar per chord below, at the groove's own meter and MMA's default tempo. A
# library file's grooves are variations of one pattern (Sus, Plus, Intro,
# End share most of their drums), so they stay in one file and thus in one
# split. A fixed random seed makes MMA's humanising repeat; a fixed input
# name keeps equal renders byte-equal. A library file that makes no notes
# (stdlib/none) is left out.
CORPUS_MMA_CHORDS = C Am Dm7 G7 C F G7 C

corpus:
	$(call install_debs,python3)
	@set -e; tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	for p in $(CORPUS_DEBS); do case " $(CORPUS_RESERVED) " in *" $$p "*) \
	  echo "corpus: $$p is reserved (CORPUS_RESERVED) and never goes into the corpus" >&2; exit 1;; esac; done; \
	rm -rf $(CORPUS_DIR).new; mkdir -p $$tmp/x $$tmp/reserved/x $(CORPUS_DIR).new; \
	(cd $$tmp && { apt-get download $(CORPUS_DEBS) || { apt-get update && apt-get download $(CORPUS_DEBS); }; }); \
	(cd $$tmp/reserved && apt-get download $(CORPUS_RESERVED)); \
	for deb in $$tmp/*.deb; do pkg=$$(basename $$deb); pkg=$${pkg%%_*}; dpkg-deb -x $$deb $$tmp/x/$$pkg; done; \
	for deb in $$tmp/reserved/*.deb; do pkg=$$(basename $$deb); pkg=$${pkg%%_*}; dpkg-deb -x $$deb $$tmp/reserved/x/$$pkg; done; \
	find $$tmp/x $$tmp/reserved/x -type f \( -iname '*.mid.gz' -o -iname '*.midi.gz' \) | while read -r f; do \
	  gzip -dc "$$f" > "$${f%.gz}"; done; \
	find $$tmp/reserved/x -type f \( -iname '*.mid' -o -iname '*.midi' -o -iname '*.kar' \) -exec sha256sum {} + \
	  | cut -c1-64 | LC_ALL=C sort -u > $$tmp/reserved.sha; \
	mma=$$tmp/x/mma/usr/share/mma; \
	if [ -d $$mma/lib ]; then \
	echo "corpus: rendering MMA's groove library"; mkdir -p $$tmp/x/mma-grooves; \
	MMA_HOME=$$mma /usr/bin/python3 $$tmp/x/mma/usr/bin/mma -G > $$tmp/mma.log 2>&1 || { cat $$tmp/mma.log >&2; exit 1; }; \
	find $$mma/lib -name '*.mma' | LC_ALL=C sort | while read -r lib; do \
	  rel=$${lib#$$mma/lib/}; rel=$${rel%.mma}; name=$$(echo "$$rel" | tr / -); \
	  grooves=$$(awk 'tolower($$1) == "defgroove" { print $$2 }' "$$lib"); \
	  [ -n "$$grooves" ] || continue; \
	  mkdir -p $$tmp/r/$$name; \
	  { echo "RndSeed 1"; echo "Use $$rel"; for g in $$grooves; do echo "Groove $$g"; \
	    for c in $(CORPUS_MMA_CHORDS); do echo "$$c"; done; done; } > $$tmp/r/$$name/groove.mma; \
	  if (cd $$tmp/r/$$name && MMA_HOME=$$mma /usr/bin/python3 $$tmp/x/mma/usr/bin/mma groove.mma -f groove.mid > log 2>&1); then \
	    cp $$tmp/r/$$name/groove.mid $$tmp/x/mma-grooves/$$name.mid; \
	  elif ! grep -q '^No data created' $$tmp/r/$$name/log; then \
	    echo "corpus: mma failed on $$rel:" >&2; cat $$tmp/r/$$name/log >&2; exit 1; \
	  fi; \
	done; \
	fi; \
	seen=$$tmp/seen; : > $$seen; \
	find $$tmp/x -type f \( -iname '*.mid' -o -iname '*.midi' \) | LC_ALL=C sort | while read -r f; do \
	  h=$$(sha256sum "$$f" | cut -c1-64); \
	  if grep -q "^$$h$$" $$seen; then continue; fi; echo "$$h" >> $$seen; \
	  rel=$${f#$$tmp/x/}; pkg=$${rel%%/*}; name=$$(basename "$$f"); \
	  if grep -q "^$$h$$" $$tmp/reserved.sha; then \
	    echo "corpus: $$rel equals a MIDI file of a reserved package ($(CORPUS_RESERVED))" >&2; exit 1; fi; \
	  mkdir -p $(CORPUS_DIR).new/$$pkg; \
	  if [ -e "$(CORPUS_DIR).new/$$pkg/$$name" ]; then name=$$(echo $$h | cut -c1-8)-$$name; fi; \
	  cp "$$f" "$(CORPUS_DIR).new/$$pkg/$$name"; \
	done; \
	rm -rf $(CORPUS_DIR) && mv $(CORPUS_DIR).new $(CORPUS_DIR); \
	echo "corpus: $$(find $(CORPUS_DIR) -type f | wc -l) distinct MIDI files in $(CORPUS_DIR)"

# The shipped presets (presets/*.rnnw, their LV2 presets, presets/examples/
# and the model card presets/README.md), rebuilt from scratch by
# presets/build.sh: the corpus when absent, four training runs with fixed
# seeds, evaluation, musicality, examples; then the LV2 bundle with them.
# About 75 minutes on 2 cores; not part of `make test` (test_presets checks
# the files).
.PHONY: presets
presets: $(if $(wildcard $(CORPUS_DIR)),,corpus) $(BUILD)/rnnmidi-train $(BUILD)/rnnmidi-eval \
         $(BUILD)/rnnmidi-gen $(BUILD)/rnnmidi-demo $(BUILD)/rnnmidi-musicality \
         $(BUILD)/rnnmidi-quantize
	BUILD=$(BUILD) CORPUS=$(CORPUS_DIR) presets/build.sh
	@$(MAKE) --no-print-directory lv2

# libFuzzer targets (clang, ASan and UBSan), everything under build/fuzz:
# fuzz_midifile (the MIDI reader), fuzz_model (the preset reader from memory,
# then the net, sampler and engine on what it accepts) and fuzz_model_crc (the
# same with the checksum rewritten first, so mutations reach the tensor
# checks). `make fuzz` runs the three for FUZZ_TIME seconds each, one after the
# other; `make fuzz-midifile`, `fuzz-model`, `fuzz-model-crc` run one. Corpora
# grow in build/fuzz/corpus/NAME, crashes land in build/fuzz/crash/NAME-*.
# Preset inputs are capped at 128 KiB (-max_len), which also bounds the
# models the target runs (FUZZ_MAX_WEIGHTS in tests/fuzz/fuzz_model.c).
FUZZ_TIME   ?= 60
FUZZ_DIR     = $(BUILD)/fuzz
FUZZ_CFLAGS  = -g -O1 -std=c11 -D_DEFAULT_SOURCE -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Werror \
               -fsanitize=fuzzer,address,undefined,float-cast-overflow -fno-sanitize-recover=all
FUZZ_RUN     = nice -n 10
FUZZ_OPTS    = -max_total_time=$(FUZZ_TIME) -rss_limit_mb=2048 -timeout=10 -print_final_stats=1
FUZZ_MODEL_SRC = tests/fuzz/fuzz_model.c $(CORE_SRC)

$(FUZZ_DIR)/fuzz_midifile: tests/fuzz/fuzz_midifile.c core/midifile.c core/midifile.h core/encoding.c core/encoding.h \
                             core/listen.c core/listen.h core/file.c core/file.h
	@mkdir -p $(@D)
	clang $(FUZZ_CFLAGS) -o $@ tests/fuzz/fuzz_midifile.c core/midifile.c core/encoding.c core/listen.c \
	  core/file.c -lm

$(FUZZ_DIR)/fuzz_model: $(FUZZ_MODEL_SRC) $(wildcard core/*.h)
	@mkdir -p $(@D)
	clang $(FUZZ_CFLAGS) -o $@ $(FUZZ_MODEL_SRC) -lz -lm

$(FUZZ_DIR)/fuzz_model_crc: $(FUZZ_MODEL_SRC) $(wildcard core/*.h)
	@mkdir -p $(@D)
	clang $(FUZZ_CFLAGS) -DFUZZ_FIX_CRC -o $@ $(FUZZ_MODEL_SRC) -lz -lm

# Seeds: small presets from the writer, the annotated hex fixture, the
# golden presets of tests/golden (binary, all under 128 KiB), and the inputs
# of tests/fuzz/regress/model (each once found a fault; the run replays them
# first).
$(FUZZ_DIR)/make_model_seeds: tests/fuzz/make_model_seeds.c $(CORE_LIB)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -o $@ tests/fuzz/make_model_seeds.c $(CORE_LIB) -lz -lm

$(FUZZ_DIR)/seeds/model/.done: $(FUZZ_DIR)/make_model_seeds tests/fixtures/model_tiny.rnnw.hex \
                               tests/fixtures/model_tiny_reduced.rnnw.hex \
                               $(wildcard tests/golden/*.rnnw tests/fuzz/regress/model/*)
	rm -rf $(@D) && mkdir -p $(@D)
	$(FUZZ_DIR)/make_model_seeds $(@D) tests/fixtures/model_tiny.rnnw.hex \
	  tests/fixtures/model_tiny_reduced.rnnw.hex
	cp tests/golden/*.rnnw tests/fuzz/regress/model/* $(@D)/
	touch $@

.PHONY: fuzz fuzz-midifile fuzz-model fuzz-model-crc
fuzz: deps-test
	@$(MAKE) --no-print-directory fuzz-midifile
	@$(MAKE) --no-print-directory fuzz-model
	@$(MAKE) --no-print-directory fuzz-model-crc

fuzz-midifile: $(FUZZ_DIR)/fuzz_midifile
	@mkdir -p $(FUZZ_DIR)/corpus/midifile $(FUZZ_DIR)/crash
	$(FUZZ_RUN) $< $(FUZZ_OPTS) -max_len=65536 -artifact_prefix=$(FUZZ_DIR)/crash/midifile- \
	  $(FUZZ_DIR)/corpus/midifile tests/fixtures/midi

# $(call fuzz_model_run,BINARY,NAME)
define fuzz_model_run
	@mkdir -p $(FUZZ_DIR)/corpus/$(2) $(FUZZ_DIR)/crash
	$(FUZZ_RUN) $(1) $(FUZZ_OPTS) -max_len=131072 -artifact_prefix=$(FUZZ_DIR)/crash/$(2)- \
	  $(FUZZ_DIR)/corpus/$(2) $(FUZZ_DIR)/seeds/model
endef

fuzz-model: $(FUZZ_DIR)/fuzz_model $(FUZZ_DIR)/seeds/model/.done
	$(call fuzz_model_run,$<,model)

fuzz-model-crc: $(FUZZ_DIR)/fuzz_model_crc $(FUZZ_DIR)/seeds/model/.done
	$(call fuzz_model_run,$<,model-crc)

# ---------------------------------------------------------------------------
# The LV2 bundle build/rnnmidi.lv2: rnnmidi.so (core + plugin/lv2 + the audio
# detector; only lv2_descriptor exported) and TTL files generated from
# plugin/lv2/*.ttl.in by build/ttlgen, whose lv2:port list comes from the C
# port table plugin/lv2/ports.h and core/engine's parameter table (ttlgen links
# core/). presets/melody-lstm.rnnw, when present, is the bundle's default
# model; the other shipped models (LV2_MORE), when present, are copied too,
# each with its preset (ttlgen -M NAME). `make install LV2DIR=~/.lv2` installs
# the bundle.
LV2_BUNDLE  = $(BUILD)/rnnmidi.lv2
LV2_SO      = $(LV2_BUNDLE)/rnnmidi.so
LV2_TTL     = $(LV2_BUNDLE)/manifest.ttl $(LV2_BUNDLE)/rnnmidi.ttl $(LV2_BUNDLE)/presets.ttl
LV2_MODEL   = $(patsubst presets/%,$(LV2_BUNDLE)/%,$(wildcard presets/melody-lstm.rnnw))
LV2_MORE    = $(patsubst presets/%,$(LV2_BUNDLE)/%,$(wildcard presets/melody-gru.rnnw \
              presets/melody-rnn.rnnw presets/drums-gru.rnnw))
LV2_FILES   = $(LV2_SO) $(LV2_TTL) $(LV2_MODEL) $(LV2_MORE)
LV2_OBJ     = $(BUILD)/obj/plugin/lv2/rnnmidi.o $(LISTEN_DSP:%=$(BUILD)/obj/plugin/listen/%.o)
LV2_OBJ    += $(BUILD)/obj/plugin/lv2/display.o $(BUILD)/obj/plugin/lv2/learner.o
LILV_CFLAGS = $(shell $(PKG_CONFIG) --cflags lilv-0 2>/dev/null)
LILV_LIBS   = $(shell $(PKG_CONFIG) --libs lilv-0 2>/dev/null || echo -llilv-0)

DEB_BUILD += lv2-dev
DEB_TEST  += liblilv-dev lilv-utils sordi
# (Ardour is optional: `make test` runs test-ardour only when ardour7-lua is
# installed; `apt-get install ardour x42-plugins` to get it.)

.PHONY: lv2 install-lv2 uninstall-lv2 test-ardour
lv2: $(LV2_FILES)
build-all: lv2
install: install-lv2
uninstall: uninstall-lv2

$(LV2_SO): $(LV2_OBJ) $(CORE_LIB) plugin/lv2/rnnmidi.map
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(LDFLAGS) -shared -Wl,--version-script=plugin/lv2/rnnmidi.map -Wl,--no-undefined \
	  -o $@ $(LV2_OBJ) $(CORE_LIB) -lm -lpthread

$(BUILD)/ttlgen: plugin/lv2/ttlgen.c plugin/lv2/ports.h core/engine.h $(CORE_LIB) | check-deps
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< $(CORE_LIB) -lm

$(LV2_BUNDLE)/%.ttl: plugin/lv2/%.ttl.in $(BUILD)/ttlgen $(LV2_MODEL) $(LV2_MORE)
	@mkdir -p $(@D)
	$(BUILD)/ttlgen $(if $(LV2_MODEL),-m) $(foreach m,$(LV2_MORE),-M $(basename $(notdir $(m)))) $< $@

$(LV2_BUNDLE)/%.rnnw: presets/%.rnnw
	@mkdir -p $(@D)
	install -m 644 $< $@

install-lv2: lv2
	install -d $(DESTDIR)$(LV2DIR)/rnnmidi.lv2
	install -m 755 $(LV2_SO) $(DESTDIR)$(LV2DIR)/rnnmidi.lv2/
	install -m 644 $(LV2_TTL) $(LV2_MODEL) $(LV2_MORE) $(DESTDIR)$(LV2DIR)/rnnmidi.lv2/

uninstall-lv2:
	rm -f $(addprefix $(DESTDIR)$(LV2DIR)/rnnmidi.lv2/,rnnmidi.so manifest.ttl rnnmidi.ttl presets.ttl melody-lstm.rnnw \
	  melody-gru.rnnw melody-rnn.rnnw drums-gru.rnnw)
	-rmdir $(DESTDIR)$(LV2DIR)/rnnmidi.lv2

# Tests of the bundle: test_lv2_* are lilv hosts loading build/rnnmidi.lv2;
# test_rt_lv2 links the plugin's code itself so the malloc/lock trap sees it,
# and counts the detector's onset and pitch analyses through the same --wrap.
# All of them drive the plugin through the test host tests/support/lv2/.
# The lilv hosts also find the bundle through tests/support/lv2/lilv_bundle.c.
TLV2HOST_OBJ = $(TBUILD)/obj/tests/support/lv2/lv2_host.o
TLILV_OBJ    = $(TBUILD)/obj/tests/support/lv2/lilv_bundle.o
TSTYLE_OBJ   = $(TBUILD)/obj/tests/support/lv2/style.o
$(TBUILD)/obj/tests/unit/test_lv2_%.o: TEST_CFLAGS += $(LILV_CFLAGS)
$(TLILV_OBJ): TEST_CFLAGS += $(LILV_CFLAGS)
$(TBUILD)/test_lv2_%: $(TBUILD)/obj/tests/unit/test_lv2_%.o $(TLILV_OBJ) $(TLV2HOST_OBJ) $(TSTYLE_OBJ) $(TSUPPORT_OBJ) $(TLIBS) \
                      | $(LV2_FILES)
	$(CC) $(TEST_LDFLAGS) -o $@ $^ -lcmocka $(LILV_LIBS) $(BLAS_LIBS) -lz -lm -lpthread
$(TBUILD)/test_rt_lv2: $(TBUILD)/obj/tests/unit/test_rt_lv2.o $(TBUILD)/obj/plugin/lv2/rnnmidi.o \
                       $(TBUILD)/obj/plugin/lv2/display.o $(TBUILD)/obj/plugin/lv2/learner.o $(TLV2HOST_OBJ) $(TRT_OBJ) \
                       $(LISTEN_DSP:%=$(TBUILD)/obj/plugin/listen/%.o) $(TSUPPORT_OBJ) $(TLIBS)
	$(CC) $(TEST_LDFLAGS) $(RT_WRAP) -Wl,--wrap=rnn_onset_process,--wrap=rnn_yin_process \
	  -o $@ $^ -lcmocka $(BLAS_LIBS) -lz -lm -lpthread
# test_rt_lv2_cond and test_rt_lv2_attn link the plugin too, and find its
# engine by wrapping rnn_engine_create (tests/support/rt/rt_plugin.c).
$(TBUILD)/test_rt_lv2_cond $(TBUILD)/test_rt_lv2_attn $(TBUILD)/test_rt_lv2_learn: $(TBUILD)/test_rt_lv2_%: \
                            $(TBUILD)/obj/tests/unit/test_rt_lv2_%.o $(TBUILD)/obj/plugin/lv2/rnnmidi.o \
                            $(TBUILD)/obj/plugin/lv2/display.o $(TBUILD)/obj/plugin/lv2/learner.o $(TLV2HOST_OBJ) $(TRT_OBJ) \
                            $(TBUILD)/obj/tests/support/rt/rt_plugin.o $(TSTYLE_OBJ) \
                            $(LISTEN_DSP:%=$(TBUILD)/obj/plugin/listen/%.o) $(TSUPPORT_OBJ) $(TLIBS)
	$(CC) $(TEST_LDFLAGS) $(RT_WRAP) -Wl,--wrap=rnn_engine_create -o $@ $^ -lcmocka $(BLAS_LIBS) \
	  -lz -lm -lpthread
# test_display: the inline display's snapshot and drawing, linked directly.
$(TBUILD)/test_display: $(TBUILD)/obj/tests/unit/test_display.o $(TBUILD)/obj/plugin/lv2/display.o \
                        $(TSUPPORT_OBJ) $(TLIBS)
	$(CC) $(TEST_LDFLAGS) -o $@ $^ -lcmocka $(BLAS_LIBS) -lz -lm -lpthread

# Ardour 7 headless (ardour7-lua, the Dummy backend): the plugin on a MIDI
# track before a synth, its output recorded into a region and checked against
# Ardour's grid. `make test` runs it when ardour7-lua is installed.
test-ardour: lv2 $(TBUILD)/ardour_fixture
	BUILD=$(BUILD) FIXTURE=$(TBUILD)/ardour_fixture tests/ardour/run.sh

# Sessions carry their models, in Ardour 7 headless: a session saved with a
# drums model from a user preset is moved, the original model deleted, and
# the reopened session must record drums (tests/ardour/roundtrip.sh). Exit
# status 77 when the bundle has no drums model. `make test` runs it when
# ardour7-lua is installed.
.PHONY: test-ardour-session
test-ardour-session: lv2 $(TBUILD)/ardour_fixture
	$(ARDOUR_SESSION_RUN)

# jalv 1.6.6 headless on a private JACK server with the dummy driver: the
# plugin's MIDI into jack_midi_dump, a preset loaded through jalv's console
# (tests/jalv/run.sh). Exit status 77 when jackd, jalv or the JACK example
# clients are missing; `make test` then lists it as not run.
.PHONY: test-jalv
test-jalv: lv2 $(TBUILD)/ardour_fixture
	$(JALV_RUN)

$(TBUILD)/ardour_fixture: tests/ardour/fixture.c tests/support/engine_fixture.c tests/support/engine_fixture.h \
                          $(CORE_LIB)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -o $@ tests/ardour/fixture.c tests/support/engine_fixture.c $(CORE_LIB) -lz -lm

# The soak test (`make soak`, not part of `make test`): tests/soak/soak_lv2.c
# drives the plugin's release objects (those of build/rnnmidi.lv2/rnnmidi.so)
# through SOAK_HOURS hours of audio time (default 10, a few minutes of wall
# time) from the seed SOAK_SEED (default: a new one, printed), and prints
# `SOAK name value` lines. The executable defines malloc and friends itself,
# so it counts the calls of libaubio and glibc under run() too: it is built
# without sanitizers, -rdynamic, and wraps rnn_engine_create to read the
# engine's counters.
SOAK_HOURS  ?= 10
SOAK_SEED   ?=
SOAK_CFLAGS  = -O2 -g -std=c11 -D_DEFAULT_SOURCE -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Werror

.PHONY: soak
SOAK_SRC     = tests/soak/soak_lv2.c tests/support/lv2/lv2_host.c
$(BUILD)/soak/soak_lv2: $(SOAK_SRC) tests/support/lv2/lv2_host.h plugin/lv2/ports.h core/engine.h \
                        $(LV2_OBJ) $(CORE_LIB)
	@mkdir -p $(@D)
	$(CC) $(SOAK_CFLAGS) $(LISTEN_CFLAGS) -rdynamic -Wl,--wrap=rnn_engine_create -o $@ \
	  $(SOAK_SRC) $(LV2_OBJ) $(CORE_LIB) $(AUBIO_LIBS) -lz -lm -lpthread -ldl

soak: lv2 $(BUILD)/soak/soak_lv2
	SOAK_HOURS=$(SOAK_HOURS) SOAK_SEED=$(SOAK_SEED) nice -n 10 $(BUILD)/soak/soak_lv2 \
	  $(LV2_BUNDLE)/ presets $(BUILD)/soak

# ---------------------------------------------------------------------------
# lv2lint (OpenMusicKontrollers, not packaged by Debian) on the bundle, in
# -Mpack and -Mnopack: any FAIL or WARN fails it. Without lv2lint on PATH it prints
# `SKIP lv2lint: not installed` and exits with status 77.
.PHONY: test-lv2lint
test-lv2lint: lv2
	BUNDLE=$(LV2_BUNDLE) tests/lv2lint.sh

# ---------------------------------------------------------------------------
# The standalone demo build/rnnmidi-demo (plugin/demo/): core/ through the
# engine (and core/midifile: the MIDI reader for primers and the format-1
# writer for --midi-out), the audio-note detector (build/librnnlisten.a),
# PortAudio, libsndfile and PortMidi; nothing from training/. `make run` builds
# everything, installs the LV2 bundle into ~/.lv2 and runs the demo with the
# default presets: 30 s on the default audio device, or, without one, a WAV,
# a MIDI file and a piano roll in build/demo/. RUN_ARGS adds demo options.
DEB_BUILD += portaudio19-dev libportmidi-dev
DEMO        = $(BUILD)/rnnmidi-demo
DEMO_SRC    = $(filter-out plugin/demo/rnnmidi-demo.c,$(sort $(wildcard plugin/demo/*.c)))
DEMO_LIBS   = $(shell $(PKG_CONFIG) --libs portaudio-2.0 2>/dev/null || echo -lportaudio -lasound) \
              -lportmidi $(LISTEN_LIBS) -lz -lm -lpthread
RUN_ARGS   ?=
PROGS      += $(DEMO)

.PHONY: demo run
demo: $(DEMO)
build-all: $(DEMO)

$(DEMO): $(BUILD)/obj/plugin/demo/rnnmidi-demo.o $(DEMO_SRC:%.c=$(BUILD)/obj/%.o) \
         $(LISTEN_LIB) $(CORE_LIB)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(DEMO_LIBS)

# The sanitizer build that the demo's tests run, and the tests: test_demo_*
# link the demo's objects; test_rt_demo adds the malloc/lock trap.
# All of them, and bench_demo, use tests/support/demo/demo_fixture.c.
TDEMO_OBJ = $(DEMO_SRC:%.c=$(TBUILD)/obj/%.o)
TDEMO_FIXTURE_OBJ = $(TBUILD)/obj/tests/support/demo/demo_fixture.o
$(TBUILD)/obj/tests/support/demo/%.o: TEST_CFLAGS += $(LISTEN_CFLAGS)
$(BUILD)/obj/tests/support/demo/%.o: override CFLAGS += $(LISTEN_CFLAGS)
$(TBUILD)/rnnmidi-demo: $(TBUILD)/obj/plugin/demo/rnnmidi-demo.o $(TDEMO_OBJ) $(TLISTEN_LIB) $(TBUILD)/librnncore.a
	$(CC) $(TEST_LDFLAGS) -o $@ $^ $(DEMO_LIBS)
$(TBUILD)/test_demo_%: $(TBUILD)/obj/tests/unit/test_demo_%.o $(TDEMO_FIXTURE_OBJ) $(TDEMO_OBJ) $(TSUPPORT_OBJ) \
                       $(TLISTEN_LIB) $(TLIBS) | $(TBUILD)/rnnmidi-demo
	$(CC) $(TEST_LDFLAGS) -o $@ $(filter %.o %.a,$^) -lcmocka $(DEMO_LIBS) $(AUBIO_LIBS) $(BLAS_LIBS)
$(TBUILD)/test_rt_demo: $(TBUILD)/obj/tests/unit/test_rt_demo.o $(TRT_OBJ) $(TDEMO_FIXTURE_OBJ) $(TDEMO_OBJ) \
                        $(TSUPPORT_OBJ) $(TLISTEN_LIB) $(TLIBS)
	$(CC) $(TEST_LDFLAGS) $(RT_WRAP) -o $@ $^ -lcmocka $(DEMO_LIBS) $(BLAS_LIBS)

$(BUILD)/bench/bench_demo: $(BUILD)/obj/tests/bench/bench_demo.o $(BUILD)/obj/tests/support/demo/demo_fixture.o \
                          $(DEMO_SRC:%.c=$(BUILD)/obj/%.o) $(LISTEN_LIB) $(CORE_LIB)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(DEMO_LIBS)

run: deps
	@$(MAKE) --no-print-directory build-all
	@$(MAKE) --no-print-directory install-lv2 LV2DIR=$(HOME)/.lv2
	@echo
	@status=0; $(abspath $(DEMO)) --out-dir $(BUILD)/demo $(RUN_ARGS) || status=$$?; \
	echo; \
	echo "The LV2 plugin is installed in $(HOME)/.lv2/rnnmidi.lv2. To find it in Ardour:"; \
	echo "  1. Start (or restart) Ardour: it reads ~/.lv2 when it starts."; \
	echo "  2. Track > Add Track, Bus or VCA...: add a MIDI Track with an instrument."; \
	echo "  3. In the track's mixer strip, right-click the plugin box above the fader,"; \
	echo "     New Plugin > Plugin Selector..., search 'rnnmidi', Add, Insert Plugin(s)."; \
	echo "  4. Drag it above the instrument, press play, and play into the track."; \
	exit $$status

# ---------------------------------------------------------------------------
# Data-parallel training on MPI (training/CLUSTER.md). `make mpi` (or
# `make MPI=1`, with everything else) installs Open MPI and builds
# build/mpi/rnnmidi-train: the whole library again with mpicc and
# -DRNNMIDI_MPI under build/mpi/ (the default build stays MPI-free).
# `make test-mpi` compares the losses of 1, 2 and 3 ranks, resumes across a
# change of rank count and kills a rank (about 20 s; `make test` runs it when
# mpirun and mpicc are installed); `make bench-mpi` prints throughput and a
# paper estimate of scaling.
DEB_MPI    = libopenmpi-dev openmpi-bin python3-mido  # python3-mido: test-mpi makes its MIDI files
MPI_BUILD  = $(BUILD)/mpi
MPI_CFLAGS ?= -O2 -g

.PHONY: mpi deps-mpi test-mpi bench-mpi
# `make MPI=1` builds it with everything else
ifeq ($(MPI),1)
all: mpi
endif

deps-mpi:
	$(call install_debs,$(DEB_MPI))

mpi: deps-mpi
	@$(MAKE) --no-print-directory BUILD=$(MPI_BUILD) CC=mpicc CFLAGS="$(MPI_CFLAGS) -DRNNMIDI_MPI" \
	  $(MPI_BUILD)/rnnmidi-train

test-mpi: mpi $(BUILD)/rnnmidi-train
	BUILD=$(BUILD) tests/mpi/run.sh

bench-mpi: mpi
	BUILD=$(BUILD) tests/bench/bench_mpi.sh

# ---------------------------------------------------------------------------
# `make test-clang`: the unit tests that link only core/, built with clang's
# UBSan (pointer-overflow included, no recovery) in build/test-clang/ and run;
# any report fails the test that made it. Without clang it says so and passes.
# test_net_v3 is left out: clang builds only the baseline kernels of
# core/net.c (its x86-64-v3/v4 builds need GCC >= 12), which test_net_generic
# already runs.
CLANG        ?= clang
CBUILD        = $(BUILD)/test-clang
CLANG_TESTS   = test_encoding test_engine test_listen test_model test_net test_net_generic test_qmat test_condition test_attention test_lookback test_encoder \
                test_qmat_generic test_presets test_sample
CLANG_CFLAGS  = -O1 -g -std=c11 -D_DEFAULT_SOURCE -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Werror \
                -fno-math-errno -fsanitize=undefined,pointer-overflow -fno-sanitize-recover=all \
                -fno-omit-frame-pointer

.PHONY: test-clang
$(CBUILD)/obj/%.o: %.c
	@mkdir -p $(@D)
	$(CLANG) $(CLANG_CFLAGS) -MMD -MP -c $< -o $@
$(CBUILD)/librnncore.a: $(CORE_SRC:%.c=$(CBUILD)/obj/%.o)
	rm -f $@ && ar rcs $@ $^
$(CBUILD)/test_%: $(CBUILD)/obj/tests/unit/test_%.o $(TSUPPORT_SRC:%.c=$(CBUILD)/obj/%.o) $(CBUILD)/librnncore.a
	$(CLANG) -fsanitize=undefined,pointer-overflow -o $@ $^ -lcmocka -lz -lm

test-clang:
	@if ! command -v $(CLANG) >/dev/null 2>&1; then \
	  echo "test-clang: $(CLANG) is not installed, nothing run"; exit 0; fi; \
	$(MAKE) --no-print-directory $(CLANG_TESTS:%=$(CBUILD)/%) || { echo "test-clang: build failed"; exit 1; }; \
	pass=0; fail=0; failed=""; \
	for t in $(CLANG_TESTS); do \
	  echo "== $(CBUILD)/$$t"; \
	  if UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 $(CBUILD)/$$t; then pass=$$((pass+1)); \
	  else fail=$$((fail+1)); failed="$$failed $$t"; fi; \
	done; \
	[ -z "$$failed" ] || echo "test-clang failed:$$failed"; \
	echo "test-clang: $$pass passed, $$fail failed"; \
	[ $$fail -eq 0 ]

-include $(shell find $(CBUILD)/obj -name '*.d' -type f 2>/dev/null)

# ---------------------------------------------------------------------------
install: all
	install -d $(DESTDIR)$(BINDIR)
	for p in $(PROGS); do install -m 755 $$p $(DESTDIR)$(BINDIR)/; done

uninstall:
	for p in $(notdir $(PROGS)); do rm -f $(DESTDIR)$(BINDIR)/$$p; done

clean:
	rm -rf $(BUILD)

format:
	clang-format -i $(wildcard core/*.[ch] training/*.[ch] plugin/*.[ch] plugin/*/*.[ch] tests/*/*.[ch] \
	  tests/support/*/*.[ch])

-include $(shell find $(BUILD)/obj $(BUILD)/test/obj -name '*.d' -type f 2>/dev/null)
