/* Sinusoidal timestep embedding (wan/modules/model.py sinusoidal_embedding_1d), in float64:
 * f_j = 10000^(−j/half), out = [cos(t·f), sin(t·f)] — cos first. */
#include <math.h>

#include "runtime/cpu/cpu_ops.h"

void cpu_timestep_embedding(const wr_tensor *t, wr_tensor *out)
{
    int64_t half = out->ne[0] / 2, n = wr_tensor_nelements(t);
    const float *tv = t->data;
    for (int64_t i = 0; i < n; i++) {
        float *row = wr_tensor_row(out, i);
        for (int64_t j = 0; j < half; j++) {
            double a = (double)tv[i] * pow(10000.0, -(double)j / (double)half);
            row[j] = (float)cos(a);
            row[half + j] = (float)sin(a);
        }
    }
}
