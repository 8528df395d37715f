/* Tensor naming conventions in the wild, handled in one place.
 *
 * Canonical names are the official Wan modules' state_dict() names. Files may add a prefix
 * (ComfyUI "model.diffusion_model.", "diffusion_model.", DataParallel "module.") or use other
 * schemes (diffusers); lookups canonicalise both sides. */
#ifndef WR_NAMES_H
#define WR_NAMES_H

#include <stddef.h>

#include <stdbool.h>

/* The name with any known wrapper prefix removed (a pointer into `name`). */
const char *wr_names_strip_prefix(const char *name);

/* The diffusers (WanTransformer3DModel) spelling of an official Wan DiT name, e.g.
 * "blocks.3.self_attn.o.weight" -> "blocks.3.attn1.to_out.0.weight". False when the name has
 * no diffusers counterpart (or is the same). */
bool wr_names_wan_to_diffusers(const char *official, char *out, size_t len);

#endif
