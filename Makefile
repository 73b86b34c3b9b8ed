# lutdb - top-level build.  `make` builds build/lutdb; `make test` runs every
# test (installing Debian dependencies first when missing).  See README.md.
#
# Sources are found by wildcard, one directory per component:
#   format/*.c   pure codecs          lutdb/*.c   the LMDB-backed store
#   runtime/*.c  model and tokenizer  cli/*.c     the lutdb command
# Files named *_avx2.c / *_avx512.c are compiled for those ISAs and chosen at
# run time; everything else is portable C11.

PREFIX  ?= /usr/local
DESTDIR ?=
BUILD   ?= build
CC      ?= cc
VERSION := 0.1.0

# The named warning set: every file compiles clean under it.
WARNINGS := -Wall -Wextra -Werror -Wshadow -Wpointer-arith -Wstrict-prototypes \
            -Wmissing-prototypes -Wvla -Wformat=2 -Wundef -Wcast-qual \
            -Wnull-dereference -Wdouble-promotion -Wno-unused-parameter

OPT      ?= -O2
CFLAGS   ?= $(OPT) -g
CPPFLAGS += -D_GNU_SOURCE -DLUTDB_VERSION='"$(VERSION)"' -Iformat -Ilutdb -Iruntime
ALLCFLAGS = -std=c11 $(WARNINGS) -fPIC -pthread -MMD -MP $(CPPFLAGS) $(CFLAGS) $(EXTRA_CFLAGS)

PKGS     := liblmdb-dev libxxhash-dev liblz4-dev check libjansson-dev \
            libopenblas-dev libpcre2-dev libutf8proc-dev pkg-config
TESTPKGS := python3-torch python3-numpy fortunes valgrind clang bc
LIBS     := -llmdb -lxxhash -llz4 -ljansson -lopenblas -lpcre2-8 -lutf8proc -lm -lpthread
CHECKLIBS:= $(shell pkg-config --libs check 2>/dev/null || echo -lcheck -lsubunit -lrt -lm)

AVX2FLAGS   := -mavx2 -mfma -mf16c
AVX512FLAGS := -mavx512f -mavx512bw -mavx512vl -mavx512dq -mfma -mf16c -mavx2

