/* The checker of `troika chaos run` (chaos_internal.h, docs/chaos.md "The checker"): reads each
 * stopped node's store from its beginning, the workload's acknowledgements and the venue mock's
 * orders, and says, invariant by invariant, whether anything was lost, doubled or diverged.
 * It trusts nothing the nodes computed: positions and balances are folded again from the
 * deposits and fills in the log, and each store is audited by `troika audit verify`. */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "chaos_internal.h"
#include "es.h"

#define FOLD_MAX 32u /* assets and instruments the independent fold tracks */

extern char **environ;

typedef struct key_rec {
    char key[LED_KEY_BYTES];
    uint64_t index;
} key_rec;

typedef struct order_rec {
    uint64_t index;
    led_side side;
    char symbol[LED_SYMBOL_BYTES];
    bool accepted;                  /* applied: the gate accepted it (or it was adopted) */
    char adopted_cid[LED_ID_BYTES]; /* an adopted order's client order id; "" for ours */
    bool acked;                     /* an OrderAcked applied: the venue has it */
    bool ended;                     /* cancelled, rejected by the venue, or filled in full */
    int64_t qty_e8, filled_e8;
} order_rec;

typedef struct fill_rec {
    uint64_t order_index;
    char fill_id[LED_ID_BYTES];
    int64_t qty_e8, price_e8;
} fill_rec;

typedef struct fold_asset {
    char asset[LED_ASSET_BYTES];
    int64_t total_e8;
} fold_asset;

typedef struct fold_instrument {
    char symbol[LED_SYMBOL_BYTES], base[LED_ASSET_BYTES], quote[LED_ASSET_BYTES];
    int64_t position_e8;
} fold_instrument;

/* What one replay of a store collected. */
typedef struct scan {
    key_rec *keys; /* every event that first carried its key (not a refused repeat) */
    size_t key_count, key_cap;
    order_rec *orders; /* OrderRequested and ExternalOrderAdopted, by index */
    size_t order_count, order_cap;
    fill_rec *fills; /* applied OrderFilled */
    size_t fill_count, fill_cap;
    fold_asset assets[FOLD_MAX];
    uint32_t asset_count;
    fold_instrument instruments[FOLD_MAX];
    uint32_t instrument_count;
    uint64_t first_index; /* the first event this store holds */
    bool out_of_memory;
    char fold_error[160]; /* the fold met what it cannot follow */
} scan;

static fold_asset *asset_of(scan *s, const char *asset)
{
    for (uint32_t i = 0; i < s->asset_count; i++)
        if (strcmp(s->assets[i].asset, asset) == 0) return &s->assets[i];
    if (s->asset_count == FOLD_MAX) return NULL;
    fold_asset *a = &s->assets[s->asset_count++];
    snprintf(a->asset, sizeof(a->asset), "%s", asset);
    a->total_e8 = 0;
    return a;
}

static fold_instrument *instrument_of(scan *s, const char *symbol)
{
    for (uint32_t i = 0; i < s->instrument_count; i++)
        if (strcmp(s->instruments[i].symbol, symbol) == 0) return &s->instruments[i];
    return NULL;
}

static order_rec *order_at(const scan *s, uint64_t index)
{
    size_t lo = 0, hi = s->order_count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2u;
        if (s->orders[mid].index < index) {
            lo = mid + 1u;
        } else {
            hi = mid;
        }
    }
    return lo < s->order_count && s->orders[lo].index == index ? &s->orders[lo] : NULL;
}

static void fold_error(scan *s, const char *fmt, ...) TK_PRINTF_LIKE(2, 3);

static void fold_error(scan *s, const char *fmt, ...)
{
    if (s->fold_error[0] != '\0') return; /* the first is what to look at */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->fold_error, sizeof(s->fold_error), fmt, ap);
    va_end(ap);
}

/* A fill moves base by qty and quote by the notional (led_notional, half-even, as the ledger
 * prices it), and takes the fee from the fee asset (docs/ledger.md, "Balances"). */
