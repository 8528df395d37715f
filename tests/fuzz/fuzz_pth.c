/* libFuzzer harness for the PyTorch checkpoint reader (runtime/io/pth.c, zip.c, pickle.c).
 *
 * The input is handed to wr_pth_load as if it were a mapped file (zip when it starts with
 * "PK\3\4", the legacy pickle sequence otherwise); on success the name table is built and the
 * first and last byte of every tensor are read, so a bad offset shows up under ASan.
 *   make fuzz && nice -n 19 build/fuzz/fuzz_pth -max_len=8192 -runs=1000000 \
 *       build/fuzz/corpus_pth tests/fuzz/corpus_pth
 * Seeds (tests/fuzz/corpus_pth/README.md) are small torch-style zip and legacy files. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tests/fuzz/fuzz_touch.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    wr_weightfile wf;
    memset(&wf, 0, sizeof wf);
    wf.map.path = strdup("fuzz.pth");
    wf.map.data = data;
    wf.map.size = size;
    wf.format = WR_FORMAT_PTH;
    wr_status st = wr_pth_load(&wf);
    if (st == WR_OK)
        st = wr_weightfile_finish(&wf);
    if (st == WR_OK)
        fuzz_touch_tensors(&wf);
    wf.map.data = NULL; /* not a mapping */
    wf.map.size = 0;
    wr_weightfile_close(&wf);
    return 0;
}
