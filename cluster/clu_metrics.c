/* cluster/clu_metrics.c: role names, histograms, and the Prometheus text exposition (format
 * 0.0.4) of a node's metrics, rendered into the caller's buffer without allocating. */
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clu.h"

/* Room for any double as format_double prints it ("-2.2250738585072014e-308" and NUL). */
#define DOUBLE_CHARS_MAX 32u

/* The caller's buffer being filled; once a write does not fit, nothing more is written. */
typedef struct writer {
    char *buf;   /* borrowed: the caller's */
    size_t size; /* bytes of buf */
    size_t len;  /* bytes written so far, NUL excluded; len < size unless full */
    bool full;
} writer;

const char *clu_role_name(clu_role role)
{
    switch (role) {
    case CLU_ROLE_UNAVAILABLE:
        return "unavailable";
    case CLU_ROLE_FOLLOWER:
        return "follower";
    case CLU_ROLE_CANDIDATE:
        return "candidate";
    case CLU_ROLE_LEADER:
        return "leader";
    }
    return NULL;
}

void clu_histogram_init(clu_histogram *h, const double *bounds, uint32_t count)
{
    TK_ASSERT(h != NULL);
    TK_ASSERT(bounds != NULL);
    TK_ASSERT(count >= 1u);
    TK_ASSERT(count <= CLU_HISTOGRAM_BOUNDS_MAX);
    memset(h, 0, sizeof(*h));
    for (uint32_t i = 0; i < count; i++) {
        TK_ASSERT(isfinite(bounds[i])); /* the +Inf bucket is implicit */
        if (i > 0) TK_ASSERT(bounds[i - 1] < bounds[i]);
        h->bounds[i] = bounds[i];
    }
    h->bound_count = count;
}

void clu_histogram_observe(clu_histogram *h, double value)
{
    TK_ASSERT(h->bound_count >= 1u);
    TK_ASSERT(h->bound_count <= CLU_HISTOGRAM_BOUNDS_MAX);
    TK_ASSERT(!isnan(value));
    for (uint32_t i = 0; i < h->bound_count; i++) {
        if (value <= h->bounds[i]) h->buckets[i]++;
    }
    h->count++;
    h->sum += value;
}

/* Print v as the shortest of %.15g, %.16g, %.17g that reads back as v (%.17g always does);
 * infinities and NaN as Prometheus spells them. */
static void format_double(double v, char out[DOUBLE_CHARS_MAX])
{
    if (isnan(v)) {
        snprintf(out, DOUBLE_CHARS_MAX, "NaN");
        return;
    }
    if (isinf(v)) {
        snprintf(out, DOUBLE_CHARS_MAX, "%s", v > 0 ? "+Inf" : "-Inf");
        return;
    }
    for (int precision = 15; precision <= 17; precision++) {
        int n = snprintf(out, DOUBLE_CHARS_MAX, "%.*g", precision, v);
        TK_ASSERT(n > 0);
        TK_ASSERT((size_t)n < DOUBLE_CHARS_MAX);
        if (strtod(out, NULL) == v) return;
    }
    TK_ASSERT(false); /* %.17g round-trips every finite double */
}

/* Append printf-style text, or mark the writer full (and write nothing more) if it does not
 * fit with its NUL. */
__attribute__((format(printf, 2, 3))) static void put(writer *w, const char *fmt, ...)
{
    if (w->full) return;
    TK_ASSERT(w->len < w->size || w->size == 0);
    size_t room = w->size - w->len;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(w->buf + w->len, room, fmt, ap);
    va_end(ap);
    TK_ASSERT(n >= 0); /* only an encoding error fails, and every argument is ASCII */
    if ((size_t)n >= room) {
        w->full = true;
        return;
    }
    w->len += (size_t)n;
}

/* The # HELP and # TYPE lines of one family. */
static void family(writer *w, const char *name, const char *type, const char *help)
{
    put(w, "# HELP troika_%s %s\n# TYPE troika_%s %s\n", name, help, name, type);
}

/* A family with one integer sample labelled only by node. */
static void scalar(writer *w, uint64_t node, const char *name, const char *type, const char *help,
                   uint64_t value)
{
    family(w, name, type, help);
    put(w, "troika_%s{node=\"%" PRIu64 "\"} %" PRIu64 "\n", name, node, value);
}

