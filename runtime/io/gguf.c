/* Placeholder until the gguf reader lands: reports the format as not yet readable. */
#include "runtime/io/weightfile.h"

wr_status wr_gguf_load(wr_weightfile *wf)
{
    return wr_fail(WR_E_UNSUPPORTED, "%s: the gguf reader is not implemented yet", wf->map.path);
}
