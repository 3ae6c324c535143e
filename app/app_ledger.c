/* What the ledger subcommands (gen-events, audit verify, replay, export) share: opening a
 * store, hex and time formatting, and parsing of numbers and ISO 8601 times. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "app.h"

int app_store_open(const char *cmd, const char *data_dir, bool create, es_store **out)
{
    if (data_dir == NULL) {
        fprintf(stderr, "troika %s: --data-dir is required (see --help)\n", cmd);
        return APP_EXIT_USAGE;
    }
    es_opts opts = {
        .path = data_dir, .create_if_missing = create, .sync = false, .cluster_id = NULL};
    es_error why = {{0}};
    tk_err err = es_open(&opts, out, &why);
    if (err == TK_OK) return APP_EXIT_OK;
    /* why names the directory */
    fprintf(stderr, "troika %s: cannot open the store: %s (%s)\n", cmd, why.text, tk_err_name(err));
    return APP_EXIT_FAIL;
}

void app_hex(const uint8_t *bytes, size_t size, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < size; i++) {
        out[2u * i] = digits[bytes[i] >> 4];
        out[2u * i + 1u] = digits[bytes[i] & 15u];
    }
    out[2u * size] = '\0';
}

tk_err app_replay(es_store *store, const es_replay_opts *opts, led_state **out_state,
                  es_replay_result *res, es_error *why)
{
    TK_ASSERT(store != NULL && opts != NULL && out_state != NULL && res != NULL);
    led_state *state = NULL;
    if (led_state_open(&state) != TK_OK) {
        snprintf(why->text, sizeof(why->text), "out of memory for the ledger state");
        return TK_ENOMEM;
    }
    tk_err err = es_replay(store, state, opts, res, why);
    if (err != TK_OK && err != TK_ECORRUPT) {
        led_state_close(state);
        return err;
    }
    *out_state = state;
    return err;
}

void app_state_hash_hex(const led_state *state, char out[APP_HASH_HEX_BYTES])
{
    uint8_t hash[LED_HASH_BYTES];
    led_state_hash(state, hash);
    app_hex(hash, sizeof(hash), out);
}

void app_time_format(int64_t ts_ns, char out[APP_TIME_BYTES])
{
    int64_t secs = ts_ns / 1000000000LL;
    int64_t ns = ts_ns % 1000000000LL;
    if (ns < 0) {
        ns += 1000000000LL;
        secs--;
    }
    time_t t = (time_t)secs;
    struct tm tm;
    if (gmtime_r(&t, &tm) == NULL) {
        snprintf(out, APP_TIME_BYTES, "%lld", (long long)ts_ns);
        return;
    }
    size_t n = strftime(out, APP_TIME_BYTES, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, APP_TIME_BYTES - n, ".%09lldZ", (long long)ns);
}

bool app_parse_u64(const char *text, uint64_t *out)
{
    if (text == NULL || text[0] < '0' || text[0] > '9') return false;
    char *end = NULL;
    errno = 0;
    unsigned long long value = strtoull(text, &end, 10);
    if (errno != 0 || *end != '\0') return false;
    *out = value;
    return true;
}

/* Days since 1970-01-01 of a proleptic Gregorian date: Howard Hinnant's days_from_civil
 * ("chrono-Compatible Low-Level Date Algorithms", 2013), the formula restated. */
static int64_t days_from_civil(int64_t y, int64_t m, int64_t d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* n decimal digits at *p into *out, advancing p. */
static bool digits(const char **p, int n, int64_t *out)
{
    int64_t value = 0;
    for (int i = 0; i < n; i++) {
        char c = (*p)[i];
        if (c < '0' || c > '9') return false;
        value = value * 10 + (c - '0');
    }
    *p += n;
    *out = value;
    return true;
}

bool app_parse_time(const char *text, int64_t *out_ts_ns)
{
    const char *p = text;
    int64_t y, mo, d, h = 0, mi = 0, s = 0, frac = 0;
    if (!digits(&p, 4, &y) || *p++ != '-' || !digits(&p, 2, &mo) || *p++ != '-' ||
        !digits(&p, 2, &d))
        return false;
    if (*p == 'T') {
        p++;
        if (!digits(&p, 2, &h) || *p++ != ':' || !digits(&p, 2, &mi) || *p++ != ':' ||
            !digits(&p, 2, &s))
            return false;
        if (*p == '.') {
            p++;
            int n = 0;
            for (; n < 9 && p[n] >= '0' && p[n] <= '9'; n++)
                frac = frac * 10 + (p[n] - '0');
            if (n == 0 || (p[n] >= '0' && p[n] <= '9')) return false;
            for (int k = n; k < 9; k++)
                frac *= 10;
            p += n;
        }
        if (*p++ != 'Z') return false;
    }
    if (*p != '\0' || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60)
        return false;
    int64_t secs = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s;
    if (secs < 0 || secs > INT64_MAX / 1000000000LL - 1) return false;
    *out_ts_ns = secs * 1000000000LL + frac;
    return true;
}
