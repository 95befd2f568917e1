/*
 * ini.h - the INI-style configuration files of ecom-scheduler
 * (scheduler/dags.conf) and ecom-alerts (monitoring/alerts/rules.conf):
 * one line at a time into a blank, a [kind name] section header or a
 * key = value pair, and the value types they share (booleans, durations,
 * names). Pure; the caller keeps the line numbers and says what is wrong
 * with file:line.
 *
 * Format: '#' or ';' starts a comment line; a value may end in a comment
 * introduced by " #". Surrounding blanks are trimmed everywhere.
 */
#ifndef ECOM_INI_H
#define ECOM_INI_H

#include <stddef.h>
#include <stdint.h>

typedef enum { INI_BLANK, INI_SECTION, INI_PAIR, INI_ERROR } ini_kind_t;

typedef struct {
    ini_kind_t kind;
    char *a;         /* section kind, or key */
    char *b;         /* section name, or value */
    const char *why; /* INI_ERROR: what is wrong */
} ini_item_t;

/* Splits line (modified in place, no newline) into *out. */
void ini_parse_line(char *line, ini_item_t *out);

/* true/yes/on, false/no/off. 0, or -1. */
int ini_bool(const char *v, int *out);
/* N (seconds), Ns, Nm, Nh, Nd into milliseconds, at most max_ms. 0, or -1. */
int ini_duration_ms(const char *v, int64_t max_ms, int64_t *ms);
/* A name of letters, digits, '_', '-' and '.', 1 to max_len characters. */
int ini_valid_name(const char *s, size_t max_len);

#endif
