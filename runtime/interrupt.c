/* See interrupt.h. */
#include "runtime/interrupt.h"

#include <signal.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t requested;

static void on_signal(int sig)
{
    if (requested) { /* second signal: the user means it */
        signal(sig, SIG_DFL);
        raise(sig);
        return;
    }
    requested = 1;
    static const char msg[] = "\nwanrt: stopping after the current step (press Ctrl-C again to abort now)\n";
    ssize_t ignored = write(STDERR_FILENO, msg, sizeof msg - 1);
    (void)ignored;
}

void wr_interrupt_install(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

bool wr_interrupted(void) { return requested != 0; }

void wr_interrupt_raise(void) { requested = 1; }

void wr_interrupt_clear(void) { requested = 0; }
