# userec: `make` builds ./userec, `make test` runs every test, `make demo` runs the main job on the example.
BUILD ?= build
BIN ?= userec
PY ?= /usr/bin/python3
CC ?= gcc
SHARED ?= ../shared

CFLAGS ?= -O3 -march=native -g
# Flags the build needs are appended even when CFLAGS is given on the command line (e.g. sanitizers).
override CFLAGS += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Wno-unused-parameter -fopenmp -Iengine
override LDLIBS += -lopenblas -lutf8proc -lm -fopenmp

LIB_SRC := $(filter-out engine/main.c engine/cli_%.c,$(wildcard engine/*.c))
CLI_SRC := engine/main.c $(wildcard engine/cli_*.c)
TEST_SRC := $(wildcard tests/c/test_*.c tests/gpu/test_*.c)
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/%.o)
CLI_OBJ := $(CLI_SRC:%.c=$(BUILD)/%.o)
TEST_BIN := $(patsubst %.c,$(BUILD)/tests/%,$(notdir $(TEST_SRC)))
DEPS_STAMP := $(BUILD)/.deps-ok
vpath test_%.c tests/c tests/gpu

# CUDA: `make CUDA=1` forces the GPU build, `make CUDA=0` leaves it out; by default it is on when nvcc is in
# PATH or /usr/local/cuda/bin. Without it, engine/*_stub.c answer that this build has no GPU.
NVCC ?= $(firstword $(shell command -v nvcc 2>/dev/null) $(wildcard /usr/local/cuda/bin/nvcc))
CUDA ?= $(if $(NVCC),1,0)
ifeq ($(CUDA),1)
ifeq ($(NVCC),)
$(error CUDA=1, but nvcc is neither in PATH nor in /usr/local/cuda/bin)
endif
CUDA_HOME ?= $(patsubst %/bin/nvcc,%,$(realpath $(NVCC)))
# Hopper machine code plus PTX that newer GPUs compile at load time.
CUDA_GENCODE ?= -gencode arch=compute_90,code=[sm_90,compute_90]
NVCCFLAGS ?= -O3 -lineinfo
NVCCFLAGS += -std=c++17 $(CUDA_GENCODE) -DUSEREC_CUDA -Iengine -Ikernels -Xcompiler -Wall,-Wextra,-Wno-unused-parameter
override CFLAGS += -DUSEREC_CUDA
LIB_OBJ += $(patsubst %.cu,$(BUILD)/%.o,$(wildcard engine/*.cu kernels/*.cu))
override LDLIBS += -L$(CUDA_HOME)/lib64 -Wl,-rpath,$(CUDA_HOME)/lib64 -lcublasLt -lcublas -lcudart -lstdc++
endif

.PHONY: all test demo weights deps clean test-model
all: $(BIN)

# Installs the Debian packages the build and tests need when run as root; otherwise names them in one line.
$(DEPS_STAMP): tools/install-deps.sh
	@sh tools/install-deps.sh
	@mkdir -p $(@D) && touch $@
deps: $(DEPS_STAMP)

$(BUILD)/%.o: %.c $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/%.o: %.cu $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(NVCC) $(NVCCFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/libuserec.a: $(LIB_OBJ)
	$(AR) rcs $@ $^

$(BIN): $(CLI_OBJ) $(BUILD)/libuserec.a
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/%: %.c $(BUILD)/libuserec.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -Itests/c -o $@ $< $(BUILD)/libuserec.a $(LDLIBS)

test: $(BIN) $(TEST_BIN)
	@$(PY) tests/run.py --build $(BUILD) --bin $(BIN) --shared $(SHARED)

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

# Downloads, verifies and converts the official USE-lite weights (weights/README.md says how to install offline).
weights: weights/use-lite.usew
weights/use-lite.usew: weights/download.sh tools/convert.py
	sh weights/download.sh

clean:
	rm -rf $(BUILD) $(BIN)

-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d)
