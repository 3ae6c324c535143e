/* Links, monitors, the name registry and process groups. None of it is on the message path:
 * one mutex (sys->ctl_lock) guards all of it. An actor counts as live here while its mailbox
 * word carries its generation and no CLOSED bit; an exiting actor sets CLOSED first and then
 * takes the lock to unhook itself, so every link or monitor made before it closed is seen. */
#include <stdlib.h>
#include <string.h>

#include "act_internal.h"

#define CTL_BUCKETS 256u /* hash buckets for names and groups (chained) */

struct act__link {
    act_ref peer;
    act__link *next;
};

struct act__monitor {
    uint64_t id;
    act_ref watcher;
    act_ref target;
    act__monitor *next_by_target;  /* in the target's monitored_by list */
    act__monitor *next_by_watcher; /* in the watcher's monitoring list */
};

struct act__name {
    char text[ACT_NAME_BYTES_MAX + 1u];
    act_ref ref;
    act__name *next;
};

typedef struct act__group {
    char text[ACT_NAME_BYTES_MAX + 1u];
    act_ref *members; /* owned: count used of capacity */
    uint32_t count;
    uint32_t capacity;
    struct act__group *next;
} act__group;

struct act__member {
    act__group *group;
    act__member *next;
};

typedef struct act__ctl_tables {
    act__name *names[CTL_BUCKETS];
    act__group *groups[CTL_BUCKETS];
} act__ctl_tables;

tk_err act__ctl_init(act_system *sys)
{
    TK_ASSERT(sys != NULL);
    sys->tables = calloc(1, sizeof(act__ctl_tables));
    if (sys->tables == NULL) return TK_ENOMEM;
    if (pthread_mutex_init(&sys->ctl_lock, NULL) != 0) {
        free(sys->tables);
        sys->tables = NULL;
        return TK_ENOMEM;
    }
    return TK_OK;
}

void act__ctl_fini(act_system *sys)
{
    TK_ASSERT(sys != NULL);
    if (sys->tables == NULL) return;
    /* Every actor has exited, so every name, group, link and monitor is gone. */
    for (uint32_t i = 0; i < CTL_BUCKETS; i++) {
        TK_ASSERT(sys->tables->names[i] == NULL);
        TK_ASSERT(sys->tables->groups[i] == NULL);
    }
    free(sys->tables);
    sys->tables = NULL;
    pthread_mutex_destroy(&sys->ctl_lock);
}

/* FNV-1a, 32 bits (Fowler, Noll, Vo; IETF draft-eastlake-fnv). */
static uint32_t name_hash(const char *text)
{
    uint32_t hash = 2166136261u;
    for (size_t i = 0; text[i] != '\0' && i <= ACT_NAME_BYTES_MAX; i++) {
        hash ^= (unsigned char)text[i];
        hash *= 16777619u;
    }
    return hash % CTL_BUCKETS;
}

static bool name_is_valid(const char *text)
{
    if (text == NULL) return false;
    size_t size = strnlen(text, ACT_NAME_BYTES_MAX + 1u);
    return size >= 1u && size <= ACT_NAME_BYTES_MAX;
}

/* The slot of ref when ref is live; NULL otherwise. Marks the slot as having control
 * entries first (seq_cst, then the seq_cst load of its word): an exiting actor sets CLOSED
 * and then reads the mark, so either we see CLOSED or its exit sees the mark and takes the
 * lock to unhook what we are about to add. Caller holds ctl_lock. */
static act__actor *live_locked(act_system *sys, act_ref ref)
{
    act__actor *actor = act__slot(sys, ref);
    if (actor == NULL) return NULL;
    atomic_store_explicit(&actor->has_ctl, true, memory_order_seq_cst);
    uint64_t word = atomic_load_explicit(&actor->word, memory_order_seq_cst);
    if (act__word_gen(word) != ref.gen || (word & ACT__WORD_CLOSED) != 0) return NULL;
    return actor;
}

/* The slot of ref whatever its state (ref was live when its entry was made, and its entries
 * are removed under the lock before its slot can be reused). */
