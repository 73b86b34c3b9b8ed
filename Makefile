# lutdb - top-level build.  spec/ARCHITECTURE.md explains the rooms and the rule.
#
#   make             build/lutdb, build/liblutdb.{a,so}, build/lutdb.pc
#   make test        installs test dependencies, builds, runs every test
#   make demo        installs dependencies, builds, packs the demo model, generates
#   make asan | valgrind | fuzz | bench | install | uninstall | clean
#   make aarch64     cross-builds build-aarch64/ (installs the cross toolchain,
#                    qemu-user and the arm64 libraries; adds arm64 to dpkg)
#   make test-aarch64  every suite and CLI test of build-aarch64/ under qemu-aarch64
#
# Files named *_avx2.c / *_avx512.c are compiled for those ISAs, *_neon*.c only
# for aarch64 (*_dotprod.c with the dot-product extension), and chosen at run
# time; everything else is portable C11.  ARCH (from the compiler) picks which.

all: # the default goal: everything `make install` installs (defined below)

PREFIX  ?= /usr/local
DESTDIR ?=
BUILD   ?= build
CC      ?= cc
CXX     ?= c++
# The one version number lives in lutdb/lutdb.h.
# The target architecture, from the compiler: a plain `make` on an aarch64
# host builds natively; `make aarch64` passes CC=aarch64-linux-gnu-gcc.
ARCH    ?= $(firstword $(subst -, ,$(shell $(CC) -dumpmachine 2>/dev/null)))
VERSION := $(shell sed -n 's/^\#define LUTDB_VERSION_STRING "\(.*\)"/\1/p' lutdb/lutdb.h)

# The named warning set: every file compiles clean under it.
WERROR   ?= -Werror
WARNINGS := -Wall -Wextra $(WERROR) -Wshadow -Wpointer-arith -Wstrict-prototypes \
            -Wmissing-prototypes -Wvla -Wformat=2 -Wundef -Wcast-qual \
            -Wnull-dereference -Wdouble-promotion -Wno-unused-parameter

OPT      ?= -O2
CFLAGS   ?= $(OPT) -g
CPPFLAGS += -D_GNU_SOURCE
BASEFLAGS = -std=c11 $(WARNINGS) -fPIC -pthread -MMD -MP $(CPPFLAGS) $(CFLAGS) $(EXTRA_CFLAGS)

PKGS     := liblmdb-dev libxxhash-dev liblz4-dev check libjansson-dev \
            libpcre2-dev libutf8proc-dev libmicrohttpd-dev pkg-config
TESTPKGS := python3-torch python3-numpy fortunes wamerican valgrind clang bc g++ libopenblas-dev libonig-dev
LIBS     := -llmdb -lxxhash -llz4 -ljansson -lpcre2-8 -lutf8proc -lm -lpthread
# The library does its own GEMMs (runtime/convert/reparam.c says why); the
# tests and benchmark tools link OpenBLAS for their SGEMM baselines and to
# check that the library leaves its process-wide settings alone.
BLASLIBS := -lopenblas
CHECKLIBS:= $(shell pkg-config --libs check 2>/dev/null || echo -lcheck -lsubunit -lrt -lm)

AVX2FLAGS   := -mavx2 -mfma -mf16c
AVX512FLAGS := -mavx512f -mavx512bw -mavx512vl -mavx512dq -mfma -mf16c -mavx2
# ASIMD (NEON) is part of every aarch64 target; the dot product (sdot) is an
# ARMv8.2 extension, used only where getauxval reports asimddp (format/base/cpu.c).
DOTPRODFLAGS := -march=armv8.2-a+dotprod
# Sources for the other architecture's instruction sets are left out.
ifeq ($(ARCH),aarch64)
ARCH_SKIP := %_avx2.c %_avx512.c
else
ARCH_SKIP := %_neon.c %_neon_dotprod.c
endif

