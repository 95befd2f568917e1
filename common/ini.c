/*
 * ini.c - INI lines and their value types (see ini.h).
 */
#include "ini.h"
#include "config.h"

#include <ctype.h>
#include <string.h>

void ini_parse_line(char *line, ini_item_t *out)
{
    char *s = config_trim(line), *eq, *hash;

    *out = (ini_item_t){INI_BLANK, NULL, NULL, NULL};
    if (*s == '\0' || *s == '#' || *s == ';')
        return;
    if (*s == '[') {
        char *end = strchr(s, ']'), *name;

        if (end == NULL || config_trim(end + 1)[0] != '\0') {
            *out = (ini_item_t){INI_ERROR, NULL, NULL, "a section header must end with ]"};
            return;
        }
        *end = '\0';
        s = config_trim(s + 1);
        name = strchr(s, ' ');
        if (name == NULL) {
            *out = (ini_item_t){INI_ERROR, NULL, NULL, "expected [KIND NAME]"};
            return;
        }
        *name++ = '\0';
        *out = (ini_item_t){INI_SECTION, s, config_trim(name), NULL};
        return;
    }
    eq = strchr(s, '=');
    if (eq == NULL) {
        *out = (ini_item_t){INI_ERROR, NULL, NULL, "expected KEY = VALUE"};
        return;
    }
    *eq = '\0';
    if ((hash = strstr(eq + 1, " #")) != NULL)
        *hash = '\0';
    *out = (ini_item_t){INI_PAIR, config_trim(s), config_trim(eq + 1), NULL};
    if (out->a[0] == '\0')
        *out = (ini_item_t){INI_ERROR, NULL, NULL, "a key is missing before ="};
}

int ini_bool(const char *v, int *out)
{
    if (strcmp(v, "true") == 0 || strcmp(v, "yes") == 0 || strcmp(v, "on") == 0)
        return *out = 1, 0;
    if (strcmp(v, "false") == 0 || strcmp(v, "no") == 0 || strcmp(v, "off") == 0)
        return *out = 0, 0;
    return -1;
}

int ini_duration_ms(const char *v, int64_t max_ms, int64_t *ms)
{
    char num[32];
    size_t n = strlen(v);
    int64_t unit = 1000, x;

    if (n == 0 || n >= sizeof(num))
        return -1;
    memcpy(num, v, n + 1);
    switch (num[n - 1]) {
    case 's': unit = 1000; num[--n] = '\0'; break;
    case 'm': unit = 60000; num[--n] = '\0'; break;
    case 'h': unit = 3600000; num[--n] = '\0'; break;
    case 'd': unit = 86400000; num[--n] = '\0'; break;
    default: break;
    }
    if (config_parse_int64(num, 0, max_ms / unit, &x) != 0)
        return -1;
    *ms = x * unit;
    return 0;
}

int ini_valid_name(const char *s, size_t max_len)
{
    size_t n = strlen(s);

    if (n == 0 || n > max_len)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '_' && s[i] != '-' && s[i] != '.')
            return 0;
    return 1;
}