static act__actor *slot_locked(act_system *sys, act_ref ref)
{
    act__actor *actor = act__slot(sys, ref);
    TK_ASSERT(actor != NULL);
    return actor;
}

/* ---- Links ------------------------------------------------------------------------------------
 */

static bool link_find(const act__actor *actor, act_ref peer)
{
    for (const act__link *link = actor->links; link != NULL; link = link->next) {
        if (act_ref_eq(link->peer, peer)) return true;
    }
    return false;
}

/* Remove peer from actor's links; true if it was there. */
static bool link_remove(act__actor *actor, act_ref peer)
{
    for (act__link **at = &actor->links; *at != NULL; at = &(*at)->next) {
        if (act_ref_eq((*at)->peer, peer)) {
            act__link *gone = *at;
            *at = gone->next;
            free(gone);
            return true;
        }
    }
    return false;
}

tk_err act_link(act_system *sys, act_ref a, act_ref b)
{
    TK_ASSERT(sys != NULL);
    act__link *to_b = malloc(sizeof(*to_b));
    act__link *to_a = malloc(sizeof(*to_a));
    tk_err err = TK_OK;
    pthread_mutex_lock(&sys->ctl_lock);
    act__actor *actor_a = live_locked(sys, a);
    act__actor *actor_b = live_locked(sys, b);
    if (actor_a == NULL || actor_b == NULL) {
        err = TK_ESTALE;
    } else if (to_b == NULL || to_a == NULL) {
        err = TK_ENOMEM;
    } else if (!act_ref_eq(a, b) && !link_find(actor_a, b)) {
        *to_b = (act__link){.peer = b, .next = actor_a->links};
        actor_a->links = to_b;
        *to_a = (act__link){.peer = a, .next = actor_b->links};
        actor_b->links = to_a;
        to_a = NULL; /* now owned by the lists */
        to_b = NULL;
    }
    pthread_mutex_unlock(&sys->ctl_lock);
    free(to_a);
    free(to_b);
    return err;
}

void act_unlink(act_system *sys, act_ref a, act_ref b)
{
    TK_ASSERT(sys != NULL);
    pthread_mutex_lock(&sys->ctl_lock);
    act__actor *actor_a = live_locked(sys, a);
    act__actor *actor_b = live_locked(sys, b);
    if (actor_a != NULL && actor_b != NULL) {
        bool removed = link_remove(actor_a, b);
        TK_ASSERT(link_remove(actor_b, a) == removed); /* links are kept in pairs */
    }
    pthread_mutex_unlock(&sys->ctl_lock);
}

/* ---- Monitors ---------------------------------------------------------------------------------
 */

/* Send a DOWN for monitor id to watcher, about `from` exiting with reason. */
static void down_send(act_system *sys, act_ref watcher, uint64_t id, act_ref from,
                      const act_reason *reason)
{
    act_msg *msg = act__msg_alloc_must(sys);
    if (msg == NULL) {
        TK_LOG(TK_LOG_ERROR, "actors", "DOWN lost: out of memory", TK_LOG_U64("monitor", id));
        return;
    }
    msg->type = ACT_MSG_DOWN;
    msg->sender = from;
    msg->correlation = id;
    act_exit_info info = {.from = from, .reason = *reason};
    memcpy(msg->data, &info, sizeof(info));
    msg->size_bytes = sizeof(info);
    if (act__deliver(sys, watcher, msg, false, true) != TK_OK) act_msg_free(sys, msg);
}

