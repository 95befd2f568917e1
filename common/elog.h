/*
 * elog.h - leveled logging to stderr for every ecom daemon.
 *
 * One line per event: "2026-11-25T16:19:25.123Z ecom-stream INFO: message".
 * The level comes from LOG_LEVEL (error, warn, info, debug) or elog_set_level().
 * The macros skip argument evaluation when the level is off. Thread-safe: each
 * line is formatted into a local buffer and written with one write(2).
 * Owns no allocations.
 */
#ifndef ECOM_ELOG_H
#define ECOM_ELOG_H

#include <stdarg.h>

typedef enum {
    ELOG_ERROR = 0,
    ELOG_WARN = 1,
    ELOG_INFO = 2,
    ELOG_DEBUG = 3,
} elog_level_t;

/* Sets the daemon name shown on every line and reads LOG_LEVEL.
 * Returns -1 (and keeps "info") when LOG_LEVEL holds an unknown name. */
int elog_init(const char *daemon_name);
void elog_set_level(elog_level_t level);
elog_level_t elog_get_level(void);
/* Parses "error", "warn"/"warning", "info", "debug". Returns -1 if unknown. */
int elog_parse_level(const char *name, elog_level_t *out);
const char *elog_daemon_name(void);

void elog_write(elog_level_t level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void elog_vwrite(elog_level_t level, const char *fmt, va_list ap);

#define ELOG_AT(lvl, ...)                                                      \
    do {                                                                       \
        if ((lvl) <= elog_get_level())                                         \
            elog_write((lvl), __VA_ARGS__);                                    \
    } while (0)

#define LOG_ERROR(...) ELOG_AT(ELOG_ERROR, __VA_ARGS__)
#define LOG_WARN(...) ELOG_AT(ELOG_WARN, __VA_ARGS__)
#define LOG_INFO(...) ELOG_AT(ELOG_INFO, __VA_ARGS__)
#define LOG_DEBUG(...) ELOG_AT(ELOG_DEBUG, __VA_ARGS__)

#endif
