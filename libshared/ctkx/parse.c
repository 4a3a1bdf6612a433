/*
 * parse.c: the one checked parser for every number a user types. Each
 * parser accepts only plain ASCII digits (no sign, no spaces, no hex) so
 * that "-1" never wraps to a huge count, and writes a short reason the tool
 * can print after the option's name.
 */
#include <errno.h>
#include <glib.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctkx/parse.h"

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Writes the reason and passes the code through, so callers can
 * `return fail(...)`. why may be NULL when the caller does not care. */
__attribute__((format(printf, 4, 5))) static int fail(int code, char *why, size_t why_len,
                                                      const char *fmt, ...)
{
    if (why != NULL && why_len > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why, why_len, fmt, ap);
        va_end(ap);
    }
    return code;
}

/* Leading digits of text into *v; *end points past them. strtoull alone
 * would skip spaces and accept a sign, hence the first-character check. */
static int parse_digits(const char *text, uint64_t max, const char **end, uint64_t *v, char *why,
                        size_t why_len)
{
    if (text == NULL || !is_digit(text[0]))
        return fail(CTK_EINVAL, why, why_len, "not a number");
    char *stop;
    errno = 0;
    unsigned long long n = strtoull(text, &stop, 10);
    if (errno == ERANGE)
        return fail(CTK_ERANGE, why, why_len, "too large (at most %" PRIu64 ")", max);
    *end = stop;
    *v = n;
    return 0;
}

static int check_range(uint64_t v, uint64_t min, uint64_t max, char *why, size_t why_len)
{
    if (v < min)
        return fail(CTK_ERANGE, why, why_len, "must be at least %" PRIu64, min);
    if (v > max)
        return fail(CTK_ERANGE, why, why_len, "too large (at most %" PRIu64 ")", max);
    return 0;
}

int ctk_parse_u64(const char *text, uint64_t min, uint64_t max, uint64_t *out, char *why,
                  size_t why_len)
{
    const char *end;
    uint64_t v;
    int rc = parse_digits(text, max, &end, &v, why, why_len);
    if (rc < 0)
        return rc;
    if (*end != '\0')
        return fail(CTK_EINVAL, why, why_len, "not a number");
    rc = check_range(v, min, max, why, why_len);
    if (rc == 0)
        *out = v;
    return rc;
}

/* The factor a size suffix stands for under the rules, or 0 when it is
 * none they know. CTK_SIZE_PARALLEL is GNU parallel's
 * multiply_binary_prefix for one suffix. */
static uint64_t size_factor(const char *s, ctk_size_rules rules)
{
    static const char units[] = "kmgtp";
    if (s[0] == '\0')
        return 1;
    const char *at = strchr(units, g_ascii_tolower(s[0]));
    if (at == NULL)
        return 0;
    int binary;
    if (rules == CTK_SIZE_PARALLEL) {
        if (s[1] != '\0' && !(s[1] == 'i' && s[2] == '\0'))
            return 0;
        binary = s[1] == 'i' || g_ascii_isupper(s[0]);
    } else {
        /* k or K, then M, G, T: uppercase only, all binary. */
        if (s[1] != '\0' || *at == 'p' || (s[0] != 'k' && !g_ascii_isupper(s[0])))
            return 0;
        binary = 1;
    }
    uint64_t f = 1;
    for (const char *u = units; u <= at; u++)
        f *= binary ? 1024 : 1000;
    return f;
}

int ctk_parse_size(const char *text, ctk_size_rules rules, uint64_t min, uint64_t max,
                   uint64_t *out, char *why, size_t why_len)
{
    const char *end;
    uint64_t whole;
    int rc = parse_digits(text, max, &end, &whole, why, why_len);
    if (rc < 0)
        return rc;
    const char *frac = NULL;
    if (rules == CTK_SIZE_PARALLEL && *end == '.') {
        frac = ++end;
        while (is_digit(*end))
            end++;
    }
    uint64_t f = size_factor(end, rules);
    if (f == 0)
        return fail(CTK_EINVAL, why, why_len, "unknown suffix '%.8s' (use %s)", end,
                    rules == CTK_SIZE_PARALLEL ? "k=1000, K=1024, m, M, g, G, t, T"
                                               : "k, M, G or T");
    /* Checked before multiplying: a product that drops high bits would wrap. */
    if (whole > UINT64_MAX / f)
        return fail(CTK_ERANGE, why, why_len, "too large (at most %" PRIu64 ")", max);
    uint64_t v = whole * f;
    /* The fraction's share of the factor, in integers ("0.1M" is 104857,
     * as parallel's int() of the product). */
    unsigned __int128 num = 0, den = 1;
    for (const char *d = frac; d != NULL && is_digit(*d) && den < UINT64_C(1000000000000000000);
         d++) {
        num = num * 10 + (unsigned)(*d - '0');
        den *= 10;
    }
    v += (uint64_t)(num * f / den);
    rc = check_range(v, min, max, why, why_len);
    if (rc == 0)
        *out = v;
    return rc;
}

