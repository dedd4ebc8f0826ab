# apagon: one non-recursive GNU Makefile (docs in README.md).
#
#   make            build everything into $(BUILD)/
#   make test       install missing packages, build, run the whole suite
#   make check      the same suite under AddressSanitizer + UBSan
#   make bench      benchmarks, each against a raw baseline measured in the same run
#   make fuzz       build the libFuzzer harnesses with clang and run each briefly
#   make demo       install, build, run a blackout drill (tools/demo.sh, apagon-drill)
#   make deps       install missing Debian packages (apt-get; sudo when not root)
#   make firmware   the LoRa modem's board images (RAK3172, qemu), sizes checked

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
# The modem's serial codec (firmware/proto/), shared by the firmware and node/'s LoRa
# transport: one codec, built into both (issue 4, docs/modem.md).
NODE_SRC   += firmware/proto/kiss.c firmware/proto/rnode.c
# With a board on stock RNode firmware the node enforces the duty cycle itself, with the
# modem's own limiter and airtime formula (docs/lora.md "RNode boards").
NODE_SRC   += firmware/duty.c firmware/airtime.c
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
# sim's parts (tools/sim_*.c), and for its LoRa channel the firmware's airtime and
# duty limiter (unless node/ already links them) and the channel simulator's physics
# (firmware/host/chan_model.c).
DRILL_SRC += $(wildcard tools/sim_*.c) firmware/host/chan_model.c \
	$(filter-out $(NODE_SRC),firmware/airtime.c firmware/duty.c)
DRILL     := $(if $(wildcard tools/drill_main.c),$(BUILD)/apagon-drill)
all: $(DRILL)
$(BUILD)/apagon-drill: $(call obj,$(DRILL_SRC)) $(CORE_LIBS)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) -lm
SCENARIO_SRC := tools/drill_scenario.c tools/drill_scenario_timeline.c tools/drill_scenario_write.c
$(BUILD)/fuzz/replay_fuzz_scenario $(BUILD)/fuzz/libfuzzer_fuzz_scenario: $(SCENARIO_SRC) tools/drill_scenario.h tools/drill_scenario_parse.h
$(BUILD)/fuzz/replay_fuzz_scenario $(BUILD)/fuzz/libfuzzer_fuzz_scenario: FUZZ_EXTRA := $(SCENARIO_SRC)
$(BUILD)/fuzz/replay_fuzz_trace $(BUILD)/fuzz/libfuzzer_fuzz_trace: tools/sim_trace.c tools/sim_trace.h
$(BUILD)/fuzz/replay_fuzz_trace $(BUILD)/fuzz/libfuzzer_fuzz_trace: FUZZ_EXTRA := tools/sim_trace.c
# ---- end apagon-drill ----

# ---- Bluetooth (issue 5; docs/bluetooth.md): BlueZ's libbluetooth, the VM test ----
# node/transport_bt.c links libbluetooth (Debian's libbluetooth-dev, pkg-config
# "bluez"). `make test-bluetooth` runs only the QEMU VM test, which boots Debian's
# kernel with the real Bluetooth stack (tests/bluetooth/, cache in $(BUILD)/bt-cache).
PKGS       += bluez
PKG_CFLAGS += $(shell pkg-config --cflags bluez 2>/dev/null)
PKG_LIBS   += $(shell pkg-config --libs bluez 2>/dev/null)
# The VM test (run by tests/run.sh with the rest) uses bench_bt as its raw L2CAP tool.
test-run: $(BUILD)/bench/bench_bt
.PHONY: test-bluetooth
test-bluetooth: depcheck
	@$(MAKE) --no-print-directory all $(BUILD)/bench/bench_bt
	@APAGON_BIN=$(BUILD)/apagon sh tests/integration/bluetooth_vm.sh
# ---- end Bluetooth ----