static void fold_fill(scan *s, uint64_t index, const struct led_ev_order_filled *f)
{
    const order_rec *o = order_at(s, f->order_index);
    fold_instrument *ins = o != NULL ? instrument_of(s, o->symbol) : NULL;
    if (ins == NULL) {
        fold_error(s, "index %" PRIu64 ": a fill of an order or instrument the log never named",
                   index);
        return;
    }
    int64_t notional = 0;
    if (led_notional(f->price_e8, f->qty_e8, LED_ROUND_HALF_EVEN, &notional) != TK_OK) {
        fold_error(s, "index %" PRIu64 ": a fill's notional overflows", index);
        return;
    }
    fold_asset *base = asset_of(s, ins->base), *quote = asset_of(s, ins->quote);
    fold_asset *fee = asset_of(s, f->fee_asset);
    if (base == NULL || quote == NULL || fee == NULL) {
        fold_error(s, "index %" PRIu64 ": more assets than the fold tracks", index);
        return;
    }
    int64_t sign = o->side == LED_SIDE_BUY ? 1 : -1;
    ins->position_e8 += sign * f->qty_e8;
    base->total_e8 += sign * f->qty_e8;
    quote->total_e8 -= sign * notional;
    fee->total_e8 -= f->fee_e8;
}

/* A fill of qty (the order ends once filled in full), or the order's end (cancelled, rejected
 * by the venue). */
static void order_end(scan *s, uint64_t order_index, int64_t qty_e8, bool ended)
{
    order_rec *o = order_at(s, order_index);
    if (o == NULL) return;
    o->filled_e8 += qty_e8;
    o->ended = o->ended || ended || o->filled_e8 >= o->qty_e8;
}

