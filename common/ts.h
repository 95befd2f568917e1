/*
 * ts.h - time helpers: wall clock and monotonic milliseconds, RFC 3339 UTC
 * formatting and parsing with milliseconds. Pure functions, no state.
 */
#ifndef ECOM_TS_H
#define ECOM_TS_H

#include <stdint.h>

/* "2024-01-15T10:30:00.123Z" plus NUL. */
#define TS_RFC3339_LEN 25

int64_t ts_now_ms(void);       /* wall clock, ms since the Unix epoch */
int64_t ts_monotonic_ms(void); /* monotonic clock, ms */
int64_t ts_monotonic_us(void); /* monotonic clock, us */

/* Formats epoch milliseconds as UTC "YYYY-MM-DDTHH:MM:SS.mmmZ".
 * Returns buf. Years outside 0000..9999 are clamped to that range. */
char *ts_format_rfc3339(int64_t epoch_ms, char buf[TS_RFC3339_LEN]);

/* Parses an RFC 3339 timestamp: date 'T' (or 't' or ' ') time, optional
 * fraction (any digits, kept to ms), then 'Z' or +hh:mm/-hh:mm. Validates
 * ranges (month, day of month incl. leap years, hour, minute, second 0-60).
 * Returns 0 and sets *epoch_ms, or -1 when the text is not a valid timestamp. */
int ts_parse_rfc3339(const char *text, int64_t *epoch_ms);

/* Sleeps until the monotonic clock reaches deadline_us, or at most max_ms. */
void ts_sleep_until_us(int64_t deadline_us, int max_ms);

#endif