tk_err act_monitor(act_system *sys, act_ref watcher, act_ref target, uint64_t *out_monitor_id)
{
    TK_ASSERT(sys != NULL);
    TK_ASSERT(out_monitor_id != NULL);
    act__monitor *monitor = malloc(sizeof(*monitor));
    if (monitor == NULL) return TK_ENOMEM;
    pthread_mutex_lock(&sys->ctl_lock);
    act__actor *watching = live_locked(sys, watcher);
    if (watching == NULL) {
        pthread_mutex_unlock(&sys->ctl_lock);
        free(monitor);
        return TK_ESTALE;
    }
    uint64_t id = act__next_id(sys);
    act__actor *watched = live_locked(sys, target);
    if (watched != NULL) {
        *monitor = (act__monitor){.id = id,
                                  .watcher = watcher,
                                  .target = target,
                                  .next_by_target = watched->monitored_by,
                                  .next_by_watcher = watching->monitoring};
        watched->monitored_by = monitor;
        watching->monitoring = monitor;
        monitor = NULL;
    }
    pthread_mutex_unlock(&sys->ctl_lock);
    if (monitor != NULL) { /* the target is already gone: DOWN at once, reason noproc */
        free(monitor);
        act_reason noproc = act_reason_of(ACT_REASON_NOPROC);
        down_send(sys, watcher, id, target, &noproc);
    }
    *out_monitor_id = id;
    return TK_OK;
}

/* Unlink monitor from the target's list. Caller holds ctl_lock. */
static void monitor_unhook_target(act_system *sys, act__monitor *monitor)
{
    act__actor *target = slot_locked(sys, monitor->target);
    for (act__monitor **at = &target->monitored_by; *at != NULL; at = &(*at)->next_by_target) {
        if (*at == monitor) {
            *at = monitor->next_by_target;
            return;
        }
    }
    TK_ASSERT(false); /* a monitor is always in both lists */
}

/* Unlink monitor from the watcher's list. Caller holds ctl_lock. */
static void monitor_unhook_watcher(act_system *sys, act__monitor *monitor)
{
    act__actor *watcher = slot_locked(sys, monitor->watcher);
    for (act__monitor **at = &watcher->monitoring; *at != NULL; at = &(*at)->next_by_watcher) {
        if (*at == monitor) {
            *at = monitor->next_by_watcher;
            return;
        }
    }
    TK_ASSERT(false); /* a monitor is always in both lists */
}

void act_demonitor(act_system *sys, act_ref watcher, uint64_t monitor_id)
{
    TK_ASSERT(sys != NULL);
    pthread_mutex_lock(&sys->ctl_lock);
    act__actor *watching = live_locked(sys, watcher);
    act__monitor *found = NULL;
    for (act__monitor *m = watching != NULL ? watching->monitoring : NULL; m != NULL;
         m = m->next_by_watcher) {
        if (m->id == monitor_id) {
            found = m;
            break;
        }
    }
    if (found != NULL) {
        monitor_unhook_target(sys, found);
        monitor_unhook_watcher(sys, found);
    }
    pthread_mutex_unlock(&sys->ctl_lock);
    free(found);
}

/* ---- Registry ---------------------------------------------------------------------------------
 */

static act__name **name_find_locked(act_system *sys, const char *text)
{
    act__name **at = &sys->tables->names[name_hash(text)];
    for (; *at != NULL; at = &(*at)->next) {
        if (strcmp((*at)->text, text) == 0) return at;
    }
    return at; /* the empty tail of the chain */
}

tk_err act_register(act_system *sys, const char *name, act_ref ref)
{
    TK_ASSERT(sys != NULL);
    if (!name_is_valid(name)) return TK_EINVAL;
    act__name *entry = malloc(sizeof(*entry));
    if (entry == NULL) return TK_ENOMEM;
    tk_err err = TK_OK;
    pthread_mutex_lock(&sys->ctl_lock);
    act__actor *actor = live_locked(sys, ref);
    act__name **at = name_find_locked(sys, name);
    if (actor == NULL) {
        err = TK_ESTALE;
    } else if (*at != NULL || actor->name != NULL) {
        err = TK_EEXIST;
    } else {
        *entry = (act__name){.ref = ref, .next = NULL};
        memcpy(entry->text, name, strlen(name) + 1u);
        *at = entry;
        actor->name = entry;
        entry = NULL;
    }
    pthread_mutex_unlock(&sys->ctl_lock);
    free(entry);
    return err;
}

