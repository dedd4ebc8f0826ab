# apagon: one non-recursive GNU Makefile (docs in README.md).
#
#   make            build everything into $(BUILD)/
#   make test       install missing packages, build, run the whole suite
#   make check      the same suite under AddressSanitizer + UBSan
#   make bench      benchmarks, each against a raw baseline measured in the same run
#   make fuzz       build the libFuzzer harnesses with clang and run each briefly
#   make demo       install, build, run a blackout drill (tools/demo.sh, apagon-drill)
#   make deps       install missing Debian packages (apt-get; sudo when not root)

PREFIX  ?= /usr/local
DESTDIR ?=
BUILD   ?= build
CC      ?= cc
PKGS    := libsodium sqlite3 libmosquitto libcjson

WARN    := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes
CFLAGS  ?= -O2 -g
CFLAGS  += -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE $(WARN) -MMD -MP
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
ifdef SAN
CFLAGS  += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=address,undefined
endif

ifeq ($(V),1)
Q :=
else
Q := @
endif

CRYPTO_SRC := $(wildcard crypto/*.c)
MESH_SRC   := $(wildcard mesh/*.c)
NODE_SRC   := $(wildcard node/*.c)
CLI_SRC    := tools/apagon.c $(wildcard tools/apagon_*.c)
DAEMON_SRC := $(wildcard tools/apagond.c)
UNIT_SRC   := $(wildcard tests/unit/test_*.c)
FUZZ_SRC   := $(wildcard tests/fuzz/fuzz_*.c)
BENCH_SRC  := $(wildcard tests/bench/bench_*.c)

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))

LIBCRYPTO := $(BUILD)/libapagon-crypto.a
LIBMESH   := $(BUILD)/libapagon-mesh.a
LIBNODE   := $(BUILD)/libapagon-node.a
CORE_LIBS := $(LIBNODE) $(LIBMESH) $(LIBCRYPTO)
APAGON    := $(BUILD)/apagon
APAGOND   := $(if $(DAEMON_SRC),$(BUILD)/apagond)
UNIT_BINS := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRC))
REPLAY_BINS := $(patsubst tests/fuzz/%.c,$(BUILD)/fuzz/replay_%,$(FUZZ_SRC))
FUZZ_BINS := $(patsubst tests/fuzz/%.c,$(BUILD)/fuzz/libfuzzer_%,$(FUZZ_SRC))
BENCH_BINS := $(patsubst tests/bench/%.c,$(BUILD)/bench/%,$(BENCH_SRC))
TEST_OBJ  := $(call obj,tests/test.c)

.SECONDARY:
.PHONY: all test test-run check bench fuzz demo deps depcheck install clean
.DEFAULT_GOAL := all

all: $(APAGON) $(APAGOND)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CFLAGS) $(PKG_CFLAGS) -c -o $@ $<

$(LIBCRYPTO): $(call obj,$(CRYPTO_SRC))
$(LIBMESH): $(call obj,$(MESH_SRC))
$(LIBNODE): $(call obj,$(NODE_SRC))
$(BUILD)/%.a:
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  AR      $@")
	$(Q)rm -f $@ && $(AR) rcs $@ $^

$(APAGON): $(call obj,$(CLI_SRC)) $(CORE_LIBS)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(BUILD)/apagond: $(call obj,$(DAEMON_SRC)) $(CORE_LIBS)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(BUILD)/tests/%: $(call obj,tests/unit/%.c) $(TEST_OBJ) $(CORE_LIBS)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(BUILD)/bench/%: $(call obj,tests/bench/%.c) $(CORE_LIBS)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

# Corpus replay: every harness, built with gcc + ASan/UBSan and a plain main() that
# feeds it each file of its corpus, so every crash ever found stays a regression test.
FUZZ_CFLAGS := -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -g -O1 \
	-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
CORE_SRC := $(CRYPTO_SRC) $(MESH_SRC) $(NODE_SRC)
$(BUILD)/fuzz/replay_%: tests/fuzz/%.c tests/fuzz/replay.c $(wildcard tests/fuzz/*.h) tests/test_rng.h $(CORE_SRC)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  REPLAY  $@")
	$(Q)$(CC) $(FUZZ_CFLAGS) $(PKG_CFLAGS) -o $@ $< tests/fuzz/replay.c $(sort $(CORE_SRC) $(FUZZ_EXTRA)) $(PKG_LIBS)

$(BUILD)/fuzz/libfuzzer_%: tests/fuzz/%.c $(wildcard tests/fuzz/*.h) tests/test_rng.h $(CORE_SRC)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  FUZZ    $@")
	$(Q)clang $(filter-out -fsanitize=address%,$(FUZZ_CFLAGS)) -fsanitize=fuzzer,address,undefined \
		$(PKG_CFLAGS) -o $@ $< $(sort $(CORE_SRC) $(FUZZ_EXTRA)) $(PKG_LIBS)

# ---- apagon-drill (issue 6; docs/drills.md): drills on real processes ----
# Its sources are tools/drill_*.c (outside the CLI's tools/apagon_*.c glob). The
# scenario parser's fuzz harness links the parser on top of CORE_SRC.
DRILL_SRC := $(wildcard tools/drill_*.c)
DRILL     := $(if $(wildcard tools/drill_main.c),$(BUILD)/apagon-drill)
all: $(DRILL)
$(BUILD)/apagon-drill: $(call obj,$(DRILL_SRC)) $(CORE_LIBS)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) -lm
$(BUILD)/fuzz/replay_fuzz_scenario $(BUILD)/fuzz/libfuzzer_fuzz_scenario: tools/drill_scenario.c tools/drill_scenario.h
$(BUILD)/fuzz/replay_fuzz_scenario $(BUILD)/fuzz/libfuzzer_fuzz_scenario: FUZZ_EXTRA := tools/drill_scenario.c
# ---- end apagon-drill ----

depcheck:
	@pkg-config --exists $(PKGS) 2>/dev/null && command -v clang >/dev/null && test -x /usr/sbin/mosquitto || $(MAKE) --no-print-directory deps

deps:
	@tools/deps.sh

test: depcheck
	@$(MAKE) --no-print-directory test-run

test-run: all $(UNIT_BINS) $(REPLAY_BINS)
	@BUILD=$(BUILD) tests/run.sh

check: depcheck
	@$(MAKE) --no-print-directory BUILD=build-san SAN=1 test-run

bench: depcheck
	@$(MAKE) --no-print-directory $(BENCH_BINS) all
	@for b in $(BENCH_BINS); do $$b || exit 1; done

FUZZ_SECONDS ?= 20
fuzz: depcheck
	@$(MAKE) --no-print-directory $(FUZZ_BINS)
	@for f in $(FUZZ_BINS); do \
		name=$${f##*/libfuzzer_}; mkdir -p $(BUILD)/fuzz/corpus-$$name; \
		echo "  RUN     $$name ($(FUZZ_SECONDS)s)"; \
		$$f -max_total_time=$(FUZZ_SECONDS) -print_final_stats=0 \
			$(BUILD)/fuzz/corpus-$$name tests/fuzz/corpus/$$name 2>$(BUILD)/fuzz/$$name.log \
			|| { tail -40 $(BUILD)/fuzz/$$name.log; exit 1; }; \
	done; echo "fuzz: all harnesses ran clean"

demo: depcheck
	@$(MAKE) --no-print-directory all
	@BUILD=$(BUILD) tools/demo.sh

install: all
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 0755 $(APAGON) $(DESTDIR)$(PREFIX)/bin/apagon
	$(if $(APAGOND),install -m 0755 $(APAGOND) $(DESTDIR)$(PREFIX)/bin/apagond)
	$(if $(DRILL),install -m 0755 $(DRILL) $(DESTDIR)$(PREFIX)/bin/apagon-drill)

clean:
	rm -rf build build-san

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
