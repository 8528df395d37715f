/* Known wrapper prefixes (see names.h). Longest first so "model.diffusion_model." wins over
 * "diffusion_model.". */
#include "runtime/io/names.h"

#include <string.h>

static const char *const prefixes[] = {
    "model.diffusion_model.",
    "diffusion_model.",
    "module.",
};

const char *wr_names_strip_prefix(const char *name)
{
    for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++) {
        size_t n = strlen(prefixes[i]);
        if (strncmp(name, prefixes[i], n) == 0)
            return name + n;
    }
    return name;
}
