/* The monitor's pure helpers: the two loss measures, and the alert (its text and its JSON body,
 * the one place of the module that includes jansson). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "risk.h"

#define BPS_PER_UNIT 10000 /* a basis point is 1/10000 */

__extension__ typedef __int128 i128; /* as ledger/led_money.c: GCC and clang */

/* floor((base - equity) * 10000 / base), or 0 when there is nothing to lose. Exact: the
 * difference and its product with 10000 fit in 128 bits for any int64_t pair. */
static int64_t loss_bps(int64_t base_e8, int64_t equity_e8)
{
    if (base_e8 <= 0) return 0;
    if (equity_e8 >= base_e8) return 0;
    i128 lost = (i128)base_e8 - (i128)equity_e8;
    TK_ASSERT(lost > 0);
    i128 bps = lost * BPS_PER_UNIT / (i128)base_e8; /* both positive: truncation is floor */
    TK_ASSERT(bps >= 0);
    return bps > (i128)INT64_MAX ? INT64_MAX : (int64_t)bps;
}

int64_t risk_drawdown_bps(int64_t peak_e8, int64_t equity_e8)
{
    return loss_bps(peak_e8, equity_e8);
}

int64_t risk_daily_loss_bps(int64_t sod_e8, int64_t equity_e8)
{
    return loss_bps(sod_e8, equity_e8);
}

tk_err risk_webhook_body(const char *chat_id, const char *text, char **out_json)
{
    TK_ASSERT(chat_id != NULL);
    TK_ASSERT(text != NULL);
    TK_ASSERT(out_json != NULL);
    json_error_t error;
    /* json_pack_ex refuses text that is not valid UTF-8, and says so in error's code */
    json_t *doc = json_pack_ex(&error, 0, "{s:s, s:s}", "chat_id", chat_id, "text", text);
    if (doc == NULL)
        return json_error_code(&error) == json_error_invalid_utf8 ? TK_EINVAL : TK_ENOMEM;
    char *json = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(doc);
    if (json == NULL) return TK_ENOMEM;
    TK_ASSERT(json[0] == '{');
    *out_json = json;
    return TK_OK;
}

/* Copy text into out (cut to fit), with bytes outside printable ASCII as '?'. */
static void printable_copy(char *out, size_t out_size, const char *text, size_t text_max)
{
    TK_ASSERT(out_size > 0);
    size_t n = strnlen(text, text_max);
    if (n > out_size - 1u) n = out_size - 1u;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)text[i];
        out[i] = ch >= 0x20u && ch < 0x7fu ? (char)ch : '?';
    }
    out[n] = '\0';
}

bool risk_alert_text(const led_commit *c, char *out, size_t out_size)
{
    TK_ASSERT(c != NULL);
    TK_ASSERT(out != NULL && out_size >= 64u);
    if (c->outcome.result != LED_APPLIED) return false;
    char reason[LED_TEXT_BYTES];
    char symbol[LED_SYMBOL_BYTES];
    unsigned long long index = (unsigned long long)c->index;
    if (c->ev.type == LED_EV_KILL_SWITCH_SET) {
        const struct led_ev_kill_switch_set *k = &c->ev.u.kill_switch_set;
        printable_copy(reason, sizeof(reason), k->reason, sizeof(k->reason));
        snprintf(out, out_size, "troika: KillSwitchSet %s at ledger index %llu: %s",
                 k->on ? "on" : "off", index, reason[0] != '\0' ? reason : "(no reason)");
        return true;
    }
    if (c->ev.type == LED_EV_CIRCUIT_BREAKER_SET) {
        const struct led_ev_circuit_breaker_set *b = &c->ev.u.circuit_breaker_set;
        printable_copy(reason, sizeof(reason), b->reason, sizeof(b->reason));
        printable_copy(symbol, sizeof(symbol), b->symbol, sizeof(b->symbol));
        snprintf(out, out_size, "troika: CircuitBreakerSet %s %s at ledger index %llu: %s", symbol,
                 b->tripped ? "tripped" : "reset", index,
                 reason[0] != '\0' ? reason : "(no reason)");
        return true;
    }
    return false;
}
