/* Placeholder until the pth reader lands: reports the format as not yet readable. */
#include "runtime/io/weightfile.h"

wr_status wr_pth_load(wr_weightfile *wf)
{
    return wr_fail(WR_E_UNSUPPORTED, "%s: the pth reader is not implemented yet", wf->map.path);
}
