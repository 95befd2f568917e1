/*
 * utf8.h - the one UTF-8 validator: which bytes PostgreSQL's text columns
 * (UTF-8 database) accept, character by character and whole strings, and
 * where to cut text without splitting a character.
 *
 * Valid means the shortest form of a code point up to U+10FFFF, not a
 * surrogate (RFC 3629). NUL is a valid character, but text() rejects it
 * since a text column cannot hold it. Pure functions, no allocation.
 */
#ifndef ECOM_UTF8_H
#define ECOM_UTF8_H

#include <stddef.h>

/* Length (1 to 4) of the valid character at s[0..avail), or 0 when s does
 * not start one (stray continuation byte, truncated or overlong sequence,
 * surrogate, beyond U+10FFFF) or avail is 0. Reads at most avail bytes. */
size_t utf8_char_len(const unsigned char *s, size_t avail);

/* 1 if s[0..len) is valid UTF-8 without NUL bytes, else 0. */
int utf8_is_text(const void *s, size_t len);

/* The length of the longest prefix of s[0..len) that is at most max bytes
 * and does not end inside a character: max (or len, when shorter) backed
 * up over at most three continuation bytes. For cutting valid text; on
 * other bytes it still never returns more than max. */
size_t utf8_cut(const void *s, size_t len, size_t max);

#endif