static void scan_step(void *arg, const es_replay_step *step)
{
    scan *s = arg;
    const led_event *ev = step->ev;
    const led_outcome *out = step->outcome;
    if (s->first_index == 0) s->first_index = step->index;
    if (s->out_of_memory) return;
    if (ev->key[0] != '\0' && out->duplicate_of == 0 && out->result != LED_SKIPPED) {
        if (!tk_array_reserve((void **)&s->keys, &s->key_cap, s->key_count, sizeof(key_rec))) {
            s->out_of_memory = true;
            return;
        }
        key_rec *k = &s->keys[s->key_count++];
        memcpy(k->key, ev->key, LED_KEY_BYTES);
        k->index = step->index;
    }
    bool applied = out->result == LED_APPLIED;
    switch (ev->type) {
    case LED_EV_INSTRUMENT_DEFINED:
        if (applied && instrument_of(s, ev->u.instrument_defined.symbol) == NULL &&
            s->instrument_count < FOLD_MAX) {
            fold_instrument *ins = &s->instruments[s->instrument_count++];
            memset(ins, 0, sizeof(*ins));
            snprintf(ins->symbol, sizeof(ins->symbol), "%s", ev->u.instrument_defined.symbol);
            snprintf(ins->base, sizeof(ins->base), "%s", ev->u.instrument_defined.base);
            snprintf(ins->quote, sizeof(ins->quote), "%s", ev->u.instrument_defined.quote);
        }
        break;
    case LED_EV_ORDER_REQUESTED:
    case LED_EV_EXTERNAL_ORDER_ADOPTED: {
        if (!tk_array_reserve((void **)&s->orders, &s->order_cap, s->order_count,
                              sizeof(order_rec))) {
            s->out_of_memory = true;
            return;
        }
        order_rec *o = &s->orders[s->order_count++];
        bool adopted = ev->type == LED_EV_EXTERNAL_ORDER_ADOPTED;
        o->index = step->index;
        o->side = adopted ? ev->u.external_order_adopted.side : ev->u.order_requested.side;
        snprintf(o->symbol, sizeof(o->symbol), "%s",
                 adopted ? ev->u.external_order_adopted.symbol : ev->u.order_requested.symbol);
        o->accepted = applied;
        o->acked = adopted;
        snprintf(o->adopted_cid, sizeof(o->adopted_cid), "%s",
                 adopted ? ev->u.external_order_adopted.client_order_id : "");
        o->ended = false;
        o->qty_e8 = adopted ? ev->u.external_order_adopted.qty_e8 : ev->u.order_requested.qty_e8;
        o->filled_e8 = adopted ? ev->u.external_order_adopted.filled_qty_e8 : 0;
        if (adopted && applied && ev->u.external_order_adopted.filled_qty_e8 != 0)
            fold_error(s,
                       "index %" PRIu64 ": an order adopted part-filled (the fold cannot price "
                       "its earlier fills)",
                       step->index);
        break;
    }
    case LED_EV_ORDER_FILLED:
        if (!applied) break;
        if (!tk_array_reserve((void **)&s->fills, &s->fill_cap, s->fill_count, sizeof(fill_rec))) {
            s->out_of_memory = true;
            return;
        }
        s->fills[s->fill_count++] = (fill_rec){.order_index = ev->u.order_filled.order_index,
                                               .qty_e8 = ev->u.order_filled.qty_e8,
                                               .price_e8 = ev->u.order_filled.price_e8};
        snprintf(s->fills[s->fill_count - 1u].fill_id, LED_ID_BYTES, "%s",
                 ev->u.order_filled.fill_id);
        fold_fill(s, step->index, &ev->u.order_filled);
        order_end(s, ev->u.order_filled.order_index, ev->u.order_filled.qty_e8, false);
        break;
    case LED_EV_ORDER_ACKED:
        if (applied && order_at(s, ev->u.order_acked.order_index) != NULL)
            order_at(s, ev->u.order_acked.order_index)->acked = true;
        break;
    case LED_EV_ORDER_CANCELLED:
        if (applied) order_end(s, ev->u.order_cancelled.order_index, 0, true);
        break;
    case LED_EV_ORDER_REJECTED_BY_VENUE:
        if (applied) order_end(s, ev->u.order_rejected_by_venue.order_index, 0, true);
        break;
    case LED_EV_BALANCE_ADJUSTED:
        if (applied) {
            fold_asset *a = asset_of(s, ev->u.balance_adjusted.asset);
            if (a == NULL) {
                fold_error(s, "index %" PRIu64 ": more assets than the fold tracks", step->index);
            } else {
                a->total_e8 += ev->u.balance_adjusted.delta_e8;
            }
        }
        break;
    case LED_EV_BAR_CLOSED:
    case LED_EV_ORDER_CANCEL_REQUESTED:
    case LED_EV_RISK_LIMITS_SET:
    case LED_EV_KILL_SWITCH_SET:
    case LED_EV_CIRCUIT_BREAKER_SET:
    case LED_EV_FEED_HEALTH:
    case LED_EV_STRATEGY_ENABLED:
    case LED_EV_LEADER_CHANGED:
        break; /* nothing the fold or the checks need */
    }
}

static void scan_free(scan *s)
{
    free(s->keys);
    free(s->orders);
    free(s->fills);
    memset(s, 0, sizeof(*s));
}

static int key_cmp(const void *a, const void *b)
{
    const key_rec *x = a, *y = b;
    int c = strcmp(x->key, y->key);
    if (c != 0) return c;
    return x->index < y->index ? -1 : x->index > y->index;
}

static const key_rec *key_find(const scan *s, const char *key, size_t *count)
{
    size_t lo = 0, hi = s->key_count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2u;
        if (strcmp(s->keys[mid].key, key) < 0) {
            lo = mid + 1u;
        } else {
            hi = mid;
        }
    }
    *count = 0;
    for (size_t i = lo; i < s->key_count && strcmp(s->keys[i].key, key) == 0; i++)
        (*count)++;
    return *count > 0 ? &s->keys[lo] : NULL;
}

