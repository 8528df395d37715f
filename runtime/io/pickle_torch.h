/* The torch-specific meaning of pickle persistent ids and REDUCE calls (internal to the pickle
 * VM, runtime/io/pickle.c). Reference: torch/serialization.py (persistent_id/persistent_load),
 * torch/_utils.py (_rebuild_tensor*, _rebuild_parameter*), torch/_tensor.py
 * (_rebuild_from_type_v2), /work/shared/specs/pth-format.md sections 3.3-3.4.
 *
 * Both functions write a one-line reason into msg on failure; the VM adds the file, the
 * record and the opcode's offset. */
#ifndef WR_PICKLE_TORCH_H
#define WR_PICKLE_TORCH_H

#include <stddef.h>

#include "runtime/io/pickle.h"

/* A new zeroed value of kind in the arena, NULL when out of memory. */
wr_pkl_value *wr_pkl_new_value(wr_pkl *arena, wr_pkl_kind kind);

/* BINPERSID: pid must be ('storage', <GLOBAL torch XxxStorage>, key, location, numel[, view]).
 * Errors: WR_E_FORMAT (another shape), WR_E_UNSUPPORTED (an unknown storage type). */
wr_status wr_pkl_torch_storage(wr_pkl *arena, const wr_pkl_value *pid, wr_pkl_value **out,
                               char *msg, size_t msg_len);

/* REDUCE: callable(*args) for the callables in pickle.h; anything else gives an inert object.
 * Errors: WR_E_FORMAT for a tensor-rebuild call with malformed arguments. */
wr_status wr_pkl_torch_call(wr_pkl *arena, const wr_pkl_value *callable, const wr_pkl_value *args,
                            wr_pkl_value **out, char *msg, size_t msg_len);

#endif
