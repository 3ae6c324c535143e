/* Error texts and family names shared by the files of storage/. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "es_internal.h"

const char *es__family_name(es__family family)
{
    switch (family) {
    case ES__FAMILY_EVENTS:
        return "events";
    case ES__FAMILY_STATE:
        return "state";
    case ES__FAMILY_META:
        return "meta";
    }
    TK_ASSERT(false && "family outside the enum");
    return "?";
}

tk_err es__fail(es_error *why, tk_err err, const char *fmt, ...)
{
    TK_ASSERT(err != TK_OK);
    TK_ASSERT(fmt != NULL);
    if (why == NULL) return err;
    va_list args;
    va_start(args, fmt);
    (void)vsnprintf(why->text, sizeof(why->text), fmt, args);
    va_end(args);
    return err;
}

tk_err es__fail_wrap(es_error *why, tk_err err, const char *fmt, ...)
{
    TK_ASSERT(err != TK_OK);
    TK_ASSERT(fmt != NULL);
    if (why == NULL) return err;
    es_error inner;
    memcpy(&inner, why, sizeof(inner));
    inner.text[sizeof(inner.text) - 1u] = '\0';
    va_list args;
    va_start(args, fmt);
    int used = vsnprintf(why->text, sizeof(why->text), fmt, args);
    va_end(args);
    if (used < 0) used = 0;
    size_t at = (size_t)used < sizeof(why->text) ? (size_t)used : sizeof(why->text) - 1u;
    /* append ": " and the old text, cut to fit (by hand: the cut is intended) */
    const char *tail[2] = {": ", inner.text};
    for (unsigned part = 0; part < 2u; part++) {
        size_t len = strlen(tail[part]);
        size_t room = sizeof(why->text) - 1u - at;
        size_t n = len < room ? len : room;
        memcpy(why->text + at, tail[part], n);
        at += n;
    }
    why->text[at] = '\0';
    TK_ASSERT(at < sizeof(why->text));
    return err;
}