/* A gauge of an amount in 1e-8 units, shown in whole units. */
static void amount(writer *w, uint64_t node, const char *name, const char *help, int64_t e8)
{
    char text[DOUBLE_CHARS_MAX];
    format_double((double)e8 / 1e8, text);
    family(w, name, "gauge", help);
    put(w, "troika_%s{node=\"%" PRIu64 "\"} %s\n", name, node, text);
}

/* A histogram family: the cumulative buckets, +Inf (the count), the sum and the count. */
static void histogram(writer *w, uint64_t node, const char *name, const char *help,
                      const clu_histogram *h)
{
    TK_ASSERT(h->bound_count >= 1u);
    TK_ASSERT(h->bound_count <= CLU_HISTOGRAM_BOUNDS_MAX);
    char text[DOUBLE_CHARS_MAX];
    family(w, name, "histogram", help);
    for (uint32_t i = 0; i < h->bound_count; i++) {
        if (i > 0) TK_ASSERT(h->buckets[i - 1] <= h->buckets[i]);
        TK_ASSERT(h->buckets[i] <= h->count);
        format_double(h->bounds[i], text);
        put(w, "troika_%s_bucket{node=\"%" PRIu64 "\",le=\"%s\"} %" PRIu64 "\n", name, node, text,
            h->buckets[i]);
    }
    put(w, "troika_%s_bucket{node=\"%" PRIu64 "\",le=\"+Inf\"} %" PRIu64 "\n", name, node,
        h->count);
    format_double(h->sum, text);
    put(w, "troika_%s_sum{node=\"%" PRIu64 "\"} %s\n", name, node, text);
    put(w, "troika_%s_count{node=\"%" PRIu64 "\"} %" PRIu64 "\n", name, node, h->count);
}

/* What the node says of itself: role, Raft indices, the ledger's flags. */
static void render_status(writer *w, const clu_status *s)
{
    uint64_t node = s->node_id;
    family(w, "role", "gauge", "Raft role of this node: 1 for the current role, 0 for others.");
    for (int r = CLU_ROLE_UNAVAILABLE; r <= CLU_ROLE_LEADER; r++) {
        const char *name = clu_role_name((clu_role)r);
        TK_ASSERT(name != NULL);
        put(w, "troika_role{node=\"%" PRIu64 "\",role=\"%s\"} %d\n", node, name,
            (clu_role)r == s->role ? 1 : 0);
    }
    scalar(w, node, "term", "gauge", "Raft current term.", s->term);
    scalar(w, node, "commit_index", "gauge", "Raft commit index this node knows.", s->commit_index);
    scalar(w, node, "applied_index", "gauge", "Last Raft entry applied on this node.",
           s->applied_index);
    scalar(w, node, "ledger_index", "gauge", "Last ledger index applied on this node.",
           s->ledger_index);
    /* Raft keeps applied <= commit; a status caught otherwise shows no lag, not 2^64 - n. */
    uint64_t lag = s->commit_index >= s->applied_index ? s->commit_index - s->applied_index : 0;
    scalar(w, node, "apply_lag", "gauge", "Raft entries committed but not yet applied here.", lag);
    scalar(w, node, "kill_switch", "gauge", "1 when the ledger's kill switch is on.",
           s->kill_switch ? 1u : 0u);
    scalar(w, node, "diverged", "gauge",
           "1 when a replica published a different state hash at the same index.",
           s->diverged ? 1u : 0u);
}

/* Proposals, applied entries and events, and their histograms. */
static void render_raft(writer *w, const clu_metrics *m)
{
    uint64_t node = m->status.node_id;
    scalar(w, node, "proposals_total", "counter", "Entries proposed by this node as leader.",
           m->proposals_total);
    scalar(w, node, "proposals_failed_total", "counter",
           "Proposed entries that Raft refused or lost.", m->proposals_failed_total);
    scalar(w, node, "entries_applied_total", "counter", "Raft entries applied on this node.",
           m->entries_applied_total);
    scalar(w, node, "events_applied_total", "counter", "Ledger events applied on this node.",
           m->events_applied_total);
    histogram(w, node, "batch_events", "Ledger events per applied Raft entry.", &m->batch_events);
    histogram(w, node, "commit_latency_seconds",
              "Time from proposal to apply of an entry, on the leader.",
              &m->commit_latency_seconds);
}