static void hex_of(const uint8_t *bytes, size_t size, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < size; i++) {
        out[2u * i] = digits[bytes[i] >> 4];
        out[2u * i + 1u] = digits[bytes[i] & 15u];
    }
    out[2u * size] = '\0';
}

/* One node's store, replayed. */
typedef struct node_view {
    bool opened;
    char error[1200];
    uint64_t last_index;
    char chain_hex[2u * LED_HASH_BYTES + 1u], state_hex[2u * LED_HASH_BYTES + 1u];
    bool whole_history;
    bool conserved; /* the fold equals the state (whole-history stores only) */
    char conservation_detail[300];
    bool audit_ok;
    scan scan;
} node_view;

/* The fold against the state's balances and positions. */
static void conservation(node_view *v, const led_state *state)
{
    led_account acct;
    led_state_account(state, &acct);
    scan *s = &v->scan;
    v->conserved = s->fold_error[0] == '\0';
    if (!v->conserved) {
        snprintf(v->conservation_detail, sizeof(v->conservation_detail), "%s", s->fold_error);
        return;
    }
    for (uint32_t i = 0; i < acct.asset_count && v->conserved; i++) {
        led_balance b;
        led_state_balance_at(state, i, &b);
        fold_asset *a = asset_of(s, b.asset);
        if (a == NULL || a->total_e8 != b.total_e8) {
            v->conserved = false;
            snprintf(v->conservation_detail, sizeof(v->conservation_detail),
                     "%s: the state holds %" PRId64 "e-8, deposits and fills give %" PRId64 "e-8",
                     b.asset, b.total_e8, a != NULL ? a->total_e8 : 0);
        }
    }
    for (uint32_t i = 0; i < acct.instrument_count && v->conserved; i++) {
        led_instrument ins;
        led_state_instrument_at(state, i, &ins);
        fold_instrument *f = instrument_of(s, ins.symbol);
        if (f == NULL || f->position_e8 != ins.position_e8) {
            v->conserved = false;
            snprintf(v->conservation_detail, sizeof(v->conservation_detail),
                     "%s: the position is %" PRId64 "e-8, the fills sum to %" PRId64 "e-8",
                     ins.symbol, ins.position_e8, f != NULL ? f->position_e8 : 0);
        }
    }
}

static void node_read(const char *store_dir, node_view *v)
{
    memset(v, 0, sizeof(*v));
    es_store *store = NULL;
    es_error why = {{0}};
    es_opts opts = {.path = store_dir, .create_if_missing = false, .sync = false};
    tk_err err = es_open(&opts, &store, &why);
    if (err != TK_OK) {
        snprintf(v->error, sizeof(v->error), "cannot open %s: %s", store_dir, why.text);
        return;
    }
    led_state *state = NULL;
    es_replay_opts ro = {.from_checkpoint = false,
                         .until_index = UINT64_MAX,
                         .until_ts_ns = INT64_MAX,
                         .visit = scan_step,
                         .arg = &v->scan};
    es_replay_result res;
    err = led_state_open(&state);
    if (err == TK_OK) err = es_replay(store, state, &ro, &res, &why);
    if (err == TK_OK && v->scan.out_of_memory) err = TK_ENOMEM;
    if (err == TK_OK) {
        v->opened = true;
        v->last_index = res.last_index;
        hex_of(res.chain_hash, LED_HASH_BYTES, v->chain_hex);
        uint8_t h[LED_HASH_BYTES];
        led_state_hash(state, h);
        hex_of(h, LED_HASH_BYTES, v->state_hex);
        v->whole_history = res.events == res.last_index;
        qsort(v->scan.keys, v->scan.key_count, sizeof(key_rec), key_cmp);
        if (v->whole_history) conservation(v, state);
    } else {
        snprintf(v->error, sizeof(v->error), "%s does not replay: %s", store_dir,
                 why.text[0] != '\0' ? why.text : tk_err_str(err));
    }
    led_state_close(state);
    es_close(store);
}

