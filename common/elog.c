/*
 * elog.c - leveled stderr logging (see elog.h).
 * Owns the process-wide level and daemon name; nothing is allocated.
 */
#include "elog.h"
#include "ts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

static volatile elog_level_t current_level = ELOG_INFO;
static char daemon_name[64] = "ecom";

int elog_parse_level(const char *name, elog_level_t *out)
{
    static const struct {
        const char *name;
        elog_level_t level;
    } names[] = {
        {"error", ELOG_ERROR}, {"warn", ELOG_WARN}, {"warning", ELOG_WARN},
        {"info", ELOG_INFO},   {"debug", ELOG_DEBUG},
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (strcasecmp(name, names[i].name) == 0) {
            *out = names[i].level;
            return 0;
        }
    }
    return -1;
}

int elog_init(const char *name)
{
    const char *env = getenv("LOG_LEVEL");
    elog_level_t level;

    snprintf(daemon_name, sizeof(daemon_name), "%s", name);
    if (env == NULL || *env == '\0')
        return 0;
    if (elog_parse_level(env, &level) != 0) {
        current_level = ELOG_INFO;
        elog_write(ELOG_WARN, "invalid LOG_LEVEL \"%s\", using \"info\"", env);
        return -1;
    }
    current_level = level;
    return 0;
}

void elog_set_level(elog_level_t level) { current_level = level; }
elog_level_t elog_get_level(void) { return current_level; }
const char *elog_daemon_name(void) { return daemon_name; }

void elog_vwrite(elog_level_t level, const char *fmt, va_list ap)
{
    static const char *const level_names[] = {"ERROR", "WARN", "INFO", "DEBUG"};
    char line[4096];
    char stamp[TS_RFC3339_LEN];
    int len;
    int room;

    ts_format_rfc3339(ts_now_ms(), stamp);
    len = snprintf(line, sizeof(line), "%s %s %s: ", stamp, daemon_name,
                   level_names[level]);
    room = (int)sizeof(line) - len - 1;
    if (room > 0) {
        int n = vsnprintf(line + len, (size_t)room + 1, fmt, ap);
        len += n < 0 ? 0 : (n > room ? room : n);
    }
    if (len > (int)sizeof(line) - 2)
        len = (int)sizeof(line) - 2;
    /* One event, one line: library messages (libpq's) carry newlines. */
    while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == ' '))
        len--;
    for (int i = 0; i < len; i++)
        if (line[i] == '\n' || line[i] == '\t')
            line[i] = ' ';
    line[len++] = '\n';
    /* One write per line keeps lines from different threads whole. */
    if (write(STDERR_FILENO, line, (size_t)len) < 0) {
        /* Nowhere left to report it. */
    }
}

void elog_write(elog_level_t level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    elog_vwrite(level, fmt, ap);
    va_end(ap);
}
