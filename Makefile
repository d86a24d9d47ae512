# userec: `make` builds ./userec and the library, `make check` runs the fast tests (under a minute),
# `make test` every test, `make demo` the main job on the example, `make install PREFIX=...` installs.
BUILD ?= build
BIN ?= userec
PY ?= /usr/bin/python3
CC ?= gcc
SHARED ?= ../shared
PREFIX ?= /usr/local
DESTDIR ?=

# The library's version (engine/userec.h says the same; tests/test_install.py checks that they agree).
VERSION := 0.4.0
SOVERSION := 0

# No -march: the binary runs on any x86-64 CPU and picks its kernels at start-up (engine/cpu/cpu_kernels.h).
CFLAGS ?= -O3 -g
# Flags the build needs are appended even when CFLAGS is given on the command line (e.g. sanitizers).
# -fPIC: one set of objects serves the static and the shared library. -fvisibility=hidden: the shared library
# exports what engine/userec.h declares (USEREC_API) and nothing else. -ffp-contract=off: the compiler never
# fuses a multiply and an add on its own, so every ISA's kernels compute the same bits (fmas are written out).
override CFLAGS += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Wno-unused-parameter -fopenmp -fPIC -fvisibility=hidden \
                   -ffp-contract=off -Iengine -DUSEREC_VERSION_STRING='"$(VERSION)"'
# The per-ISA kernel files, each compiled for its instruction set; cpu_kernels.c runs only what the CPU has.
ISA_FLAGS_avx2 := -mavx2 -mfma
ISA_FLAGS_avx512 := -mavx2 -mfma -mavx512f -mavx512bw -mavx512vl -mavx512dq
ISA_FLAGS_bf16 := $(ISA_FLAGS_avx512) -mavx512bf16
$(foreach isa,avx2 avx512 bf16,$(eval $(BUILD)/engine/cpu/cpu_kernels_$(isa).o: override CFLAGS += $(ISA_FLAGS_$(isa))))
LIB_LIBS := -lutf8proc -lz -lm -fopenmp
override LDLIBS += -lopenblas $(LIB_LIBS)