/* `troika audit verify --data-dir store_dir`, its output into out_file; true on exit 0. */
static bool audit(const char *troika, const char *store_dir, const char *out_file)
{
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, out_file, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    char *argv[] = {(char *)troika, "audit", "verify", "--data-dir", (char *)store_dir, NULL};
    pid_t pid;
    int rc = posix_spawn(&pid, troika, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) return false;
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/* ---- The venue --------------------------------------------------------------------------------
 */

typedef struct body {
    char *data;
    size_t len;
} body;

static size_t body_add(char *ptr, size_t size, size_t n, void *arg)
{
    body *b = arg;
    size_t add = size * n;
    char *p = realloc(b->data, b->len + add + 1u);
    if (p == NULL) return 0;
    memcpy(p + b->len, ptr, add);
    b->len += add;
    p[b->len] = '\0';
    b->data = p;
    return add;
}

/* GET url as JSON; NULL (with why) on failure. */
static json_t *http_get_json(const char *url, char *why, size_t why_size)
{
    CURL *c = curl_easy_init();
    if (c == NULL) {
        snprintf(why, why_size, "libcurl: cannot start");
        return NULL;
    }
    body b = {NULL, 0};
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, body_add);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    CURLcode rc = curl_easy_perform(c);
    long code = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_cleanup(c);
    json_t *j = NULL;
    if (rc != CURLE_OK || code != 200 || b.data == NULL) {
        snprintf(why, why_size, "GET %s: %s (HTTP %ld)", url, curl_easy_strerror(rc), code);
    } else {
        json_error_t je;
        j = json_loads(b.data, 0, &je);
        if (j == NULL) snprintf(why, why_size, "GET %s: not JSON: %s", url, je.text);
    }
    free(b.data);
    return j;
}

static int64_t e8_of(const json_t *v)
{
    int64_t out = 0;
    led_parse_error pe = {0, NULL};
    const char *text = json_string_value(v);
    if (text == NULL || led_parse(text, strlen(text), &out, &pe) != TK_OK) return -1;
    return out;
}

/* The applied ExternalOrderAdopted that took client order id cid; NULL if none. */
static const order_rec *adopted_with(const scan *s, const char *cid)
{
    if (cid[0] == '\0') return NULL;
    for (size_t i = 0; i < s->order_count; i++)
        if (s->orders[i].accepted && strcmp(s->orders[i].adopted_cid, cid) == 0)
            return &s->orders[i];
    return NULL;
}

/* The venue's side of the invariants, against the ledger of v (a whole-history store). */
typedef struct venue_result {
    bool fetched, once, accepted, fills_match, resolved;
    char once_detail[200], accepted_detail[200], fills_detail[300], resolved_detail[300];
    char why[1400];
    uint64_t orders, fills, resting;
} venue_result;

