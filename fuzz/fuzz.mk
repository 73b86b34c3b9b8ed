# fuzz/fuzz.mk - builds the fuzz harnesses; run from the repository root by
# fuzz/build.sh (MODE=libfuzzer) and fuzz/replay.sh (MODE=replay or plain).
#
#   MODE=libfuzzer  clang, -fsanitize=fuzzer,address,undefined: the library
#                   sources are compiled into every harness binary
#   MODE=replay     $(CC) (gcc or clang), ASan + UBSan, linked with
#                   fuzz/replay_main.c instead of libFuzzer
#   MODE=plain      no sanitizer (for valgrind), with replay_main.c
#   MODE=tsan       clang -fsanitize=thread: only OUT/stress_readers
#                   (tests/tools/stress_readers.c, for tests/e2e/test_concurrency.sh)
#
# OUT is the output directory: OUT/obj/... objects, OUT/fuzz_<target>.
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

CFLAGS := -std=c11 -O1 -g -pthread -fPIC -D_GNU_SOURCE -DLUTDB_VERSION='"fuzz"' -DLUTDB_DEBUG \
          -Iformat -Ilutdb -Iruntime -Ifuzz -MMD -MP
AVX2FLAGS   := -mavx2 -mfma -mf16c
AVX512FLAGS := -mavx512f -mavx512bw -mavx512vl -mavx512dq -mfma -mf16c -mavx2
LIBS := -llmdb -lxxhash -llz4 -ljansson -lopenblas -lpcre2-8 -lutf8proc -lm -lpthread

LIB_SRC := $(wildcard format/*.c) $(wildcard lutdb/*.c) $(wildcard runtime/*.c)
LIB_OBJ := $(LIB_SRC:%.c=$(OUT)/obj/%.o)
TARGETS := $(patsubst fuzz/%.c,%,$(wildcard fuzz/fuzz_*.c))
BINS    := $(TARGETS:%=$(OUT)/%)

all: $(BINS)

$(OUT)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LIBSAN) $(if $(findstring _avx512,$<),$(AVX512FLAGS),$(if $(findstring _avx2,$<),$(AVX2FLAGS))) -c $< -o $@

$(OUT)/lib.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

# The harnesses themselves: warnings on.
$(OUT)/obj/fuzz/%.o: fuzz/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Wall -Wextra -Wno-unused-parameter $(LIBSAN) -c $< -o $@

$(OUT)/fuzz_%: $(OUT)/obj/fuzz/fuzz_%.o $(MAIN) $(OUT)/lib.a
	$(CC) $(LINKSAN) -pthread -o $@ $^ $(LIBS)

$(OUT)/stress_readers: tests/tools/stress_readers.c $(OUT)/lib.a
	$(CC) $(CFLAGS) $(LIBSAN) $(LINKSAN) -o $@ $^ $(LIBS)

.PHONY: all
-include $(LIB_OBJ:.o=.d) $(TARGETS:%=$(OUT)/obj/fuzz/%.d) $(OUT)/obj/fuzz/replay_main.d
