/*
 * daemon.h - `ecom-scheduler run`: the daemon loop (see daemon.c).
 */
#ifndef ECOM_DAEMON_H
#define ECOM_DAEMON_H

#include "dag.h"

#include <stdint.h>

typedef struct {
    const char *conninfo;    /* NULL: PG* variables */
    int parallelism;         /* tries at once */
    int64_t poll_ms;         /* a pass per DAG at least this often */
    int64_t heartbeat_ms;
    int64_t zombie_ms;       /* a scheduler silent this long is dead */
    int64_t grace_ms;        /* on a stop, running tries get this long */
    int connect_wait_ms;     /* at start-up, -1: forever */
} daemon_opts_t;

/* Runs until SIGINT/SIGTERM. 0 after a clean stop, 1 when the database
 * could not be had at start-up or ends were left unrecorded. */
int daemon_run(const dag_file_t *f, const daemon_opts_t *o);

#endif