static void venue_check(const chaos_check_in *in, const scan *s, venue_result *r)
{
    memset(r, 0, sizeof(*r));
    char url[512];
    snprintf(url, sizeof(url), "%s/mock/orders", in->venue_url);
    json_t *orders = http_get_json(url, r->why, sizeof(r->why));
    if (orders == NULL) return;
    r->fetched = true;
    r->once = r->accepted = r->fills_match = true;
    char path[1024];
    snprintf(path, sizeof(path), "%s/venue_orders.json", in->out_dir);
    json_dump_file(orders, path, JSON_INDENT(1));
    size_t n = json_array_size(orders), prefix_len = strlen(in->order_prefix);
    uint64_t venue_fills = 0;
    for (size_t i = 0; i < n; i++) {
        const json_t *o = json_array_get(orders, i);
        const char *id = json_string_value(json_object_get(o, "clientOrderId"));
        if (id == NULL) id = "";
        for (size_t j = 0; j < i && r->once; j++) {
            const char *other =
                json_string_value(json_object_get(json_array_get(orders, j), "clientOrderId"));
            if (other != NULL && strcmp(other, id) == 0) {
                r->once = false;
                snprintf(r->once_detail, sizeof(r->once_detail),
                         "client order id %s reached the venue twice", id);
            }
        }
        uint64_t index = 0;
        bool ours = strncmp(id, in->order_prefix, prefix_len) == 0 && id[prefix_len] == '-' &&
                    sscanf(id + prefix_len + 1u, "%" SCNu64, &index) == 1;
        const order_rec *rec = ours ? order_at(s, index) : NULL;
        const order_rec *adopted = adopted_with(s, id);
        if (adopted != NULL && (rec == NULL || !rec->accepted)) {
            rec = adopted; /* its fills carry the adoption's index */
            index = adopted->index;
        }
        if (r->accepted && (rec == NULL || !rec->accepted)) {
            r->accepted = false;
            snprintf(r->accepted_detail, sizeof(r->accepted_detail),
                     "venue order %s has no accepted OrderRequested at its index in the log", id);
        }
        /* The venue's fills of this order against the ledger's ("b<trade id>"). */
        const json_t *fills = json_object_get(o, "fills");
        for (size_t k = 0; k < json_array_size(fills); k++) {
            const json_t *f = json_array_get(fills, k);
            venue_fills++;
            char fill_id[LED_ID_BYTES];
            snprintf(fill_id, sizeof(fill_id), "b%" JSON_INTEGER_FORMAT,
                     json_integer_value(json_object_get(f, "id")));
            int64_t qty = e8_of(json_object_get(f, "qty")),
                    price = e8_of(json_object_get(f, "price"));
            uint32_t found = 0;
            for (size_t m = 0; m < s->fill_count; m++) {
                const fill_rec *lf = &s->fills[m];
                if (lf->order_index == index && strcmp(lf->fill_id, fill_id) == 0) {
                    found++;
                    if ((lf->qty_e8 != qty || lf->price_e8 != price) && r->fills_match) {
                        r->fills_match = false;
                        snprintf(r->fills_detail, sizeof(r->fills_detail),
                                 "fill %s of %s: the ledger has qty %" PRId64 " price %" PRId64
                                 ", the venue qty %" PRId64 " price %" PRId64 " (e-8)",
                                 fill_id, id, lf->qty_e8, lf->price_e8, qty, price);
                    }
                }
            }
            if (found != 1 && r->fills_match) {
                r->fills_match = false;
                snprintf(r->fills_detail, sizeof(r->fills_detail),
                         "venue fill %s of %s is in the ledger %u times", fill_id, id, found);
            }
        }
    }
    /* Every fill the ledger holds for a venue order came from the venue (paper fills "p..."
     * are not the venue's). */
    uint64_t ledger_venue_fills = 0;
    for (size_t m = 0; m < s->fill_count; m++)
        ledger_venue_fills += s->fills[m].fill_id[0] == 'b';
    if (r->fills_match && ledger_venue_fills != venue_fills) {
        r->fills_match = false;
        snprintf(r->fills_detail, sizeof(r->fills_detail),
                 "the ledger holds %" PRIu64 " venue fills, the venue made %" PRIu64,
                 ledger_venue_fills, venue_fills);
    }
    /* Every accepted order ended (filled in full, cancelled, rejected by the venue), or rests at
     * the venue, acknowledged: none stuck between the log and the venue. */
    r->resolved = true;
    for (size_t i = 0; i < s->order_count && r->resolved; i++) {
        const order_rec *o = &s->orders[i];
        if (!o->accepted || o->ended) continue;
        char id[64];
        if (o->adopted_cid[0] != '\0') {
            snprintf(id, sizeof(id), "%s", o->adopted_cid);
        } else {
            snprintf(id, sizeof(id), "%s-%" PRIu64, in->order_prefix, o->index);
        }
        const char *status = NULL;
        for (size_t k = 0; k < n && status == NULL; k++) {
            const json_t *vo = json_array_get(orders, k);
            const char *cid = json_string_value(json_object_get(vo, "clientOrderId"));
            if (cid != NULL && strcmp(cid, id) == 0)
                status = json_string_value(json_object_get(vo, "status"));
        }
        bool resting = o->acked && status != NULL &&
                       (strcmp(status, "NEW") == 0 || strcmp(status, "PARTIALLY_FILLED") == 0);
        r->resting += resting;
        if (!resting) {
            r->resolved = false;
            snprintf(r->resolved_detail, sizeof(r->resolved_detail),
                     "order %" PRIu64 " was accepted and never ended: %s at the venue, %s in the "
                     "log",
                     o->index, status != NULL ? status : "not", o->acked ? "acked" : "not acked");
        }
    }
    r->orders = n;
    r->fills = venue_fills;
    json_decref(orders);
}