/* digits [. digits], at least one digit: no sign, exponent, hex, nan, inf
 * or spaces, all of which strtod would otherwise take. */
static int is_decimal(const char *s)
{
    size_t digits = 0;
    while (is_digit(*s)) {
        s++;
        digits++;
    }
    if (*s == '.') {
        s++;
        while (is_digit(*s)) {
            s++;
            digits++;
        }
    }
    return *s == '\0' && digits > 0;
}

int ctk_parse_seconds(const char *text, double max, double *out, char *why, size_t why_len)
{
    if (text == NULL || !is_decimal(text))
        return fail(CTK_EINVAL, why, why_len, "not a number of seconds");
    /* g_ascii_strtod: "0.5" must not depend on the user's LC_NUMERIC. */
    double v = g_ascii_strtod(text, NULL);
    if (!isfinite(v))
        return fail(CTK_ERANGE, why, why_len, "too large (at most %.15g)", max);
    if (v > max)
        return fail(CTK_ERANGE, why, why_len, "too large (at most %.15g)", max);
    *out = v;
    return 0;
}

/* "N%" of cores, rounding down but never below one job. */
static int jobs_percent(uint64_t pct, unsigned cores, unsigned max, unsigned *out, char *why,
                        size_t why_len)
{
    if (pct == 0)
        return fail(CTK_ERANGE, why, why_len, "must be at least 1%%");
    uint64_t c = cores > 0 ? cores : 1;
    if (pct > UINT64_MAX / c)
        return fail(CTK_ERANGE, why, why_len, "too large (at most %u)", max);
    uint64_t n = c * pct / 100;
    if (n < 1)
        n = 1;
    if (n > max)
        return fail(CTK_ERANGE, why, why_len, "too large (at most %u)", max);
    *out = (unsigned)n;
    return 0;
}

int ctk_parse_jobs(const char *text, unsigned cores, unsigned max, unsigned *out, char *why,
                   size_t why_len)
{
    const char *end;
    uint64_t v;
    int rc = parse_digits(text, max, &end, &v, why, why_len);
    if (rc < 0)
        return rc;
    if (end[0] == '%' && end[1] == '\0')
        return jobs_percent(v, cores, max, out, why, why_len);
    if (*end != '\0')
        return fail(CTK_EINVAL, why, why_len, "not a number (use N or N%%)");
    rc = check_range(v, 1, max, why, why_len);
    if (rc == 0)
        *out = (unsigned)v;
    return rc;
}

unsigned ctk_cpu_count(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 1)
        return 1;
    if ((unsigned long)n > UINT_MAX)
        return UINT_MAX;
    return (unsigned)n;
}

/* GNU parallel's durations: seconds, or numbers with s, m, h, d
 * postfixes, added up ("1h30m", "2.5s"). */
int ctk_parse_duration(const char *v, double *out, char *why, size_t why_len)
{
    double total = 0;
    const char *p = v;
    do {
        char *end;
        errno = 0;
        double n = g_ascii_strtod(p, &end);
        int unit = 1;
        if (end == p || errno != 0 || n < 0 || !isfinite(n))
            goto bad;
        switch (*end) {
        case 's':
            unit = 1;
            end++;
            break;
        case 'm':
            unit = 60;
            end++;
            break;
        case 'h':
            unit = 3600;
            end++;
            break;
        case 'd':
            unit = 86400;
            end++;
            break;
        case '\0':
            break;
        default:
            goto bad;
        }
        total += n * unit;
        p = end;
    } while (*p != '\0');
    *out = total;
    return 0;
bad:
    snprintf(why, why_len, "not a duration (seconds, or with s, m, h, d: 1m30s)");
    return CTK_EINVAL;
}
