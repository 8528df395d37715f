/* Write-then-rename: outputs appear under their final name only when complete. */
#ifndef WR_ATOMIC_FILE_H
#define WR_ATOMIC_FILE_H

#include <stddef.h>

#include "runtime/err.h"

/* Fills tmp with a temporary sibling of path ("<dir>/.<name>.tmp-<pid>-<n><ext>", keeping the
 * extension so format guessers still work). Errors: WR_E_ARG when it does not fit. */
wr_status wr_atomic_tmp_name(const char *path, char *tmp, size_t len);
/* Renames tmp to path; on failure removes tmp and reports both names. */
wr_status wr_atomic_commit(const char *tmp, const char *path);
/* Removes tmp (after a failed write); never fails. */
void wr_atomic_abandon(const char *tmp);

#endif