LIB_SRC := $(wildcard format/*.c) $(wildcard lutdb/*.c) $(wildcard runtime/*.c)
# quant-ref (issue 13): the quantization codec room; every float32 step rounded on its own.
LIB_SRC += $(wildcard format/quant/*.c)
$(BUILD)/obj/format/quant/%.o: ALLCFLAGS += -ffp-contract=off
CLI_SRC := $(wildcard cli/*.c)
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
CLI_OBJ := $(CLI_SRC:%.c=$(BUILD)/obj/%.o)
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
TOOL_SRC := $(wildcard tests/tools/*.c)
TOOL_BIN := $(TOOL_SRC:tests/tools/%.c=$(BUILD)/tests/tools/%)

HEADERS := format/lutdb_err.h lutdb/lutdb.h $(wildcard runtime/lutdb_*.h)

FORCE:

.PHONY: FORCE all deps test unit e2e asan valgrind fuzz bench demo install uninstall clean

all: $(BUILD)/lutdb $(BUILD)/liblutdb.a $(BUILD)/liblutdb.so $(BUILD)/lutdb.pc

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALLCFLAGS) $(if $(findstring _avx512,$<),$(AVX512FLAGS),$(if $(findstring _avx2,$<),$(AVX2FLAGS))) -c $< -o $@

$(BUILD)/liblutdb.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/liblutdb.so: $(LIB_OBJ)
	$(CC) -shared -Wl,-soname,liblutdb.so.0 -o $@ $^ $(LIBS)

$(BUILD)/lutdb: $(CLI_OBJ) $(BUILD)/liblutdb.a
	$(CC) $(CFLAGS) $(EXTRA_CFLAGS) -pthread -o $@ $(CLI_OBJ) $(BUILD)/liblutdb.a $(LIBS) $(EXTRA_LDFLAGS)

$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/liblutdb.a
	@mkdir -p $(dir $@)
	$(CC) $(ALLCFLAGS) -Wno-format-truncation -Wno-double-promotion -Itests/unit $< -o $@ $(BUILD)/liblutdb.a $(LIBS) $(CHECKLIBS) $(EXTRA_LDFLAGS)

$(BUILD)/tests/tools/%: tests/tools/%.c $(BUILD)/liblutdb.a
	@mkdir -p $(dir $@)
	$(CC) $(ALLCFLAGS) -Wno-format-truncation -Wno-double-promotion -Itests/unit $< -o $@ $(BUILD)/liblutdb.a $(LIBS) $(EXTRA_LDFLAGS)

# The .pc file embeds PREFIX: rebuild it whenever PREFIX changes.
$(BUILD)/.prefix: FORCE
	@mkdir -p $(BUILD)
	@echo '$(PREFIX)' | cmp -s - $@ || echo '$(PREFIX)' > $@

$(BUILD)/lutdb.pc: Makefile $(BUILD)/.prefix
	@mkdir -p $(BUILD)
	@printf 'prefix=%s\nlibdir=$${prefix}/lib\nincludedir=$${prefix}/include\n\nName: lutdb\nDescription: lookup-table database and runtime for Mixture-of-Lookup-Experts models\nVersion: %s\nRequires.private: lmdb libxxhash liblz4 jansson libpcre2-8 libutf8proc\nLibs: -L$${libdir} -llutdb\nLibs.private: -lopenblas -lm -lpthread\nCflags: -I$${includedir}\n' '$(PREFIX)' '$(VERSION)' > $@

# Debian packages: installed only when missing (idempotent, non-interactive).
deps:
	@bash tests/deps.sh $(PKGS)

test-deps:
	@bash tests/deps.sh $(PKGS) $(TESTPKGS)

JOBS ?= $(shell nproc 2>/dev/null || echo 2)

test: test-deps
	@$(MAKE) --no-print-directory -j$(JOBS) all tests-build
	@bash tests/run.sh $(BUILD)

tests-build: $(UNIT_BIN) $(TOOL_BIN)

asan:
	@$(MAKE) --no-print-directory test BUILD=build-asan OPT=-O1 \
		EXTRA_CFLAGS='-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined -DLUTDB_DEBUG' \
		EXTRA_LDFLAGS='-fsanitize=address,undefined'

valgrind: test-deps
	@$(MAKE) --no-print-directory all tests-build
	@LUTDB_VALGRIND=1 bash tests/run.sh $(BUILD)

FUZZ_SECONDS ?= 60
fuzz: test-deps
	@bash fuzz/build.sh && bash fuzz/run.sh $(FUZZ_SECONDS)

bench: test-deps
	@$(MAKE) --no-print-directory all tests-build
	@bash tests/bench/run.sh $(BUILD)

demo: deps
	@$(MAKE) --no-print-directory all
	@bash tests/demo/demo.sh $(BUILD)

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/include
	install -m 755 $(BUILD)/lutdb $(DESTDIR)$(PREFIX)/bin/lutdb
	install -m 644 $(BUILD)/liblutdb.a $(DESTDIR)$(PREFIX)/lib/liblutdb.a
	install -m 755 $(BUILD)/liblutdb.so $(DESTDIR)$(PREFIX)/lib/liblutdb.so.0
	ln -sf liblutdb.so.0 $(DESTDIR)$(PREFIX)/lib/liblutdb.so
	install -m 644 $(BUILD)/lutdb.pc $(DESTDIR)$(PREFIX)/lib/pkgconfig/lutdb.pc
	install -m 644 $(HEADERS) $(DESTDIR)$(PREFIX)/include/

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/lutdb $(DESTDIR)$(PREFIX)/lib/liblutdb.* \
	      $(DESTDIR)$(PREFIX)/lib/pkgconfig/lutdb.pc $(addprefix $(DESTDIR)$(PREFIX)/include/,$(notdir $(HEADERS)))

clean:
	rm -rf build build-asan build-fuzz

-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d) $(UNIT_BIN:=.d) $(TOOL_BIN:=.d)
