# wanrt — one non-recursive Makefile; sources are found by wildcard per folder (STYLE.md 9.9).
#   make              build/$(MODE)/libwanrt.a and build/$(MODE)/wanrt
#   make test         Criterion suites (tests/<area>/ -> one binary per area) + kernels-check
#   make MODE=debug | MODE=asan
#   make fuzz         libFuzzer harnesses (clang), tests/fuzz/fuzz_<reader>.c
#   make bench        benchmarks (bench/); make bench-gpu: the GPU kernel benchmarks alone
CC ?= cc
CXX ?= c++
MODE ?= release
CUDA_HOME ?= /usr/local/cuda
SHARED ?= ../shared

BUILD := build/$(MODE)
GEN := build/gen

WARN := -Wall -Wextra -Wshadow -Wdouble-promotion -Wstrict-prototypes -Wmissing-prototypes -Wvla -Werror
CFLAGS_release := -O2 -g
CFLAGS_debug := -O0 -g3
CFLAGS_asan := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS_asan := -fsanitize=address,undefined
BASE_CFLAGS := -std=c11 -D_GNU_SOURCE -I. -I$(GEN) -pthread -MMD -MP $(CFLAGS_$(MODE))
CFLAGS += $(BASE_CFLAGS) $(WARN)
CXXFLAGS += -std=c++17 -D_GNU_SOURCE -I. -pthread -MMD -MP $(CFLAGS_$(MODE))
LDFLAGS += $(LDFLAGS_$(MODE))
LDLIBS += -lm -ldl -pthread

# --- optional features, one line each ---------------------------------------------------------
HAVE_CUDA_H := $(shell test -f $(CUDA_HOME)/include/cuda.h && echo 1)
ifeq ($(HAVE_CUDA_H),1)
  CFLAGS += -DWR_HAVE_CUDA_H -isystem $(CUDA_HOME)/include
endif
HAVE_PNG := $(shell pkg-config --exists libpng && echo 1)
ifeq ($(HAVE_PNG),1)
  CFLAGS += -DWR_HAVE_PNG $(shell pkg-config --cflags libpng)
  LDLIBS += $(shell pkg-config --libs libpng)
endif
AV_PKGS := libavformat libavcodec libavutil libswscale
HAVE_AV := $(shell pkg-config --exists $(AV_PKGS) && echo 1)
ifeq ($(HAVE_AV),1)
  CFLAGS += -DWR_HAVE_FFMPEG $(shell pkg-config --cflags $(AV_PKGS))
  LDLIBS += $(shell pkg-config --libs $(AV_PKGS))
endif
HAVE_CRITERION := $(shell pkg-config --exists criterion && echo 1)
CRITERION_LIBS := $(shell pkg-config --libs criterion 2>/dev/null || echo -lcriterion)

