/*
 * config.h - configuration plumbing shared by the daemons: the .env file,
 * typed environment lookups, range-checked number parsing for flags, and the
 * usage-error exit (status 2) every daemon uses.
 *
 * Order of precedence: built-in defaults < .env < process environment < flags.
 * config_load_env_file() therefore never overrides a variable that is already
 * set, and daemons apply their flags after reading the environment.
 */
#ifndef ECOM_CONFIG_H
#define ECOM_CONFIG_H

#include <stddef.h>
#include <stdint.h>

/* Exit status for usage errors (bad flag, bad value, bad combination). */
#define CONFIG_EXIT_USAGE 2

/* Loads KEY=VALUE lines from path into the environment, without overriding
 * variables already set. Blank lines and '#' comments are skipped; "export "
 * prefixes and single or double quotes around the value are accepted. A '#'
 * after whitespace starts a trailing comment, except inside quotes. An
 * unterminated quote or a line over 4094 bytes is a malformed line.
 * path NULL means $ECOM_ENV_FILE, else ".env" in the working directory.
 * A missing file is not an error (returns 0) unless it was named explicitly.
 * Returns the number of variables set, or -1 with errbuf filled. */
int config_load_env_file(const char *path, char *errbuf, size_t errsize);

/* Strict parsers: the whole text must be a number within [min, max].
 * Return 0 on success, -1 otherwise (out untouched). */
int config_parse_int64(const char *text, int64_t min, int64_t max, int64_t *out);
int config_parse_double(const char *text, double min, double max, double *out);

/* Like the parsers, for a flag: on failure prints
 *   invalid value "abc" for option -r/--rate
 *   Try "<prog> --help" for more information.
 * to stderr and exits with CONFIG_EXIT_USAGE. opt is e.g. "-r/--rate". */
int64_t config_flag_int64(const char *text, int64_t min, int64_t max,
                          const char *opt);
double config_flag_double(const char *text, double min, double max,
                          const char *opt);

/* Prints "<prog>: <message>" and the --help hint to stderr, exits 2. */
void config_usage_error(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));

/* Sets the program name used in usage errors (defaults to "ecom"). */
void config_set_progname(const char *name);
const char *config_progname(void);

/* Start-up every daemon shares: sets the program name for usage errors and
 * logs, loads .env (a malformed file is a usage error, exit 2) and reads
 * LOG_LEVEL, which may come from .env. */
void config_start(const char *progname);

/* Reports a getopt_long() failure (c is ':' for a missing value, anything
 * else for an unknown option) as a usage error; opterr must be 0. */
void config_getopt_error(int c, char **argv) __attribute__((noreturn));

/* Strips leading and trailing whitespace in place; returns the start. */
char *config_trim(char *s);

/* Environment lookups: the value, or def when unset or empty. */
const char *config_env_str(const char *name, const char *def);

#endif