/* Remove the entry at *at from the table and from its actor. Caller holds ctl_lock. */
static void name_remove_locked(act_system *sys, act__name **at)
{
    act__name *entry = *at;
    *at = entry->next;
    act__actor *actor = slot_locked(sys, entry->ref);
    TK_ASSERT(actor->name == entry);
    actor->name = NULL;
    free(entry);
}

tk_err act_unregister(act_system *sys, const char *name)
{
    TK_ASSERT(sys != NULL);
    if (!name_is_valid(name)) return TK_ENOENT;
    pthread_mutex_lock(&sys->ctl_lock);
    act__name **at = name_find_locked(sys, name);
    bool found = *at != NULL;
    if (found) name_remove_locked(sys, at);
    pthread_mutex_unlock(&sys->ctl_lock);
    return found ? TK_OK : TK_ENOENT;
}

tk_err act_whereis(act_system *sys, const char *name, act_ref *out_ref)
{
    TK_ASSERT(sys != NULL);
    TK_ASSERT(out_ref != NULL);
    if (!name_is_valid(name)) return TK_ENOENT;
    pthread_mutex_lock(&sys->ctl_lock);
    act__name *entry = *name_find_locked(sys, name);
    if (entry != NULL) *out_ref = entry->ref;
    pthread_mutex_unlock(&sys->ctl_lock);
    return entry != NULL ? TK_OK : TK_ENOENT;
}

/* The smallest registered name above after (NULL: the smallest of all); NULL if none. Caller
 * holds ctl_lock. */
static const act__name *name_next_locked(act_system *sys, const char *after)
{
    const act__name *best = NULL;
    for (uint32_t b = 0; b < CTL_BUCKETS; b++) {
        for (const act__name *n = sys->tables->names[b]; n != NULL; n = n->next) {
            if (after != NULL && strcmp(n->text, after) <= 0) continue;
            if (best == NULL || strcmp(n->text, best->text) < 0) best = n;
        }
    }
    return best;
}

uint32_t act_registered(act_system *sys, char (*out)[ACT_NAME_BYTES_MAX + 1u], uint32_t max)
{
    TK_ASSERT(sys != NULL);
    if (max > 0) TK_ASSERT(out != NULL);
    uint32_t count = 0;
    pthread_mutex_lock(&sys->ctl_lock);
    for (uint32_t b = 0; b < CTL_BUCKETS; b++)
        for (const act__name *n = sys->tables->names[b]; n != NULL; n = n->next)
            count++;
    const char *after = NULL;
    for (uint32_t i = 0; i < max && i < count; i++) { /* selection: names are few */
        const act__name *n = name_next_locked(sys, after);
        TK_ASSERT(n != NULL); /* count names exist, and i < count of them are behind us */
        memcpy(out[i], n->text, sizeof(n->text));
        after = n->text;
    }
    pthread_mutex_unlock(&sys->ctl_lock);
    return count;
}

/* ---- Process groups ---------------------------------------------------------------------------
 */

static act__group **group_find_locked(act_system *sys, const char *text)
{
    act__group **at = &sys->tables->groups[name_hash(text)];
    for (; *at != NULL; at = &(*at)->next) {
        if (strcmp((*at)->text, text) == 0) return at;
    }
    return at;
}

static uint32_t group_index(const act__group *group, act_ref ref)
{
    for (uint32_t i = 0; i < group->count; i++) {
        if (act_ref_eq(group->members[i], ref)) return i;
    }
    return group->count;
}