# ---- firmware cross build (issue 4; firmware/board/, docs/modem.md "Board image") ----
# The modem core (firmware/*.c, firmware/proto/*.c) cross-compiled with Debian's
# gcc-arm-none-eabi and newlib-nano into two images under $(BUILD)/firmware/:
#   rak3172.elf/.hex         the real board (STM32WLE5, radio on the internal SubGHz SPI)
#   qemu-mps2-an386.elf      the same core on qemu's Cortex-M4 board; the radio is the host
#                            build's SX1262 model facing a reflector (firmware_qemu.sh)
# `make firmware` builds both, prints arm-none-eabi-size and fails over budget.
FW_CC        := arm-none-eabi-gcc
FW_SIZE      := arm-none-eabi-size
FW_OBJCOPY   := arm-none-eabi-objcopy
FW_FLASH_MAX := 131072
FW_RAM_MAX   := 32768
FW_CORE_SRC  := $(wildcard firmware/*.c firmware/proto/*.c)
FW_CFLAGS    := -std=c11 -Os -g -mcpu=cortex-m4 -mthumb -mfloat-abi=soft -ffreestanding \
	-ffunction-sections -fdata-sections -fno-common $(WARN) -MMD -MP
FW_LDFLAGS   := -mcpu=cortex-m4 -mthumb -mfloat-abi=soft -nostartfiles \
	--specs=nano.specs --specs=nosys.specs -Wl,--gc-sections -Lfirmware/board/common
FW_IMAGES    := $(BUILD)/firmware/rak3172.elf $(BUILD)/firmware/rak3172.hex \
	$(BUILD)/firmware/qemu-mps2-an386.elf
# Objects live under $(BUILD)/firmware/obj/<core|rak3172|qemu>/: one core build shared by
# both images, and the board files (and start-up code, sized per chip) once per board.
fwobj = $(patsubst %.c,$(BUILD)/firmware/obj/$(1)/%.o,$(2))
FW_RAK_OBJ   := $(call fwobj,rak3172,firmware/board/common/startup.c \
	firmware/board/rak3172/board.c) $(call fwobj,core,$(FW_CORE_SRC))
FW_QEMU_OBJ  := $(call fwobj,qemu,firmware/board/common/startup.c \
	$(wildcard firmware/board/qemu/*.c) firmware/host/sx126x_model.c) \
	$(call fwobj,core,$(FW_CORE_SRC))

.PHONY: firmware
firmware: $(FW_IMAGES) | depcheck
	@sh firmware/board/size.sh $(FW_FLASH_MAX) $(FW_RAM_MAX) \
		$(BUILD)/firmware/rak3172.elf $(BUILD)/firmware/qemu-mps2-an386.elf
test-run: firmware

define FW_COMPILE
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  ARMCC   $<")
	$(Q)$(FW_CC) $(FW_CFLAGS) $(FW_BOARD_FLAGS) -c -o $@ $<
endef
$(BUILD)/firmware/obj/rak3172/%.o: FW_BOARD_FLAGS := -DBOARD_NIRQ=62
$(BUILD)/firmware/obj/qemu/%.o: FW_BOARD_FLAGS := -DBOARD_NIRQ=32
$(BUILD)/firmware/obj/core/%.o: %.c
	$(FW_COMPILE)
$(BUILD)/firmware/obj/rak3172/%.o: %.c
	$(FW_COMPILE)
$(BUILD)/firmware/obj/qemu/%.o: %.c
	$(FW_COMPILE)

$(BUILD)/firmware/rak3172.elf: $(FW_RAK_OBJ) firmware/board/rak3172/rak3172.ld firmware/board/common/sections.ld
	@$(if $(Q),echo "  ARMLD   $@")
	$(Q)$(FW_CC) $(FW_LDFLAGS) -Tfirmware/board/rak3172/rak3172.ld -Wl,-Map=$(@:.elf=.map) -o $@ $(FW_RAK_OBJ)
$(BUILD)/firmware/qemu-mps2-an386.elf: $(FW_QEMU_OBJ) firmware/board/qemu/mps2_an386.ld firmware/board/common/sections.ld
	@$(if $(Q),echo "  ARMLD   $@")
	$(Q)$(FW_CC) $(FW_LDFLAGS) -Tfirmware/board/qemu/mps2_an386.ld -Wl,-Map=$(@:.elf=.map) -o $@ $(FW_QEMU_OBJ)
$(BUILD)/firmware/%.hex: $(BUILD)/firmware/%.elf
	@$(if $(Q),echo "  HEX     $@")
	$(Q)$(FW_OBJCOPY) -O ihex $< $@
# depcheck installs the cross toolchain, newlib and the emulator when one is missing.
FW_DEPCHECK  := && command -v $(FW_CC) >/dev/null && command -v qemu-system-arm >/dev/null \
	&& test -f /usr/lib/arm-none-eabi/newlib/nano.specs && command -v python3 >/dev/null
-include $(shell find $(BUILD)/firmware/obj -name '*.d' 2>/dev/null)
# ---- end firmware cross build ----

# ---- firmware host build (issue 4; docs/modem.md "Host build") ----
# The same portable core (FW_CORE_SRC, above) built for the host, with a model of the
# SX1262 behind a host HAL (firmware/host/, host-only code):
#   $(BUILD)/apagon-modem-sim   the modem on a pseudo-terminal, joined to a channel
#   $(BUILD)/apagon-channel     the simulated radio channel (unix socket)
# FW_PROTO_SRC is the serial codec (KISS + RNode commands); node/ builds the same files
# (NODE_SRC, top of this file). The KISS harness (tests/fuzz/fuzz_kiss.c) drives the
# whole core, so it links all of it.
FW_PROTO_SRC := firmware/proto/kiss.c firmware/proto/rnode.c
FW_MODEL_SRC := firmware/host/sx126x_model.c
FW_SIM       := $(BUILD)/apagon-modem-sim $(BUILD)/apagon-channel
all: $(FW_SIM)
$(BUILD)/apagon-modem-sim: $(call obj,firmware/host/modem_sim.c firmware/host/rnode_stock.c $(FW_MODEL_SRC) $(FW_CORE_SRC))
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^
$(BUILD)/apagon-channel: $(call obj,firmware/host/channel.c firmware/host/chan_model.c)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ -lm
# The unit test links the core and the chip model ahead of CORE_LIBS (which already
# hold the codec, node/ links it).
FW_TEST_OBJ  := $(call obj,$(filter-out $(CORE_SRC),$(FW_CORE_SRC)) $(FW_MODEL_SRC))
$(BUILD)/tests/test_firmware: $(call obj,tests/unit/test_firmware.c) $(TEST_OBJ) $(FW_TEST_OBJ) $(CORE_LIBS)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)
# The firmware core on a fake board (tests/fuzz/fw_board.h), for lora.duty_violations.
$(BUILD)/bench/bench_lora_duty: $(call obj,tests/bench/bench_lora_duty.c) $(FW_TEST_OBJ) $(CORE_LIBS)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)
$(BUILD)/fuzz/replay_fuzz_kiss $(BUILD)/fuzz/libfuzzer_fuzz_kiss: $(FW_CORE_SRC) $(FW_MODEL_SRC) $(wildcard firmware/*.h firmware/proto/*.h firmware/host/*.h)
# Recursive (=), and without what CORE_SRC already has (the codec), so nothing links twice.
$(BUILD)/fuzz/replay_fuzz_kiss $(BUILD)/fuzz/libfuzzer_fuzz_kiss: FUZZ_EXTRA = $(filter-out $(CORE_SRC),$(FW_CORE_SRC) $(FW_MODEL_SRC))
# The simulated stock-RNode board (apagon-modem-sim --rnode) on the same driver and model.
$(BUILD)/fuzz/replay_fuzz_rnode_stock $(BUILD)/fuzz/libfuzzer_fuzz_rnode_stock: $(FW_CORE_SRC) $(FW_MODEL_SRC) firmware/host/rnode_stock.c $(wildcard firmware/*.h firmware/proto/*.h firmware/host/*.h)
$(BUILD)/fuzz/replay_fuzz_rnode_stock $(BUILD)/fuzz/libfuzzer_fuzz_rnode_stock: FUZZ_EXTRA = $(filter-out $(CORE_SRC),$(FW_CORE_SRC) $(FW_MODEL_SRC) firmware/host/rnode_stock.c)
# ---- end firmware host build ----

depcheck:
	@pkg-config --exists $(PKGS) 2>/dev/null && command -v clang >/dev/null && test -x /usr/sbin/mosquitto $(FW_DEPCHECK) || $(MAKE) --no-print-directory deps

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
