# userec: `make` builds ./userec, `make test` runs every test, `make demo` runs the main job on the example.
BUILD ?= build
BIN ?= userec
PY ?= /usr/bin/python3
CC ?= gcc
SHARED ?= ../shared

CFLAGS ?= -O3 -march=native -g
CFLAGS += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Wno-unused-parameter -fopenmp -Iengine
LDLIBS += -lopenblas -lutf8proc -lm -fopenmp

LIB_SRC := $(filter-out engine/main.c engine/cli_%.c,$(wildcard engine/*.c))
CLI_SRC := engine/main.c $(wildcard engine/cli_*.c)
TEST_SRC := $(wildcard tests/c/test_*.c)
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/%.o)
CLI_OBJ := $(CLI_SRC:%.c=$(BUILD)/%.o)
TEST_BIN := $(TEST_SRC:tests/c/%.c=$(BUILD)/tests/%)
DEPS_STAMP := $(BUILD)/.deps-ok

.PHONY: all test demo weights deps clean
all: $(BIN)

# Installs the Debian packages the build and tests need when run as root; otherwise names them in one line.
$(DEPS_STAMP): tools/install-deps.sh
	@sh tools/install-deps.sh
	@mkdir -p $(@D) && touch $@
deps: $(DEPS_STAMP)

$(BUILD)/%.o: %.c $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/libuserec.a: $(LIB_OBJ)
	$(AR) rcs $@ $^

$(BIN): $(CLI_OBJ) $(BUILD)/libuserec.a
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/%: tests/c/%.c $(BUILD)/libuserec.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -Itests/c -o $@ $< $(BUILD)/libuserec.a $(LDLIBS)

test: $(BIN) $(TEST_BIN)
	@$(PY) tests/run.py --build $(BUILD) --bin $(BIN) --shared $(SHARED)

# Downloads, verifies and converts the official USE-lite weights (weights/README.md says how to install offline).
weights: weights/use-lite.usew
weights/use-lite.usew: weights/download.sh tools/convert.py
	sh weights/download.sh

clean:
	rm -rf $(BUILD) $(BIN)

-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d)