# ---- rooms and the dependency rule ---------------------------------------------
# A room is a folder with one concern.  A component's own folder (format/,
# lutdb/, runtime/) holds nothing but its installed public headers: its face.
# USES_<room> lists the folders a room's files may include besides their own:
# faces (public headers) and other rooms (their internal headers).  The
# compiler is given exactly those folders, so an include across the rule does
# not compile, and tests/lint/layers.sh (part of every build) holds each
# object's symbols to the same rule: a room may call into its USES rooms, and
# only the exported functions of the components whose faces it uses.
comma := ,
FACES := format lutdb runtime
ROOMS := format/base format/numeric format/quant format/model format/record format/safetensors \
         lutdb/io lutdb/lmdb lutdb/file lutdb/set lutdb/db lutdb/write \
         runtime/kernels runtime/tokenizer runtime/engine runtime/convert cli/serve cli

USES_format/base        := format
USES_format/numeric     := format format/base
USES_format/quant       := format format/base format/numeric
USES_format/model       := format format/base format/numeric format/quant
USES_format/record      := format format/base format/numeric format/quant format/model
USES_format/safetensors := format format/base format/numeric format/record
USES_lutdb/io           := format format/base lutdb
USES_lutdb/lmdb         := format format/base
USES_lutdb/file         := format format/base format/model format/record lutdb lutdb/io lutdb/lmdb
USES_lutdb/set          := format format/base format/model format/record lutdb lutdb/io lutdb/file
USES_lutdb/db           := format format/base lutdb lutdb/io lutdb/file lutdb/set
USES_lutdb/write        := format format/base format/model format/record lutdb lutdb/io lutdb/lmdb lutdb/file \
                           lutdb/set lutdb/db
USES_runtime/kernels    := format format/base format/numeric format/quant
USES_runtime/tokenizer  := format format/base runtime
USES_runtime/engine     := format format/base format/model lutdb runtime runtime/kernels
USES_runtime/convert    := format format/base format/numeric format/quant format/model format/record format/safetensors \
                           lutdb runtime runtime/kernels runtime/tokenizer
# The server is a room of the command; the command (cmd_serve.c) calls into
# it.  Public faces only, but for format/base's bounded JSON loader, which
# every document from outside goes through (a request body is one): the
# command links the static library, where it is.
USES_cli/serve          := format format/base lutdb runtime
USES_cli                := format lutdb runtime cli/serve

PUBLIC_HEADERS := format/lutdb_err.h format/lutdb_types.h lutdb/lutdb.h \
                  runtime/lutdb_runtime.h runtime/lutdb_tokenizer.h runtime/lutdb_pack.h