/* Orders, pre-trade rejections, equity and profit. */
static void render_ledger(writer *w, const clu_metrics *m)
{
    uint64_t node = m->status.node_id;
    family(w, "orders", "gauge", "Orders in the ledger now, by state.");
    for (uint32_t s = 0; s < LED_ORDER_STATE_COUNT; s++) {
        const char *name = led_order_state_name((led_order_state)s);
        TK_ASSERT(name != NULL);
        put(w, "troika_orders{node=\"%" PRIu64 "\",state=\"%s\"} %" PRIu64 "\n", node, name,
            m->orders_by_state[s]);
    }
    family(w, "risk_rejections_total", "counter", "Orders rejected before trading, by rule.");
    for (int r = LED_RULE_NONE + 1; r <= LED_RULE_OVERFLOW; r++) {
        const char *id = led_rule_id((led_rule)r);
        TK_ASSERT(id != NULL);
        put(w, "troika_risk_rejections_total{node=\"%" PRIu64 "\",rule=\"%s\"} %" PRIu64 "\n", node,
            id, m->rejections_by_rule[r]);
    }
    amount(w, node, "equity", "Equity in whole units of the valuation asset.", m->equity_e8);
    amount(w, node, "realized_pnl",
           "Realized profit and loss over all instruments, in whole "
           "units of the valuation asset.",
           m->realized_pnl_e8);
}

/* The actor runtime and the snapshots. */
static void render_runtime(writer *w, const clu_metrics *m)
{
    uint64_t node = m->status.node_id;
    scalar(w, node, "actor_restarts_total", "counter", "Actors restarted by their supervisors.",
           m->actor_restarts_total);
    scalar(w, node, "mailbox_depth_max", "gauge", "Messages in the deepest actor mailbox now.",
           m->mailbox_depth_max);
    scalar(w, node, "snapshots_total", "counter", "Raft snapshots taken.", m->snapshots_total);
    scalar(w, node, "restores_total", "counter", "Raft snapshots restored.", m->restores_total);
}

/* The protocol guard, per rule (docs/cluster.md, "The protocol guard"). */
static void render_guard(writer *w, const clu_metrics *m)
{
    uint64_t node = m->status.node_id;
    const clu_guard_counters *g = &m->guard;
    scalar(w, node, "guard_follower_results_total", "counter",
           "Successful AppendEntries results this node sent as a follower.",
           g->follower_results_seen);
    scalar(w, node, "guard_follower_results_clamped_total", "counter",
           "Of those, results that claimed more than the node had verified, lowered.",
           g->follower_results_clamped);
    scalar(w, node, "guard_leader_results_total", "counter",
           "Successful AppendEntries results this node received as leader.",
           g->leader_results_seen);
    scalar(w, node, "guard_leader_clamped_to_sent_total", "counter",
           "Of those, results above what this leader had sent the follower, lowered.",
           g->leader_clamped_to_sent);
    scalar(w, node, "guard_leader_lowered_earlier_term_total", "counter",
           "Of those, results on an earlier term's entry above the commit index, lowered to it.",
           g->leader_lowered_earlier_term);
    scalar(w, node, "guard_barriers_total", "counter",
           "Barriers the guard proposed, one per term this node led.", g->barriers);
}

tk_err clu_metrics_render(const clu_metrics *m, char *buf, size_t buf_size, size_t *out_size)
{
    TK_ASSERT(m != NULL);
    TK_ASSERT(buf != NULL);
    TK_ASSERT(out_size != NULL);
    writer w = {.buf = buf, .size = buf_size, .len = 0, .full = false};
    render_status(&w, &m->status);
    render_raft(&w, m);
    render_ledger(&w, m);
    render_runtime(&w, m);
    render_guard(&w, m);
    if (w.full) return TK_EFULL;
    TK_ASSERT(w.len < buf_size);
    TK_ASSERT(buf[w.len] == '\0');
    *out_size = w.len;
    return TK_OK;
}
