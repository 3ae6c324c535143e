/* Strict YAML configuration files (app_yaml.h), read with libyaml's event parser: the only file
 * of app/ that includes yaml.h. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "app_yaml.h"
#include "led.h"

/* Most keys a schema may have, and most items of all its lists together, for the seen-sets. */
#define KEYS_MAX  64u
#define ITEMS_MAX 16u

typedef struct reader {
    yaml_parser_t parser;
    const char *path;
    const app_schema *schema;
    char *why;
    size_t why_size;
    bool seen[ITEMS_MAX][KEYS_MAX]; /* [item slot][key]: set once, to refuse repeats */
    size_t last_line;
} reader;

static tk_err bad(reader *r, size_t line, const char *fmt, ...) TK_PRINTF_LIKE(3, 4);

static tk_err bad(reader *r, size_t line, const char *fmt, ...)
{
    int n = snprintf(r->why, r->why_size, "%s:%zu: ", r->path, line + 1u);
    va_list ap;
    va_start(ap, fmt);
    if (n > 0 && (size_t)n < r->why_size) vsnprintf(r->why + n, r->why_size - (size_t)n, fmt, ap);
    va_end(ap);
    return TK_EINVAL;
}

/* The next event, of the wanted type (YAML_NO_EVENT: any); the caller deletes it. */
static tk_err next_event(reader *r, yaml_event_t *ev, yaml_event_type_t want, const char *what)
{
    if (!yaml_parser_parse(&r->parser, ev))
        return bad(r, r->parser.problem_mark.line, "not YAML: %s",
                   r->parser.problem != NULL ? r->parser.problem : "syntax error");
    r->last_line = ev->start_mark.line;
    if (want != YAML_NO_EVENT && ev->type != want) {
        size_t line = ev->start_mark.line;
        yaml_event_delete(ev);
        return bad(r, line, "expected %s", what);
    }
    return TK_OK;
}

static tk_err set_value(reader *r, unsigned char *item, const app_key *k, const char *text,
                        size_t line)
{
    unsigned char *at = item + k->offset;
    char *end = NULL;
    errno = 0;
    switch (k->kind) {
    case APP_KEY_STR:
        if (text[0] == '\0' || strlen(text) >= k->size)
            return bad(r, line, "key '%s' in '%s': empty or longer than %zu bytes", k->key,
                       k->section, k->size - 1u);
        snprintf((char *)at, k->size, "%s", text);
        return TK_OK;
    case APP_KEY_U32:
    case APP_KEY_U64:
    case APP_KEY_INT: {
        long long v = strtoll(text, &end, 10);
        if (errno != 0 || end == text || *end != '\0' || v < k->min || v > k->max)
            return bad(r, line, "key '%s' in '%s': not an integer from %lld to %lld: \"%s\"",
                       k->key, k->section, (long long)k->min, (long long)k->max, text);
        if (k->kind == APP_KEY_U32) *(uint32_t *)(void *)at = (uint32_t)v;
        if (k->kind == APP_KEY_U64) *(uint64_t *)(void *)at = (uint64_t)v;
        if (k->kind == APP_KEY_INT) *(int64_t *)(void *)at = (int64_t)v;
        return TK_OK;
    }
    case APP_KEY_DBL: {
        double v = strtod(text, &end);
        if (errno != 0 || end == text || *end != '\0' || !isfinite(v) || v <= (double)k->min ||
            v > (double)k->max)
            return bad(r, line, "key '%s' in '%s': not a number above %lld, at most %lld: \"%s\"",
                       k->key, k->section, (long long)k->min, (long long)k->max, text);
        *(double *)(void *)at = v;
        return TK_OK;
    }
    case APP_KEY_DEC: {
        int64_t v = 0;
        led_parse_error pe = {0, NULL};
        if (led_parse(text, strlen(text), &v, &pe) != TK_OK || v < k->min || v > k->max)
            return bad(r, line, "key '%s' in '%s': not a decimal in range (%s): \"%s\"", k->key,
                       k->section, pe.reason != NULL ? pe.reason : "out of range", text);
        *(int64_t *)(void *)at = v;
        return TK_OK;
    }
    case APP_KEY_BOOL:
        if (strcmp(text, "true") != 0 && strcmp(text, "false") != 0)
            return bad(r, line, "key '%s' in '%s': not true or false: \"%s\"", k->key, k->section,
                       text);
        *(bool *)(void *)at = strcmp(text, "true") == 0;
        return TK_OK;
    }
    TK_ASSERT(false); /* kind outside the enum */
    return TK_EINVAL;
}