# One folder per concern under engine/ (docs/architecture.md); the CLI, one file per command, in cli/.
LIB_SRC := $(wildcard engine/*/*.c)
CLI_SRC := $(wildcard cli/*.c)
TEST_SRC := $(wildcard tests/c/test_*.c tests/gpu/test_*.c)
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/%.o)
CLI_OBJ := $(CLI_SRC:%.c=$(BUILD)/%.o)
TEST_BIN := $(patsubst %.c,$(BUILD)/tests/%,$(notdir $(TEST_SRC)))
# The fuzz targets (tests/fuzz/) also build as plain programs that replay their kept inputs (make test).
FUZZ_NAMES := $(patsubst tests/fuzz/%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_REPLAY := $(FUZZ_NAMES:%=$(BUILD)/fuzz-replay/%)
DEPS_STAMP := $(BUILD)/.deps-ok
vpath test_%.c tests/c tests/gpu

# CUDA: `make CUDA=1` forces the GPU build, `make CUDA=0` leaves it out; by default it is on when nvcc is in
# PATH or /usr/local/cuda/bin. Without it, engine/gpu/gpu_stub.c answers that this build has no GPU.
NVCC ?= $(firstword $(shell command -v nvcc 2>/dev/null) $(wildcard /usr/local/cuda/bin/nvcc))
CUDA ?= $(if $(NVCC),1,0)
ifeq ($(CUDA),1)
ifeq ($(NVCC),)
$(error CUDA=1, but nvcc is neither in PATH nor in /usr/local/cuda/bin)
endif
CUDA_HOME ?= $(patsubst %/bin/nvcc,%,$(realpath $(NVCC)))
# One fatbinary for every recent NVIDIA generation (docs/gpu.md): machine code for Ampere (sm_80 A100/A30,
# sm_86 A10/A40/RTX 30), Ada (sm_89 L4/L40S/RTX 40), Hopper (sm_90), Blackwell (sm_100 B200/GB200, sm_103 B300,
# sm_120 RTX 50/RTX PRO), and PTX of the newest, which later GPUs compile at load time. Machine code runs on
# later minor versions of its major (sm_86 on 8.7, sm_120 on 12.1). tests/test_cuda_build.py checks the library
# holds all of it. A build for one card only: e.g. make CUDA_ARCHS=90 CUDA_PTX=90.
CUDA_ARCHS ?= 80 86 89 90 100 103 120
CUDA_PTX ?= 120
NVCC_THREADS ?= 2
CUDA_GENCODE := $(foreach a,$(CUDA_ARCHS),-gencode arch=compute_$(a),code=sm_$(a)) \
                -gencode arch=compute_$(CUDA_PTX),code=compute_$(CUDA_PTX)
NVCCFLAGS ?= -O3 -lineinfo
NVCCFLAGS += -std=c++17 --threads $(NVCC_THREADS) $(CUDA_GENCODE) -DUSEREC_CUDA -Iengine -Ikernels \
             -DUSEREC_CUDA_TARGETS='"$(foreach a,$(CUDA_ARCHS),sm_$(a)) + PTX compute_$(CUDA_PTX)"' \
             -Xcompiler -Wall,-Wextra,-Wno-unused-parameter,-fPIC,-fvisibility=hidden
# The CUDA headers for C files too: tests/gpu/test_kernels.c calls the kernel launchers (kernels/kernels.h).
override CFLAGS += -DUSEREC_CUDA -isystem $(CUDA_HOME)/include
LIB_OBJ += $(patsubst %.cu,$(BUILD)/%.o,$(wildcard engine/*/*.cu kernels/*.cu))
CUDA_LIBS := -L$(CUDA_HOME)/lib64 -Wl,-rpath,$(CUDA_HOME)/lib64 -lcublasLt -lcublas -lcudart -lstdc++
LIB_LIBS += $(CUDA_LIBS)
endif

# A change of compiler or flags rebuilds every object: a `make CFLAGS=-march=native` left behind would otherwise
# keep AVX-512 instructions in files meant for any x86-64 CPU (tests/test_cpu_isa.py looks for them). The stamp
# is rewritten only when the flags differ from the last build's (never under make -n), so its age tells make
# which objects are stale.
FLAGS_STAMP := $(BUILD)/.build-flags
BUILD_FLAGS := $(CC) $(CFLAGS) $(if $(filter 1,$(CUDA)),$(NVCC) $(NVCCFLAGS))
ifneq ($(BUILD_FLAGS),$(file <$(FLAGS_STAMP)))
ifeq ($(findstring n,$(firstword -$(MAKEFLAGS))),)
$(shell mkdir -p $(BUILD))
$(file >$(FLAGS_STAMP),$(BUILD_FLAGS))
endif
endif

STATIC_LIB := $(BUILD)/libuserec.a
SHARED_LIB := $(BUILD)/libuserec.so.$(VERSION)
SONAME := libuserec.so.$(SOVERSION)

.PHONY: all lib test check demo weights deps clean test-model install uninstall fuzz
all: $(BIN) lib
lib: $(STATIC_LIB) $(SHARED_LIB) $(BUILD)/libuserec.so

# Installs the Debian packages the build and tests need when run as root; otherwise names them in one line.
$(DEPS_STAMP): tools/install-deps.sh
	@sh tools/install-deps.sh
	@mkdir -p $(@D) && touch $@
deps: $(DEPS_STAMP)

$(FLAGS_STAMP): ;

$(BUILD)/%.o: %.c $(DEPS_STAMP) $(FLAGS_STAMP)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/%.o: %.cu $(DEPS_STAMP) $(FLAGS_STAMP)
	@mkdir -p $(@D)
	$(NVCC) $(NVCCFLAGS) -MMD -MP -c $< -o $@

$(STATIC_LIB): $(LIB_OBJ)
	rm -f $@
	$(AR) rcs $@ $^

$(SHARED_LIB): $(LIB_OBJ)
	$(CC) -shared -Wl,-soname,$(SONAME) -Wl,--no-undefined -o $@ $^ $(LIB_LIBS)

$(BUILD)/libuserec.so: $(SHARED_LIB)
	ln -sf $(notdir $<) $(BUILD)/$(SONAME)
	ln -sf $(notdir $<) $@

$(BIN): $(CLI_OBJ) $(STATIC_LIB)
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/%: %.c $(STATIC_LIB)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -Itests/c -o $@ $< $(STATIC_LIB) $(LDLIBS)

test: $(BIN) lib $(TEST_BIN) $(FUZZ_REPLAY)
	@$(PY) tests/run.py --build $(BUILD) --bin $(BIN) --shared $(SHARED)

# The edit loop: the C unit tests and a slice of the oracle tests (tests marked quick), under a minute.
check: $(BIN) lib $(TEST_BIN) $(FUZZ_REPLAY)
	@$(PY) tests/run.py --quick --build $(BUILD) --bin $(BIN) --shared $(SHARED)

# Installs the CLI, both libraries, the header, a pkg-config file and the Python module.
PC_REQUIRES_LIBS := $(LIB_LIBS)
install: $(BIN) lib
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/include \
	    $(DESTDIR)$(PREFIX)/lib/python3/dist-packages
	install -m 755 $(BIN) $(DESTDIR)$(PREFIX)/bin/userec
	install -m 644 $(STATIC_LIB) $(DESTDIR)$(PREFIX)/lib/libuserec.a
	install -m 755 $(SHARED_LIB) $(DESTDIR)$(PREFIX)/lib/
	ln -sf $(notdir $(SHARED_LIB)) $(DESTDIR)$(PREFIX)/lib/$(SONAME)
	ln -sf $(notdir $(SHARED_LIB)) $(DESTDIR)$(PREFIX)/lib/libuserec.so
	install -m 644 engine/userec.h $(DESTDIR)$(PREFIX)/include/userec.h
	install -m 644 python/userec.py $(DESTDIR)$(PREFIX)/lib/python3/dist-packages/userec.py
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(VERSION)|' -e 's|@LIBS_PRIVATE@|$(PC_REQUIRES_LIBS)|' \
	    tools/userec.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/userec.pc

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/userec $(DESTDIR)$(PREFIX)/lib/libuserec.a $(DESTDIR)$(PREFIX)/lib/libuserec.so* \
	    $(DESTDIR)$(PREFIX)/include/userec.h $(DESTDIR)$(PREFIX)/lib/pkgconfig/userec.pc \
	    $(DESTDIR)$(PREFIX)/lib/python3/dist-packages/userec.py

# The deterministic test weights (SPEC 2.3) as a .usew, for benchmarks and the demo without real weights;
# tests/common.py builds the same file at the same path.
TEST_MODEL := $(BUILD)/testdata/use-lite-seed1.usew
SPM_MODEL := $(SHARED)/fixtures/use-lite/tfhub-lite2/assets/universal_encoder_8k_spm.model
test-model: $(TEST_MODEL)
$(TEST_MODEL): tools/make_test_model.py tools/convert.py
	@test -d $(SHARED)/fixtures/use-lite || { echo "test-model: $(SHARED)/fixtures/use-lite is absent"; exit 1; }
	$(PY) tools/make_test_model.py $(BUILD)/test-model-seed1 --seed 1 --from $(SHARED)/fixtures/use-lite
	@mkdir -p $(@D)
	$(PY) tools/convert.py $(BUILD)/test-model-seed1 -o $@ --spm-model $(SPM_MODEL)

# The main job on the bundled example (and on ../shared's Myntra catalogue when present), then related items.
demo: $(BIN)
	@BUILD=$(BUILD) SHARED=$(SHARED) USEREC=$(abspath $(BIN)) sh tools/demo.sh

# Downloads, verifies and converts the official USE-lite weights (weights/README.md says how to install offline),
# then checks the converted model against the real model's published outputs (docs/verify.md).
STS_DEV := $(SHARED)/data/sts/stsbenchmark/sts-dev.csv
weights: weights/use-lite.usew $(BIN)
	$(abspath $(BIN)) verify weights/use-lite.usew $(if $(wildcard $(STS_DEV)),--sts $(STS_DEV))
weights/use-lite.usew: weights/download.sh tools/convert.py
	sh weights/download.sh

clean:
	rm -rf $(BUILD) $(BIN)

# Fuzzing (docs/limits.md): `make fuzz FUZZ_SECONDS=N` builds the libFuzzer targets of tests/fuzz/ with clang,
# AddressSanitizer and UndefinedBehaviorSanitizer, runs each for N seconds (two at a time; FUZZ_ONLY=NAME picks
# some) on seeds made from ../shared and the test models, and keeps any crash input in tests/fuzz/regressions/.
# The same build makes $(FUZZ_DIR)/userec, the CLI under both sanitizers, on which `make fuzz` then replays
# the issue 13 repros (tests/test_hardening.py).
FUZZ_CC ?= clang-14
FUZZ_SECONDS ?= 60
FUZZ_JOBS ?= 2
FUZZ_ONLY ?=
FUZZ_DIR := $(BUILD)/fuzz
FUZZ_CFLAGS := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined -std=c11 \
               -D_GNU_SOURCE -fopenmp -Wall -Wextra -Wno-unused-parameter -Wno-pass-failed -ffp-contract=off -Iengine -DUSEREC_VERSION_STRING='"$(VERSION)"'
FUZZ_LIBS := -lutf8proc -lz -lm -fopenmp
FUZZ_LIB_OBJ := $(LIB_SRC:%.c=$(FUZZ_DIR)/obj/%.o)

$(foreach isa,avx2 avx512 bf16,$(eval $(FUZZ_DIR)/obj/engine/cpu/cpu_kernels_$(isa).o: FUZZ_CFLAGS += $(ISA_FLAGS_$(isa))))
$(FUZZ_DIR)/obj/%.o: %.c $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -MMD -MP -c $< -o $@

$(FUZZ_DIR)/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_LIB_OBJ)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $^ $(FUZZ_LIBS)

$(FUZZ_DIR)/userec: $(CLI_SRC:%.c=$(FUZZ_DIR)/obj/%.o) $(FUZZ_LIB_OBJ)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $^ -lopenblas $(FUZZ_LIBS)

# The targets with a plain main() (tests/fuzz/replay.c) and the plain build: `make test` replays the kept inputs.
$(BUILD)/fuzz-replay/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/replay.c $(STATIC_LIB)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -o $@ $< tests/fuzz/replay.c $(STATIC_LIB) $(LDLIBS)

fuzz: $(FUZZ_NAMES:%=$(FUZZ_DIR)/%) $(FUZZ_DIR)/userec $(BIN) test-model
	$(PY) tests/fuzz/run.py --fuzz-dir $(FUZZ_DIR) --seconds $(FUZZ_SECONDS) --jobs $(FUZZ_JOBS) --shared $(SHARED) \
	    --model $(TEST_MODEL) --bin $(abspath $(BIN)) --only '$(FUZZ_ONLY)'
	ASAN_OPTIONS=abort_on_error=1:detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:abort_on_error=1:print_stacktrace=1 \
	    $(PY) tests/run.py --build $(BUILD) --bin $(FUZZ_DIR)/userec --shared $(SHARED) --only test_hardening

# `userec verify` carries the published figures in its object (.incbin): rebuild it when they change.
$(BUILD)/cli/verify.o: weights/published.json

-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d) $(wildcard $(FUZZ_DIR)/obj/*/*/*.d $(FUZZ_DIR)/obj/*/*.d)
