/* Ctrl-C as a request, not a kill: the first SIGINT/SIGTERM only sets a flag that long loops
 * (denoising steps, frame streams) poll between units of work, so they stop cleanly, keep what
 * can be kept and leave no half-written file. A second signal terminates at once. */
#ifndef WR_INTERRUPT_H
#define WR_INTERRUPT_H

#include <stdbool.h>

/* Installs the handlers (idempotent). */
void wr_interrupt_install(void);

/* True once a stop was requested. */
bool wr_interrupted(void);

/* Requests a stop from inside the program (what the handler does; also used by tests). */
void wr_interrupt_raise(void);

/* Forgets a request (for the next job in the same process). */
void wr_interrupt_clear(void);

#endif