/* The rest of a mapping (its start consumed, at start_line) of scalar keys to scalar values,
 * into item; slot indexes the seen-set. */
static tk_err read_mapping_body(reader *r, const app_section *sec, unsigned char *item, size_t slot,
                                size_t start_line)
{
    yaml_event_t ev;
    tk_err err = TK_OK;
    for (;;) { /* bounded by the document: each turn consumes a key and its value, or ends */
        if ((err = next_event(r, &ev, YAML_NO_EVENT, "")) != TK_OK) return err;
        if (ev.type == YAML_MAPPING_END_EVENT) {
            yaml_event_delete(&ev);
            break;
        }
        size_t line = ev.start_mark.line;
        if (ev.type != YAML_SCALAR_EVENT) {
            yaml_event_delete(&ev);
            return bad(r, line, "in '%s': expected a key", sec->name);
        }
        size_t ki = r->schema->key_count;
        for (size_t i = 0; i < r->schema->key_count && ki == r->schema->key_count; i++) {
            if (strcmp(r->schema->keys[i].section, sec->name) == 0 &&
                strcmp(r->schema->keys[i].key, (const char *)ev.data.scalar.value) == 0)
                ki = i;
        }
        if (ki == r->schema->key_count) {
            err = bad(r, line, "key '%s' in '%s': unknown", (const char *)ev.data.scalar.value,
                      sec->name);
            yaml_event_delete(&ev);
            return err;
        }
        yaml_event_delete(&ev);
        const app_key *k = &r->schema->keys[ki];
        if (r->seen[slot][ki])
            return bad(r, line, "key '%s' in '%s': given twice", k->key, k->section);
        r->seen[slot][ki] = true;
        if ((err = next_event(r, &ev, YAML_SCALAR_EVENT, "a value")) != TK_OK) return err;
        err = set_value(r, item, k, (const char *)ev.data.scalar.value, ev.start_mark.line);
        yaml_event_delete(&ev);
        if (err != TK_OK) return err;
    }
    for (size_t i = 0; i < r->schema->key_count; i++) {
        const app_key *k = &r->schema->keys[i];
        if (k->required && strcmp(k->section, sec->name) == 0 && !r->seen[slot][i])
            return bad(r, start_line, "key '%s' in '%s': missing (required)", k->key, sec->name);
    }
    return TK_OK;
}

/* A list section: a sequence of mappings, each into the next item. */
static tk_err read_list(reader *r, const app_section *sec, unsigned char *base, size_t *slot)
{
    yaml_event_t ev;
    tk_err err = next_event(r, &ev, YAML_SEQUENCE_START_EVENT, "a list of mappings");
    if (err != TK_OK) return err;
    yaml_event_delete(&ev);
    uint32_t count = 0;
    for (;;) {
        if ((err = next_event(r, &ev, YAML_NO_EVENT, "")) != TK_OK) return err;
        if (ev.type == YAML_SEQUENCE_END_EVENT) {
            yaml_event_delete(&ev);
            break;
        }
        size_t line = ev.start_mark.line;
        bool mapping = ev.type == YAML_MAPPING_START_EVENT;
        yaml_event_delete(&ev);
        if (!mapping) return bad(r, line, "in '%s': expected a mapping per item", sec->name);
        if (count == sec->list_max || *slot == ITEMS_MAX)
            return bad(r, line, "in '%s': more than %u items", sec->name, sec->list_max);
        unsigned char *item = base + sec->offset + count * sec->stride;
        err = read_mapping_body(r, sec, item, (*slot)++, line);
        if (err != TK_OK) return err;
        count++;
    }
    *(uint32_t *)(void *)(base + sec->count_offset) = count;
    return TK_OK;
}

static const app_section *section_find(const app_schema *schema, const char *name)
{
    for (size_t i = 0; i < schema->section_count; i++)
        if (strcmp(schema->sections[i].name, name) == 0) return &schema->sections[i];
    return NULL;
}

