/* RIFE IFNet 4.7 frame interpolation (also 4.8/4.9: same network, other weights), as the
 * ComfyUI-Frame-Interpolation RIFE VFI node runs it (../shared/specs/rife.md,
 * ../shared/golden/post/README.md section 1).
 *
 * Per pair: clamp to [0, 1], zero-pad right/bottom to multiples of 64, feature encoder, four
 * IFBlocks at scales [8, 4, 2, 1] / scale_factor refining a bidirectional flow and a mask
 * (replaced each block), backward warps with border clamping, sigmoid blend, crop. The ensemble
 * option is the node's variant (its averaged flow delta is unused). */
#ifndef RIFE_RIFE_H
#define RIFE_RIFE_H

#include <stdbool.h>

#include "runtime/io/weightfile.h"

typedef struct rife rife;

/* Weights from rife47.pth / rife49.pth / flownet.pkl ("module." prefix) or safetensors. */
wr_status rife_load(rife **out, const wr_weightfile *wf);
void rife_free(rife *m);

/* img0, img1: planar RGB [3, h, w] in [0, 1]; out: [3, h, w] at time t in (0, 1).
 * scale_factor: 0.25 .. 4 (the node's option; 1 by default); WR_E_UNSUPPORTED where the padding
 * multiple 64 is not a multiple of 32 / scale_factor (0.25: the node fails there too). On a GPU backend the
 * images stay in device memory and a model runs one interpolation at a time (its buffer pool). */
wr_status rife_interpolate(const rife *m, const float *img0, const float *img1, int h, int w, float t,
                           float scale_factor, bool ensemble, float *out);

/* Tests only: keep rife_interpolate's images in host memory on a GPU backend too, so every op
 * stages its operands (the reference the device-resident forward is compared with bit for bit).
 * Process-wide; set it between interpolations. */
void rife_set_host_images(bool on);

#endif
