/*
 * verdict.c - statuses from observed values (see verdict.h).
 */
#include "verdict.h"
#include "config.h"

#include <stdio.h>
#include <string.h>

verdict_status_t verdict_judge(int has_value, double observed, verdict_limits_t lim)
{
    if (!has_value || observed != observed) /* NaN: nothing judged */
        return VERDICT_FAIL;
    if (observed > lim.fail)
        return VERDICT_FAIL;
    return observed > lim.warn ? VERDICT_WARN : VERDICT_PASS;
}

const char *verdict_name(verdict_status_t s)
{
    static const char *const names[] = {"pass", "warn", "fail"};
    return (unsigned)s < 3 ? names[s] : "?";
}

int verdict_parse_limits(const char *text, verdict_limits_t *out, char *err, size_t errsize)
{
    char warn[64];
    const char *comma = strchr(text, ',');
    size_t n = comma ? (size_t)(comma - text) : strlen(text);
    verdict_limits_t lim;

    if (n == 0 || n >= sizeof(warn)) {
        snprintf(err, errsize, "expected WARN[,FAIL], got \"%.40s\"", text);
        return -1;
    }
    memcpy(warn, text, n);
    warn[n] = '\0';
    if (config_parse_double(warn, 0, 1e15, &lim.warn) != 0 ||
        (comma && config_parse_double(comma + 1, 0, 1e15, &lim.fail) != 0)) {
        snprintf(err, errsize, "expected numbers >= 0 as WARN[,FAIL], got \"%.40s\"", text);
        return -1;
    }
    if (!comma)
        lim.fail = lim.warn;
    if (lim.fail < lim.warn) {
        snprintf(err, errsize, "FAIL %g is below WARN %g in \"%.40s\"", lim.fail, lim.warn, text);
        return -1;
    }
    *out = lim;
    return 0;
}
