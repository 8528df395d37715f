/* libFuzzer harness for the safetensors reader: the input is opened from memory through
 * wr_weightfile_open_memory (sniffing included) and every tensor is touched.
 *   make fuzz && nice -n 19 build/fuzz/fuzz_safetensors -max_len=4096 -runs=1000000 \
 *       build/fuzz/corpus_safetensors tests/fuzz/corpus_safetensors */
#include "tests/fuzz/fuzz_touch.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    wr_weightfile wf;
    if (wr_weightfile_open_memory(&wf, "fuzz.safetensors", data, size) == WR_OK) {
        fuzz_touch_tensors(&wf);
        wr_weightfile_close(&wf);
    }
    return 0;
}