/* ---- The invariants ---------------------------------------------------------------------------
 */

static void verdict(json_t *invariants, const char *name, bool ok, const char *detail, bool *all)
{
    json_object_set_new(invariants, name,
                        json_pack("{s:b, s:s}", "ok", ok, "detail", detail != NULL ? detail : ""));
    if (!ok) *all = false;
}

json_t *chaos__check(const chaos_check_in *in, bool *ok)
{
    node_view *views = calloc(CHAOS_NODES, sizeof(node_view));
    json_t *out = json_object(), *inv = json_object(), *nodes = json_array();
    if (views == NULL || out == NULL || inv == NULL || nodes == NULL) {
        free(views);
        json_decref(out);
        json_decref(inv);
        json_decref(nodes);
        return NULL;
    }
    bool all = true;
    char detail[1600] = "";
    for (uint32_t n = 0; n < CHAOS_NODES; n++)
        node_read(in->store_dir[n], &views[n]);

    /* Stores readable, and all at one index with one chain hash and state hash. */
    bool agree = true;
    for (uint32_t n = 0; n < CHAOS_NODES && agree; n++) {
        if (!views[n].opened) {
            agree = false;
            snprintf(detail, sizeof(detail), "node %u: %s", n + 1u, views[n].error);
        } else if (n > 0 && (views[n].last_index != views[0].last_index ||
                             strcmp(views[n].chain_hex, views[0].chain_hex) != 0 ||
                             strcmp(views[n].state_hex, views[0].state_hex) != 0)) {
            agree = false;
            snprintf(detail, sizeof(detail),
                     "node 1 at index %" PRIu64 " (chain %.16s, state %.16s), node %u at %" PRIu64
                     " (chain %.16s, state %.16s)",
                     views[0].last_index, views[0].chain_hex, views[0].state_hex, n + 1u,
                     views[n].last_index, views[n].chain_hex, views[n].state_hex);
        }
    }
    verdict(inv, "replicas_agree", agree, detail, &all);

    /* Every acknowledged write exactly once, at its index, in every store holding that index;
     * and no key carried twice at all. */
    bool once = true;
    detail[0] = '\0';
    uint64_t checked = 0;
    for (uint32_t n = 0; n < CHAOS_NODES && once; n++) {
        const node_view *v = &views[n];
        if (!v->opened) continue;
        for (size_t i = 0; i < in->ack_count && once; i++) {
            const chaos_ack *a = &in->acks[i];
            /* a store that does not hold the index: from before its snapshot, or past its end
             * (a node left behind, which replicas_agree reports) */
            if (a->index < v->scan.first_index || a->index > v->last_index) continue;
            size_t count = 0;
            const key_rec *k = key_find(&v->scan, a->key, &count);
            checked++;
            if (count != 1 || k->index != a->index) {
                once = false;
                snprintf(
                    detail, sizeof(detail),
                    "node %u: acknowledged write %s (index %" PRIu64 ") is in the log %zu times%s",
                    n + 1u, a->key, a->index, count, count == 1 ? " but at another index" : "");
            }
        }
        for (size_t i = 1; i < v->scan.key_count && once; i++) {
            if (strcmp(v->scan.keys[i].key, v->scan.keys[i - 1u].key) == 0) {
                once = false;
                snprintf(detail, sizeof(detail),
                         "node %u: key %s was taken twice, at indices %" PRIu64 " and %" PRIu64,
                         n + 1u, v->scan.keys[i].key, v->scan.keys[i - 1u].index,
                         v->scan.keys[i].index);
            }
        }
    }
    verdict(inv, "acked_exactly_once", once, detail, &all);

    /* The audit of each store, by the binary a user runs. */
    bool audited = true;
    detail[0] = '\0';
    for (uint32_t n = 0; n < CHAOS_NODES; n++) {
        char path[1024];
        snprintf(path, sizeof(path), "%s/node%u.audit.txt", in->out_dir, n + 1u);
        views[n].audit_ok = audit(in->troika, in->store_dir[n], path);
        if (!views[n].audit_ok && audited) {
            audited = false;
            snprintf(detail, sizeof(detail), "node %u: troika audit verify failed (see %s)", n + 1u,
                     path);
        }
    }
    verdict(inv, "audit_verify", audited, detail, &all);

    /* Conservation, and the venue, on a store holding the whole history. */
    const node_view *whole = NULL;
    for (uint32_t n = 0; n < CHAOS_NODES && whole == NULL; n++)
        if (views[n].opened && views[n].whole_history) whole = &views[n];
    if (whole == NULL) {
        verdict(inv, "conservation", false,
                "no store holds the whole history (each was restored from a snapshot)", &all);
    } else {
        verdict(inv, "conservation", whole->conserved, whole->conservation_detail, &all);
    }
    venue_result vr = {0};
    if (in->venue_url != NULL && whole != NULL) {
        venue_check(in, &whole->scan, &vr);
        if (!vr.fetched) {
            verdict(inv, "venue_once", false, vr.why, &all);
        } else {
            verdict(inv, "venue_once", vr.once, vr.once_detail, &all);
            verdict(inv, "venue_has_acceptance", vr.accepted, vr.accepted_detail, &all);
            verdict(inv, "venue_fills_in_ledger", vr.fills_match, vr.fills_detail, &all);
            verdict(inv, "orders_resolved", vr.resolved, vr.resolved_detail, &all);
        }
    }

    for (uint32_t n = 0; n < CHAOS_NODES; n++) {
        const node_view *v = &views[n];
        json_array_append_new(
            nodes,
            json_pack("{s:i, s:b, s:I, s:I, s:s, s:s, s:b, s:b}", "node", (int)n + 1, "readable",
                      v->opened, "first_index", (json_int_t)v->scan.first_index, "last_index",
                      (json_int_t)v->last_index, "chain_hash", v->chain_hex, "state_hash",
                      v->state_hex, "whole_history", v->whole_history, "audit_ok", v->audit_ok));
    }
    uint64_t accepted = 0;
    if (whole != NULL)
        for (size_t i = 0; i < whole->scan.order_count; i++)
            accepted += whole->scan.orders[i].accepted;
    json_object_set_new(out, "invariants", inv);
    json_object_set_new(out, "nodes", nodes);
    json_object_set_new(
        out, "counts",
        json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "acked_checked", (json_int_t)checked,
                  "orders_in_log", (json_int_t)(whole != NULL ? whole->scan.order_count : 0),
                  "orders_accepted", (json_int_t)accepted, "fills_in_log",
                  (json_int_t)(whole != NULL ? whole->scan.fill_count : 0), "venue_orders",
                  (json_int_t)vr.orders, "venue_fills", (json_int_t)vr.fills, "resting_at_venue",
                  (json_int_t)vr.resting));
    for (uint32_t n = 0; n < CHAOS_NODES; n++)
        scan_free(&views[n].scan);
    free(views);
    *ok = all;
    return out;
}