LIB_ROOMS := $(filter-out cli cli/%,$(ROOMS))
LIB_SRC   := $(filter-out $(ARCH_SKIP),$(foreach r,$(LIB_ROOMS),$(wildcard $(r)/*.c)))
CLI_SRC   := $(wildcard cli/*.c cli/serve/*.c)
LIB_OBJ   := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
CLI_OBJ   := $(CLI_SRC:%.c=$(BUILD)/obj/%.o)

# Per-room include folders: target-specific, so each object sees only its USES.
define room_flags
$(BUILD)/obj/$(1)/%.o: ROOM_INC := -I$(1) $(addprefix -I,$(USES_$(1)))
endef
$(foreach r,$(ROOMS),$(eval $(call room_flags,$(r))))
# The quantizers round every float32 step on its own (spec/FORMAT.md, 10.1):
# no fused multiply-add, so every build writes the same bytes.
$(BUILD)/obj/format/quant/%.o: ROOM_CFLAGS := -ffp-contract=off

# Library objects export only what a public header declares (LUTDB_API).
$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(BASEFLAGS) $(if $(filter cli/%,$<),,-fvisibility=hidden) $(ROOM_INC) $(ROOM_CFLAGS) \
		$(if $(findstring _avx512,$<),$(AVX512FLAGS),$(if $(findstring _avx2,$<),$(AVX2FLAGS))) \
		$(if $(findstring _dotprod,$<),$(DOTPRODFLAGS)) -c $< -o $@

all: $(BUILD)/lutdb $(BUILD)/liblutdb.a $(BUILD)/liblutdb.so $(BUILD)/lutdb.pc $(BUILD)/layers.ok $(BUILD)/headers.ok

$(BUILD)/liblutdb.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/liblutdb.so: $(LIB_OBJ)
	$(CC) -shared -Wl,-soname,liblutdb.so.0 -Wl,--no-undefined -o $@ $^ $(LIBS) $(EXTRA_LDFLAGS)

# The command links the static library: one self-contained file.  Only the
# command serves HTTP: libmicrohttpd is its dependency, never the library's,
# and `lutdb serve` loads it when it starts (cli/serve/mhd.h says why).
SERVELIBS := -ldl
$(BUILD)/lutdb: $(CLI_OBJ) $(BUILD)/liblutdb.a
	$(CC) $(CFLAGS) $(EXTRA_CFLAGS) -pthread -o $@ $(CLI_OBJ) $(BUILD)/liblutdb.a $(LIBS) $(SERVELIBS) $(EXTRA_LDFLAGS)

# The rule on symbols (see above), and the exported set against the headers.
$(BUILD)/layers.ok: tests/lint/layers.sh $(LIB_OBJ) $(CLI_OBJ) $(BUILD)/liblutdb.so Makefile
	@bash tests/lint/layers.sh $(BUILD) $(foreach r,$(ROOMS),'$(r)=$(USES_$(r))')
	@touch $@

# Every installed header compiles alone and all together, as C and as C++.
$(BUILD)/headers.ok: tests/lint/headers.sh $(PUBLIC_HEADERS)
	@CC='$(CC)' CXX='$(CXX)' bash tests/lint/headers.sh $(BUILD) $(PUBLIC_HEADERS)
	@touch $@

# ---- tests and tools: white-box, they may include any room --------------------
TEST_INC  := $(addprefix -I,$(FACES) $(LIB_ROOMS)) -Itests/unit
TESTFLAGS  = $(BASEFLAGS) -Wno-format-truncation -Wno-double-promotion $(TEST_INC)
UNIT_SRC  := $(wildcard tests/unit/test_*.c)
UNIT_BIN  := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
TOOL_SRC  := $(wildcard tests/tools/*.c)
TOOL_BIN  := $(TOOL_SRC:tests/tools/%.c=$(BUILD)/tests/tools/%)

$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/liblutdb.a
	@mkdir -p $(dir $@)
	$(CC) $(TESTFLAGS) $< -o $@ $(BUILD)/liblutdb.a $(LIBS) $(BLASLIBS) $(CHECKLIBS) $(TEST_LDFLAGS) $(EXTRA_LDFLAGS)

# test_sampler sees the library's allocations (drawing must make none).
$(BUILD)/tests/test_sampler: TEST_LDFLAGS := $(addprefix -Wl$(comma)--wrap=,malloc calloc realloc posix_memalign)

$(BUILD)/tests/tools/%: tests/tools/%.c $(BUILD)/liblutdb.a
	@mkdir -p $(dir $@)
	$(CC) $(TESTFLAGS) $< -o $@ $(BUILD)/liblutdb.a $(LIBS) $(BLASLIBS) $(EXTRA_LDFLAGS)

# The .pc file embeds PREFIX: rebuild it whenever PREFIX changes.
$(BUILD)/.prefix: FORCE
	@mkdir -p $(BUILD)
	@echo '$(PREFIX)' | cmp -s - $@ || echo '$(PREFIX)' > $@

$(BUILD)/lutdb.pc: Makefile lutdb/lutdb.h $(BUILD)/.prefix
	@mkdir -p $(BUILD)
	@printf 'prefix=%s\nlibdir=$${prefix}/lib\nincludedir=$${prefix}/include\n\nName: lutdb\nDescription: lookup-table database and runtime for Mixture-of-Lookup-Experts models\nVersion: %s\nRequires.private: lmdb libxxhash liblz4 jansson libpcre2-8 libutf8proc\nLibs: -L$${libdir} -llutdb\nLibs.private: -lm -lpthread\nCflags: -I$${includedir}\n' '$(PREFIX)' '$(VERSION)' > $@

# ---- dependencies, tests, tools ---------------------------------------------------
# Debian packages: installed only when missing (idempotent, non-interactive).
deps:
	@bash tests/deps.sh $(PKGS)

test-deps:
	@bash tests/deps.sh $(PKGS) $(TESTPKGS)

JOBS ?= $(shell nproc 2>/dev/null || echo 2)

# On x86 also the aarch64 build, whose kernel suites and one decode run
# under qemu at the end of tests/run.sh (LUTDB_AARCH64; tests/arm/run.sh).
ifeq ($(ARCH),aarch64)
test: test-deps
	@$(MAKE) --no-print-directory -j$(JOBS) all tests-build
	@bash tests/run.sh $(BUILD)
else
test: test-deps aarch64-deps
	@$(MAKE) --no-print-directory -j$(JOBS) all tests-build
	@$(AARCH64_MAKE_BASE) all $(AARCH64_SHORT_BIN)
	@LUTDB_AARCH64=$(AARCH64_BUILD) bash tests/run.sh $(BUILD)
endif

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

# ---- aarch64: cross build on x86 Debian, or native on an aarch64 host --------------
# The same rules with BUILD and CC changed.  tests/arm/deps.sh adds the arm64
# architecture to dpkg and installs the cross gcc, qemu-user and the arm64
# libraries (idempotent); the binaries run as
#   qemu-aarch64 -L /usr/aarch64-linux-gnu build-aarch64/lutdb ...
AARCH64_BUILD ?= build-aarch64
AARCH64_CC    ?= $(if $(filter aarch64,$(ARCH)),$(CC),aarch64-linux-gnu-gcc)
# The Check suites and the tools link OpenBLAS (BLASLIBS) and Check.
AARCH64_PKGS  := $(PKGS) libopenblas-dev
# Cross-built programs name the multiarch loader (libc6:arm64's), the one
# that matches the libc they load from /lib/aarch64-linux-gnu: with -L,
# qemu would otherwise start the cross toolchain's own ld.so (another glibc
# build, libc6-arm64-cross), whose private layouts differ - pthread_create
# then loops forever.  Debian and Ubuntu arm64 systems have this path too.
AARCH64_LDFLAGS ?= $(if $(filter aarch64,$(ARCH)),,-Wl$(comma)--dynamic-linker=/lib/aarch64-linux-gnu/ld-linux-aarch64.so.1)

aarch64-deps:
	@bash tests/arm/deps.sh $(AARCH64_PKGS)

AARCH64_MAKE_BASE = $(MAKE) --no-print-directory -j$(JOBS) BUILD=$(AARCH64_BUILD) CC=$(AARCH64_CC) OPT=-O2 \
	EXTRA_CFLAGS= EXTRA_LDFLAGS='$(AARCH64_LDFLAGS)'
AARCH64_MAKE = $(AARCH64_MAKE_BASE) all tests-build
# make test's aarch64 part (tests/arm/run.sh --short) needs only these suites.
AARCH64_SHORT_BIN := $(addprefix $(AARCH64_BUILD)/tests/,test_kernels test_kernels_vector test_kernels_quant \
	test_kernels_qtable test_runtime test_format_dtype)

aarch64: aarch64-deps
	@$(AARCH64_MAKE)

# Every Check suite and CLI test of the aarch64 build under qemu-aarch64, with
# -cpu max (every optional feature) and -cpu cortex-a53 (ARMv8.0).
test-aarch64: test-deps aarch64
	@bash tests/arm/run.sh $(AARCH64_BUILD)

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
	install -m 644 $(PUBLIC_HEADERS) $(DESTDIR)$(PREFIX)/include/

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/lutdb $(DESTDIR)$(PREFIX)/lib/liblutdb.* \
	      $(DESTDIR)$(PREFIX)/lib/pkgconfig/lutdb.pc $(addprefix $(DESTDIR)$(PREFIX)/include/,$(notdir $(PUBLIC_HEADERS)))

clean:
	rm -rf build build-asan build-fuzz build-aarch64

FORCE:

.PHONY: FORCE all deps test-deps test tests-build asan valgrind fuzz bench demo install uninstall clean \
	aarch64-deps aarch64 test-aarch64

-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d) $(UNIT_BIN:=.d) $(TOOL_BIN:=.d)
