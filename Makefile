# logfleet — plain GNU make over pkg-config.
#
#   make            build bin/logfleetd and bin/logfleetctl
#   make check      deps, stack up, unit+integration tests, same again under ASan+UBSan
#   make demo       deps, build, stack up, sample logs through the pipeline, stack down
#   make bench      benchmark programs (figures, never assertions)
#   make SAN=1      build the sanitizer variant into build/san
#
# Every .c under the module folders is linked into both programs' library;
# files named *main.c are program entry points.  New files need no Makefile edit.

CC      ?= cc
PKGS    := libpq libcurl jansson zlib libconfig libcrypto
HAVE_ISAL := $(shell pkg-config --exists libisal && echo 1)
HAVE_RDKAFKA := $(shell pkg-config --exists rdkafka && echo 1)
HAVE_MHD := $(shell pkg-config --exists libmicrohttpd && echo 1)
HAVE_PROTOBUFC := $(shell pkg-config --exists libprotobuf-c && echo 1)
ifeq ($(HAVE_ISAL),1)
ifneq ($(NO_ISAL),1)
PKGS    += libisal
DEFS    += -DHAVE_ISAL=1
endif
endif
ifeq ($(HAVE_RDKAFKA),1)
ifneq ($(NO_KAFKA),1)
PKGS    += rdkafka
DEFS    += -DHAVE_RDKAFKA=1
endif
endif
ifeq ($(HAVE_MHD),1)
PKGS    += libmicrohttpd
DEFS    += -DHAVE_MHD=1
endif
ifeq ($(HAVE_PROTOBUFC),1)
PKGS    += libprotobuf-c
DEFS    += -DHAVE_PROTOBUFC=1
endif

WARN    := -Wall -Wextra -Wshadow -Wformat=2 -Wvla -Werror
CFLAGS  ?= -O2 -g
CFLAGS  += -std=c11 -D_GNU_SOURCE $(WARN) $(DEFS) -I. $(shell pkg-config --cflags $(PKGS))
LDLIBS  += $(shell pkg-config --libs $(PKGS)) -lpthread -lm

ifeq ($(SAN),1)
BUILD   := build/san
CFLAGS  += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=address,undefined
else
BUILD   := build/rel
endif

MODULES := common lease checkpoint sinks worker
SRC_ALL := $(foreach m,$(MODULES),$(wildcard $(m)/*.c))
SRC_LIB := $(filter-out %main.c,$(SRC_ALL))
OBJ_LIB := $(SRC_LIB:%.c=$(BUILD)/%.o)
# logfleetctl's subcommands register themselves (CTL_COMMAND in ops/ctl.h), so
# their objects are linked directly rather than through the archive.
SRC_OPS := $(filter-out ops/main.c,$(wildcard ops/*.c))
OBJ_OPS := $(SRC_OPS:%.c=$(BUILD)/%.o)
TEST_SRC := tests/t.c $(wildcard tests/unit/*.c tests/integ/*.c)
TEST_OBJ := $(TEST_SRC:%.c=$(BUILD)/%.o)
BENCH_SRC := $(wildcard tests/bench/*.c)
BENCH_BIN := $(BENCH_SRC:tests/bench/%.c=$(BUILD)/bench/%)

BINDIR  := $(if $(filter 1,$(SAN)),build/san/bin,bin)

all: $(BINDIR)/logfleetd $(BINDIR)/logfleetctl $(BUILD)/tests/run_tests docs/config.md

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/liblogfleet.a: $(OBJ_LIB)
	@rm -f $@
	ar rcs $@ $^

$(BINDIR)/logfleetd: $(BUILD)/worker/main.o $(BUILD)/liblogfleet.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BINDIR)/logfleetctl: $(BUILD)/ops/main.o $(OBJ_OPS) $(BUILD)/liblogfleet.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/run_tests: $(TEST_OBJ) $(BUILD)/liblogfleet.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/bench/%: tests/bench/%.c tests/bench/bench_util.h $(BUILD)/liblogfleet.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $(filter-out %.h,$^) $(LDLIBS)

docs/config.md: $(BINDIR)/logfleetctl
	@if [ "$(SAN)" != 1 ]; then $(BINDIR)/logfleetctl config-doc > $@.tmp && mv $@.tmp $@; fi

deps:
	@scripts/deps

check: deps
	@tests/run

bench: deps all $(BENCH_BIN)
	@tests/bench/run $(BENCH_BIN)

demo: deps all
	@scripts/demo

clean:
	rm -rf build bin

.PHONY: all deps check bench demo clean
-include $(OBJ_LIB:.o=.d) $(OBJ_OPS:.o=.d) $(TEST_OBJ:.o=.d)
