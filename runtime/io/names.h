/* Tensor naming conventions in the wild, handled in one place.
 *
 * Canonical names are the official Wan modules' state_dict() names. Files may add a prefix
 * (ComfyUI "model.diffusion_model.", "diffusion_model.", DataParallel "module.") or use other
 * schemes (diffusers); lookups canonicalise both sides. */
#ifndef WR_NAMES_H
#define WR_NAMES_H

#include <stddef.h>

/* The name with any known wrapper prefix removed (a pointer into `name`). */
const char *wr_names_strip_prefix(const char *name);

#endif
