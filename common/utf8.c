/*
 * utf8.c - UTF-8 validation and cutting (see utf8.h).
 */
#include "utf8.h"

#include <stdint.h>

size_t utf8_char_len(const unsigned char *s, size_t avail)
{
    uint32_t cp;
    size_t n;

    if (avail == 0)
        return 0;
    if (s[0] < 0x80)
        return 1;
    if ((s[0] & 0xe0) == 0xc0)
        n = 2, cp = s[0] & 0x1f;
    else if ((s[0] & 0xf0) == 0xe0)
        n = 3, cp = s[0] & 0x0f;
    else if ((s[0] & 0xf8) == 0xf0)
        n = 4, cp = s[0] & 0x07;
    else
        return 0;
    if (n > avail)
        return 0;
    for (size_t k = 1; k < n; k++) {
        if ((s[k] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (s[k] & 0x3f);
    }
    if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
        (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
        return 0;
    return n;
}

int utf8_is_text(const void *s, size_t len)
{
    const unsigned char *p = s;
    size_t i = 0;

    while (i < len) {
        size_t n;

        if (p[i] == 0)
            return 0;
        if (p[i] < 0x80) { /* the common case, without a call */
            i++;
            continue;
        }
        n = utf8_char_len(p + i, len - i);
        if (n == 0)
            return 0;
        i += n;
    }
    return 1;
}

size_t utf8_cut(const void *s, size_t len, size_t max)
{
    const unsigned char *p = s;
    size_t n = len < max ? len : max;

    if (n == len)
        return n;
    /* p[n] is the first byte left out: back up while it continues a
     * character that starts before it. */
    for (int k = 0; k < 3 && n > 0 && (p[n] & 0xc0) == 0x80; k++)
        n--;
    return n;
}