/* The names of the sections, for an error: "node, cluster, raft". */
static void section_names(const app_schema *schema, char *out, size_t size)
{
    out[0] = '\0';
    for (size_t i = 0, at = 0; i < schema->section_count && at < size; i++) {
        int n = snprintf(out + at, size - at, "%s%s", i == 0 ? "" : ", ", schema->sections[i].name);
        if (n < 0) break;
        at += (size_t)n;
    }
}

static tk_err read_document(reader *r, unsigned char *base)
{
    static const yaml_event_type_t head[] = {YAML_STREAM_START_EVENT, YAML_DOCUMENT_START_EVENT,
                                             YAML_MAPPING_START_EVENT};
    yaml_event_t ev;
    tk_err err = TK_OK;
    for (size_t i = 0; i < 3 && err == TK_OK; i++) {
        err = next_event(r, &ev, head[i], "a mapping of sections");
        if (err == TK_OK) yaml_event_delete(&ev);
    }
    bool present[32] = {false};
    TK_ASSERT(r->schema->section_count <= 32 && r->schema->key_count <= KEYS_MAX);
    size_t slot = 0;
    while (err == TK_OK) { /* bounded by the document */
        if ((err = next_event(r, &ev, YAML_NO_EVENT, "")) != TK_OK) break;
        if (ev.type == YAML_MAPPING_END_EVENT) {
            yaml_event_delete(&ev);
            break;
        }
        size_t line = ev.start_mark.line;
        char name[32] = "";
        if (ev.type == YAML_SCALAR_EVENT)
            snprintf(name, sizeof(name), "%s", (const char *)ev.data.scalar.value);
        bool scalar = ev.type == YAML_SCALAR_EVENT;
        yaml_event_delete(&ev);
        const app_section *sec = scalar ? section_find(r->schema, name) : NULL;
        if (sec == NULL) {
            char names[256];
            section_names(r->schema, names, sizeof(names));
            return bad(r, line, "section '%s': unknown (%s)", name, names);
        }
        size_t si = (size_t)(sec - r->schema->sections);
        if (present[si]) return bad(r, line, "section '%s': given twice", name);
        present[si] = true;
        if (sec->list) {
            err = read_list(r, sec, base, &slot);
        } else {
            if (slot == ITEMS_MAX) return bad(r, line, "too many sections");
            err = next_event(r, &ev, YAML_MAPPING_START_EVENT, "a mapping of keys to values");
            if (err != TK_OK) return err;
            size_t start = ev.start_mark.line;
            yaml_event_delete(&ev);
            err = read_mapping_body(r, sec, base, slot++, start);
        }
    }
    for (size_t i = 0; err == TK_OK && i < r->schema->section_count; i++) {
        const app_section *sec = &r->schema->sections[i];
        if (sec->required && !present[i])
            return bad(r, r->last_line, "section '%s': missing (required)", sec->name);
        if (present[i] || sec->list) continue;
        for (size_t k = 0; k < r->schema->key_count; k++) /* an absent section's required keys */
            if (r->schema->keys[k].required && strcmp(r->schema->keys[k].section, sec->name) == 0)
                return bad(r, r->last_line, "key '%s' in '%s': missing (required)",
                           r->schema->keys[k].key, sec->name);
    }
    return err;
}

tk_err app_yaml_load(const char *path, const app_schema *schema, void *base, char *why,
                     size_t why_size)
{
    TK_ASSERT(path != NULL && schema != NULL && base != NULL && why != NULL && why_size > 0);
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        int e = errno;
        snprintf(why, why_size, "%s: cannot open: %s", path, strerror(e));
        return tk_err_from_errno(e);
    }
    reader *r = calloc(1, sizeof(*r));
    if (r == NULL || !yaml_parser_initialize(&r->parser)) {
        free(r);
        fclose(f);
        snprintf(why, why_size, "%s: out of memory for the YAML parser", path);
        return TK_ENOMEM;
    }
    r->path = path;
    r->schema = schema;
    r->why = why;
    r->why_size = why_size;
    yaml_parser_set_input_file(&r->parser, f);
    tk_err err = read_document(r, base);
    yaml_parser_delete(&r->parser);
    free(r);
    fclose(f);
    return err;
}
