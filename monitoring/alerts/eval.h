/*
 * eval.h - one evaluation of one rule: the instances its source shows
 * active right now, read from PostgreSQL (ecom-metrics' series, the
 * dead-letter and raw tables, ecom-quality's and ecom-scheduler's history,
 * ecom-stream's fraud and stock alerts) or from a /health URL. The queries
 * are the program's own, with the rule's numbers as parameters; each has
 * the caller's deadline.
 */
#ifndef ECOM_EVAL_H
#define ECOM_EVAL_H

#include "astate.h"
#include "httpget.h"
#include "rules.h"

#include <libpq-fe.h>

/* Observes every active instance of r into s (ast_begin/ast_observe; the
 * caller calls ast_end). Returns 0 when the source could be read, -1 with
 * the reason in err when not (then nothing may resolve). conn may be NULL
 * (PostgreSQL down): the PostgreSQL kinds then fail. */
int eval_rule(const rule_t *r, PGconn *conn, hget_t *http, ast_set_t *s, int64_t now, int timeout_ms,
              char *err, size_t errsize);

#endif