# --- sources ----------------------------------------------------------------------------------
LIB_DIRS := runtime runtime/io runtime/cpu runtime/gpu models models/wan22 vae rife upscale media cli
# the commands are part of the library (include/wanrt.h runs them as jobs); only main() is the binary's
LIB_SRCS := $(filter-out cli/main.c,$(foreach d,$(LIB_DIRS),$(wildcard $(d)/*.c)))
KERNEL_SRCS := $(sort $(wildcard kernels/*.cu kernels/*.cuh kernels/*.h kernels/emu/*.h) runtime/numeric.h)
LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/%.o) $(BUILD)/gen/kernels_embed.o
CLI_SRCS := cli/main.c
CLI_OBJS := $(CLI_SRCS:%.c=$(BUILD)/%.o)
LIB := $(BUILD)/libwanrt.a
BIN := $(BUILD)/wanrt

TEST_AREAS := $(filter-out common fuzz,$(notdir $(patsubst %/,%,$(wildcard tests/*/))))
TEST_COMMON := $(wildcard tests/common/*.c)
TEST_COMMON_OBJS := $(TEST_COMMON:%.c=$(BUILD)/%.o)
TEST_BINS := $(TEST_AREAS:%=$(BUILD)/bin/test_%)

BENCH_SRCS := $(wildcard bench/kernels/*.c bench/models/*.c)
BENCH_BINS := $(BENCH_SRCS:%.c=$(BUILD)/%)

.PHONY: all test test-gpu bench bench-gpu fuzz kernels-check clean features demo
all: features $(LIB) $(BIN)

features:
	@printf '%s CUDA headers (%s)\n' "$(if $(HAVE_CUDA_H),✓,✗)" "$(CUDA_HOME)"
	@printf '%s libpng\n' "$(if $(HAVE_PNG),✓,✗)"
	@printf '%s FFmpeg (%s)\n' "$(if $(HAVE_AV),✓,✗)" "$(AV_PKGS)"
	@printf '%s Criterion\n' "$(if $(HAVE_CRITERION),✓,✗)"

V ?= 0
Q := $(if $(filter 1,$(V)),,@)

# Objects depend on a stamp holding the compile flags, so installing libpng/FFmpeg/CUDA headers
# (which changes the WR_HAVE_* defines) rebuilds everything instead of mixing stale objects.
FLAGS_STAMP := $(BUILD)/.flags
FLAGS_NOW := $(CC) $(CFLAGS) $(LDLIBS)
ifneq ($(file <$(FLAGS_STAMP)),$(FLAGS_NOW))
  $(shell mkdir -p $(BUILD))
  $(file >$(FLAGS_STAMP),$(FLAGS_NOW))
endif

$(BUILD)/%.o: %.c $(FLAGS_STAMP)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC    $<")
	$(Q)$(CC) $(CFLAGS) -c $< -o $@

# Kernel sources are embedded as NUL-terminated byte arrays (tools/embed.c, STYLE.md 9.5).
$(BUILD)/tools/embed: tools/embed.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $< -o $@

$(GEN)/kernels_embed.c: $(BUILD)/tools/embed $(KERNEL_SRCS)
	@mkdir -p $(dir $@)
	$(BUILD)/tools/embed $@ $(KERNEL_SRCS)

$(BUILD)/gen/kernels_embed.o: $(GEN)/kernels_embed.c
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) -c $< -o $@

$(LIB): $(LIB_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@
	ar rcs $@ $^

$(BIN): $(CLI_OBJS) $(LIB)
	$(CC) $(LDFLAGS) $(CLI_OBJS) $(LIB) $(LDLIBS) -o $@

# --- tests --------------------------------------------------------------------------------------
define test_area_rule
$(BUILD)/bin/test_$(1): $(patsubst %.c,$(BUILD)/%.o,$(wildcard tests/$(1)/*.c)) $(TEST_COMMON_OBJS) $(LIB)
	@mkdir -p $$(dir $$@)
	$$(CC) $$(LDFLAGS) $$^ $(CRITERION_LIBS) $$(LDLIBS) -o $$@
endef
$(foreach a,$(TEST_AREAS),$(eval $(call test_area_rule,$(a))))

# Every registered kernel specialisation through NVRTC for sm_80/86/89/90 (tools/kernels_check.c);
# says SKIPPED when NVRTC is absent.
KCHECK := $(BUILD)/tools/kernels_check
$(KCHECK): tools/kernels_check.c $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) $< $(LIB) $(LDLIBS) -o $@
kernels-check: $(KCHECK)
	$(KCHECK) -j $(TEST_JOBS) $(KCHECK_FLAGS)

# Each area binary runs from the repository root so tests find ../shared and build/.
TEST_JOBS ?= 2
# tests/gpu/test_kernel_bench.c runs the GPU benches' validation on the emulator
KBENCH := $(BUILD)/bench/kernels/bench_gpu_kernels $(BUILD)/bench/kernels/bench_gpu_memory
TEST_ENV = WANRT_BIN=$(BIN) WANRT_SHARED=$(SHARED) WANRT_BENCH_DIR=$(BUILD)/bench
test: all $(TEST_BINS) $(KCHECK) $(KBENCH)
	@$(KCHECK) -j $(TEST_JOBS) -q
	@test -d $(SHARED)/golden || { echo "error: $(SHARED)/golden is missing: the tests need the shared reference data beside the checkout"; exit 1; }
	@fail=0; for t in $(TEST_BINS); do \
	  echo "== $$t"; $(TEST_ENV) $$t --jobs=$(TEST_JOBS) || fail=1; \
	done; exit $$fail

test-gpu: all $(TEST_BINS) $(KBENCH)
	@fail=0; for t in $(TEST_BINS); do \
	  WANRT_TEST_DEVICE=cuda $(TEST_ENV) $$t --jobs=1 || fail=1; \
	done; exit $$fail

$(BUILD)/bench/%: bench/%.c $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) $< $(LIB) $(LDLIBS) -o $@

bench: all $(BENCH_BINS)
	@for b in $(BENCH_BINS); do echo "== $$b"; $$b || exit 1; done

# Only the GPU kernel benchmarks (a lent GPU's short session); BENCH_ARGS=--quick for small shapes.
bench-gpu: $(KBENCH)
	@for b in $(KBENCH); do echo "== $$b"; $$b $(BENCH_ARGS) || exit 1; done

# --- fuzzing (clang + libFuzzer + ASan); not part of `make test` --------------------------------
FUZZ_SRCS := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BINS := $(FUZZ_SRCS:tests/fuzz/%.c=build/fuzz/%)
FUZZ_CFLAGS := -std=c11 -D_GNU_SOURCE -I. -I$(GEN) -g -O1 -fsanitize=fuzzer-no-link,address,undefined
FUZZ_LIB_OBJS := $(LIB_SRCS:%.c=build/fuzz/obj/%.o)
build/fuzz/obj/%.o: %.c
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) -c $< -o $@
build/fuzz/%: tests/fuzz/%.c $(FUZZ_LIB_OBJS) $(BUILD)/gen/kernels_embed.o
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) -fsanitize=fuzzer $^ -lm -ldl -pthread $(filter-out -lm -ldl -pthread,$(LDLIBS)) -o $@
fuzz: $(FUZZ_BINS)

# --- the README's main job: tiny random-weight models -> one short clip per mode, then the workflow -
DEMO := build/demo
DEMO_ARGS = --t5 $(DEMO)/models/umt5_tiny.safetensors --tokenizer $(DEMO)/models/tokenizer.model \
  --vae $(DEMO)/models/wan21_vae_tiny.safetensors --width 128 --height 96 --frames 17 --steps 6 --split 3 \
  --shift 8 --cfg 2,1,1,1,1,1 --seed 42 --prompt "a cat walks on the grass, realistic style"
demo: all
	$(BIN) make-tiny-models $(DEMO)/models
	$(BIN) generate $(DEMO_ARGS) --high-noise $(DEMO)/models/wan22_t2v_high_noise.safetensors \
	  --low-noise $(DEMO)/models/wan22_t2v_low_noise.safetensors -o $(DEMO)/t2v.mp4 --contact-sheet $(DEMO)/t2v.sheet.png
	$(BIN) generate $(DEMO_ARGS) --high-noise $(DEMO)/models/wan22_i2v_high_noise.safetensors \
	  --low-noise $(DEMO)/models/wan22_i2v_low_noise.safetensors --image $(DEMO)/models/start.png \
	  -o $(DEMO)/i2v.mp4 --contact-sheet $(DEMO)/i2v.sheet.png
	$(BIN) generate $(DEMO_ARGS) --high-noise $(DEMO)/models/wan22_i2v_high_noise.safetensors \
	  --low-noise $(DEMO)/models/wan22_i2v_low_noise.safetensors --image $(DEMO)/models/start.png \
	  --end-image $(DEMO)/models/end.png -o $(DEMO)/flf2v.mp4 --contact-sheet $(DEMO)/flf2v.sheet.png
	$(BIN) generate --t5 $(DEMO)/models/umt5_tiny.safetensors --tokenizer $(DEMO)/models/tokenizer.model \
	  --vae $(DEMO)/models/wan22_vae_tiny.safetensors --mode ti2v --model $(DEMO)/models/wan22_ti2v_5b.safetensors \
	  --image $(DEMO)/models/start.png --width 128 --height 96 --frames 17 --steps 6 --shift 5 --cfg 2,1,1,1,1,1 \
	  --seed 42 --prompt "a cat walks on the grass, realistic style" -o $(DEMO)/ti2v.mp4 --contact-sheet $(DEMO)/ti2v.sheet.png
	cd $(DEMO) && $(abspath $(BIN)) run $(abspath tools/demo.recipe)
	@echo "demo clips: $(DEMO)/{t2v,i2v,flf2v,ti2v}.mp4, last frames $(DEMO)/*.last.png, contact sheets $(DEMO)/*.sheet.png;"
	@echo "the whole workflow (tools/demo.recipe: i2v -> SeedVR2 upscale to 192p -> RIFE x2 -> H.264): $(DEMO)/workflow.mp4"

clean:
	rm -rf build

-include $(shell find build -name '*.d' 2>/dev/null)