/* Add ref to the group at *at (creating it). Caller holds ctl_lock. */
static tk_err group_add_locked(act__group **at, const char *text, act__actor *actor, act_ref ref)
{
    act__group *group = *at;
    if (group == NULL) {
        group = calloc(1, sizeof(*group));
        if (group == NULL) return TK_ENOMEM;
        memcpy(group->text, text, strlen(text) + 1u);
        *at = group;
    }
    if (group_index(group, ref) < group->count) return TK_OK; /* already a member */
    act__member *member = malloc(sizeof(*member));
    if (member == NULL) goto fail;
    if (group->count == group->capacity) {
        uint32_t capacity = group->capacity == 0 ? 4u : group->capacity * 2u;
        act_ref *grown = realloc(group->members, sizeof(act_ref) * capacity);
        if (grown == NULL) goto fail_member;
        group->members = grown;
        group->capacity = capacity;
    }
    group->members[group->count++] = ref;
    *member = (act__member){.group = group, .next = actor->groups};
    actor->groups = member;
    return TK_OK;
fail_member:
    free(member);
fail:
    if (group->count == 0) { /* created above for this join */
        *at = group->next;
        free(group->members);
        free(group);
    }
    return TK_ENOMEM;
}

tk_err act_group_join(act_system *sys, const char *group, act_ref ref)
{
    TK_ASSERT(sys != NULL);
    if (!name_is_valid(group)) return TK_EINVAL;
    pthread_mutex_lock(&sys->ctl_lock);
    act__actor *actor = live_locked(sys, ref);
    tk_err err = TK_ESTALE;
    if (actor != NULL) err = group_add_locked(group_find_locked(sys, group), group, actor, ref);
    /* release: the new member list is visible to whoever sees the new generation */
    if (err == TK_OK) atomic_fetch_add_explicit(&sys->groups_generation, 1u, memory_order_release);
    pthread_mutex_unlock(&sys->ctl_lock);
    return err;
}

/* Remove ref (whose slot is actor) from group; frees the group once empty. Caller holds
 * ctl_lock. */
static void group_remove_locked(act_system *sys, act__group *group, act__actor *actor, act_ref ref)
{
    uint32_t index = group_index(group, ref);
    TK_ASSERT(index < group->count);
    group->members[index] = group->members[--group->count];
    atomic_fetch_add_explicit(&sys->groups_generation, 1u, memory_order_release); /* as in join */
    for (act__member **at = &actor->groups; *at != NULL; at = &(*at)->next) {
        if ((*at)->group == group) {
            act__member *gone = *at;
            *at = gone->next;
            free(gone);
            break;
        }
    }
    if (group->count > 0) return;
    act__group **at = group_find_locked(sys, group->text);
    TK_ASSERT(*at == group);
    *at = group->next;
    free(group->members);
    free(group);
}

tk_err act_group_leave(act_system *sys, const char *group, act_ref ref)
{
    TK_ASSERT(sys != NULL);
    if (!name_is_valid(group)) return TK_ENOENT;
    pthread_mutex_lock(&sys->ctl_lock);
    act__group *found = *group_find_locked(sys, group);
    act__actor *actor = live_locked(sys, ref);
    bool member = found != NULL && actor != NULL && group_index(found, ref) < found->count;
    if (member) group_remove_locked(sys, found, actor, ref);
    pthread_mutex_unlock(&sys->ctl_lock);
    return member ? TK_OK : TK_ENOENT;
}

tk_err act_group_broadcast(act_system *sys, const char *group, act_ref sender, uint32_t type,
                           const void *data, uint32_t size_bytes, uint32_t *out_delivered,
                           uint32_t *out_skipped)
{
    TK_ASSERT(sys != NULL);
    if (size_bytes > ACT_MSG_INLINE_BYTES || !name_is_valid(group)) return TK_EINVAL;
    if (size_bytes > 0) TK_ASSERT(data != NULL);
    uint32_t delivered = 0;
    uint32_t skipped = 0;
    tk_err err = TK_OK;
    pthread_mutex_lock(&sys->ctl_lock);
    const act__group *found = *group_find_locked(sys, group);
    for (uint32_t i = 0; found != NULL && i < found->count; i++) {
        act_msg *msg = act_msg_alloc(sys);
        if (msg == NULL) {
            err = TK_EFULL;
            break;
        }
        msg->type = type;
        msg->sender = sender;
        msg->size_bytes = size_bytes;
        if (size_bytes > 0) memcpy(msg->data, data, size_bytes);
        if (act__deliver(sys, found->members[i], msg, false, false) == TK_OK) {
            delivered++;
        } else {
            act_msg_free(sys, msg);
            skipped++;
        }
    }
    pthread_mutex_unlock(&sys->ctl_lock);
    if (out_delivered != NULL) *out_delivered = delivered;
    if (out_skipped != NULL) *out_skipped = skipped;
    return err;
}

