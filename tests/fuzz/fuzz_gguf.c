/* libFuzzer harness for the gguf reader: the input is opened from memory through
 * wr_weightfile_open_memory (sniffing included); on success the first and last byte of every
 * tensor are read so a bad offset shows up under ASan.
 *   make fuzz && nice -n 19 build/fuzz/fuzz_gguf -max_len=4096 -runs=1000000 \
 *       build/fuzz/corpus_gguf tests/fuzz/corpus_gguf */
#include <stdint.h>
#include <string.h>

#include "runtime/io/weightfile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    wr_weightfile wf;
    wr_status st = wr_weightfile_open_memory(&wf, "fuzz.gguf", data, size);
    volatile uint8_t sink = 0;
    for (int64_t i = 0; st == WR_OK && i < wf.n_tensors; i++) {
        const wr_tensor *t = &wf.tensors[i].t;
        size_t n = wr_tensor_nbytes(t);
        const uint8_t *p = t->data;
        if (n)
            sink ^= (uint8_t)(p[0] ^ p[n - 1]);
    }
    (void)sink;
    if (st == WR_OK)
        wr_weightfile_close(&wf);
    return 0;
}
