/*
 * term.h - graceful shutdown: SIGINT/SIGTERM set a flag that run loops poll.
 * The handler only stores to a volatile sig_atomic_t; a second signal while
 * shutting down is ignored by the handler (loops keep their bounded flushes).
 */
#ifndef ECOM_TERM_H
#define ECOM_TERM_H

/* Installs handlers for SIGINT and SIGTERM and ignores SIGPIPE. */
void term_install(void);
/* Non-zero once a stop was requested (signal or term_request()). */
int term_requested(void);
/* Asks the run loops to stop, e.g. after a fatal error or --duration. */
void term_request(void);
/* The signal that requested the stop, or 0. */
int term_signal(void);

#endif