uint64_t act_groups_generation(act_system *sys)
{
    TK_ASSERT(sys != NULL);
    /* acquire: pairs with the release of the change that set it */
    return atomic_load_explicit(&sys->groups_generation, memory_order_acquire);
}

void act_group_members(act_system *sys, const char *group, act_ref *members, uint32_t capacity,
                       uint32_t *out_count)
{
    TK_ASSERT(sys != NULL);
    TK_ASSERT(out_count != NULL);
    if (capacity > 0) TK_ASSERT(members != NULL);
    *out_count = 0;
    if (!name_is_valid(group)) return;
    pthread_mutex_lock(&sys->ctl_lock);
    const act__group *found = *group_find_locked(sys, group);
    if (found != NULL) {
        for (uint32_t i = 0; i < found->count && i < capacity; i++) {
            members[i] = found->members[i];
        }
        *out_count = found->count;
    }
    pthread_mutex_unlock(&sys->ctl_lock);
}

/* ---- An actor's exit --------------------------------------------------------------------------
 */

/* Unhook everything of the exiting actor; returns its links and the monitors on it, which the
 * caller signals and frees outside the lock. Caller holds ctl_lock. */
static void exit_unhook_locked(act_system *sys, act_ref self, act__actor *actor,
                               act__link **out_links, act__monitor **out_downs)
{
    for (act__link *link = actor->links; link != NULL; link = link->next) {
        bool removed = link_remove(slot_locked(sys, link->peer), self);
        TK_ASSERT(removed); /* links are kept in pairs */
    }
    *out_links = actor->links;
    actor->links = NULL;
    for (act__monitor *m = actor->monitored_by; m != NULL; m = m->next_by_target) {
        monitor_unhook_watcher(sys, m);
    }
    *out_downs = actor->monitored_by;
    actor->monitored_by = NULL;
    while (actor->monitoring != NULL) {
        act__monitor *m = actor->monitoring;
        monitor_unhook_target(sys, m);
        actor->monitoring = m->next_by_watcher;
        free(m);
    }
    if (actor->name != NULL) {
        act__name **at = name_find_locked(sys, actor->name->text);
        TK_ASSERT(*at == actor->name);
        name_remove_locked(sys, at);
    }
    while (actor->groups != NULL) {
        group_remove_locked(sys, actor->groups->group, actor, self);
    }
}

void act__ctl_actor_exit(act_system *sys, act_ref self, act__actor *actor, const act_reason *reason)
{
    TK_ASSERT(sys != NULL && actor != NULL && reason != NULL);
    TK_ASSERT((atomic_load_explicit(&actor->word, memory_order_relaxed) & ACT__WORD_CLOSED) != 0);
    /* seq_cst: pairs with live_locked (our CLOSED was set by a seq_cst RMW before this). */
    if (!atomic_load_explicit(&actor->has_ctl, memory_order_seq_cst)) return;
    act__link *links;
    act__monitor *downs;
    pthread_mutex_lock(&sys->ctl_lock);
    exit_unhook_locked(sys, self, actor, &links, &downs);
    pthread_mutex_unlock(&sys->ctl_lock);
    while (links != NULL) {
        act__link *link = links;
        links = link->next;
        tk_err err = act_exit(sys, self, link->peer, reason);
        /* TK_ESTALE: the peer died meanwhile, nothing to tell. */
        if (err == TK_ENOMEM) {
            TK_LOG(TK_LOG_ERROR, "actors", "exit signal lost: out of memory",
                   TK_LOG_U64("peer_slot", link->peer.slot));
        }
        free(link);
    }
    while (downs != NULL) {
        act__monitor *m = downs;
        downs = m->next_by_target;
        down_send(sys, m->watcher, m->id, self, reason);
        free(m);
    }
}
