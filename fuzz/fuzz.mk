# fuzz/fuzz.mk - builds the fuzz harnesses; run from the repository root by
# fuzz/build.sh (MODE=libfuzzer), fuzz/replay.sh (MODE=replay or plain) and
# tests/e2e/test_concurrency.sh (MODE=tsan).
#
#   MODE=libfuzzer  clang, -fsanitize=fuzzer,address,undefined
#   MODE=replay     $(CC) (gcc or clang), ASan + UBSan, linked with
#                   fuzz/replay_main.c instead of libFuzzer
#   MODE=plain      no sanitizer (for valgrind), with replay_main.c
#   MODE=tsan       clang -fsanitize=thread: only OUT/stress_readers
#                   (tests/tools/stress_readers.c)
#
# The library itself is built by the top-level Makefile's own rules (its
# rooms and dependency rule), instrumented, into OUT/lib/liblutdb.a.
MODE ?= libfuzzer
OUT  ?= build-fuzz
CC   ?= cc

SAN := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
ifeq ($(MODE),libfuzzer)
LIBSAN  := $(SAN) -fsanitize=fuzzer-no-link
LINKSAN := $(SAN) -fsanitize=fuzzer
MAIN    :=
else ifeq ($(MODE),replay)
LIBSAN  := $(SAN)
LINKSAN := $(SAN)
MAIN    := $(OUT)/obj/fuzz/replay_main.o
else ifeq ($(MODE),tsan)
LIBSAN  := -fsanitize=thread -fno-omit-frame-pointer
LINKSAN := -fsanitize=thread
MAIN    :=
else
LIBSAN  :=
LINKSAN :=
MAIN    := $(OUT)/obj/fuzz/replay_main.o
endif

# What the top-level Makefile needs to build the instrumented library.
# `override`: a make that runs this one (make test BUILD=build-asan ...)
# passes its command-line variables down through MAKEFLAGS, and they must
# not redirect or re-instrument this build.
override BUILD         := $(OUT)/lib
override OPT           := -O1
override WERROR        :=
override EXTRA_CFLAGS  := $(LIBSAN) -DLUTDB_DEBUG
override EXTRA_LDFLAGS :=
include Makefile
.DEFAULT_GOAL := fuzz-all

FUZZFLAGS := -std=c11 -O1 -g -pthread -fPIC -D_GNU_SOURCE -DLUTDB_DEBUG $(TEST_INC) -Ifuzz -MMD -MP
TARGETS   := $(patsubst fuzz/%.c,%,$(wildcard fuzz/fuzz_*.c))
BINS      := $(TARGETS:%=$(OUT)/%)

fuzz-all: $(BINS)

# The harnesses themselves: warnings on.
$(OUT)/obj/fuzz/%.o: fuzz/%.c
	@mkdir -p $(dir $@)
	$(CC) $(FUZZFLAGS) -Wall -Wextra -Wno-unused-parameter $(LIBSAN) -c $< -o $@

$(OUT)/fuzz_%: $(OUT)/obj/fuzz/fuzz_%.o $(MAIN) $(BUILD)/liblutdb.a
	$(CC) $(LINKSAN) -pthread -o $@ $^ $(LIBS)

$(OUT)/stress_readers: tests/tools/stress_readers.c $(BUILD)/liblutdb.a
	@mkdir -p $(dir $@)
	$(CC) $(FUZZFLAGS) $(LIBSAN) $(LINKSAN) -o $@ $^ $(LIBS)

.PHONY: fuzz-all
-include $(TARGETS:%=$(OUT)/obj/fuzz/%.d) $(OUT)/obj/fuzz/replay_main.d
