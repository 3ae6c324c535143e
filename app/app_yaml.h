/* Private to app/: strict YAML configuration files, read with libyaml's event parser against a
 * schema. A file is a mapping of sections; a section is a mapping of scalar keys to scalar
 * values, or (a list section) a sequence of such mappings. An unknown section or key, a value
 * of the wrong type or out of range, a repeated key, or a missing required key is an error
 * naming the file, the line and the key: "node1.yaml:7: key 'port' in 'api': ...". */
#ifndef TK_APP_APP_YAML_H
#define TK_APP_APP_YAML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tk.h"

typedef enum app_key_kind {
    APP_KEY_STR,  /* a char array of size bytes; non-empty */
    APP_KEY_U32,  /* uint32_t in min..max */
    APP_KEY_U64,  /* uint64_t in min..max (min and max as int64_t, so at most INT64_MAX) */
    APP_KEY_INT,  /* int64_t in min..max */
    APP_KEY_DBL,  /* double above min, at most max */
    APP_KEY_DEC,  /* a decimal as int64_t in 1e-8 units (led_parse), in min..max */
    APP_KEY_BOOL, /* bool: true or false */
} app_key_kind;

typedef struct app_key {
    const char *section, *key;
    app_key_kind kind;
    size_t offset; /* from the section's base (the struct, or the list item) */
    size_t size;   /* APP_KEY_STR: the array's bytes */
    int64_t min, max;
    bool required;
} app_key;

typedef struct app_section {
    const char *name;
    bool required;       /* the section must appear */
    bool list;           /* a sequence of mappings */
    uint32_t list_max;   /* list: most items */
    size_t offset;       /* list: where the item array starts in the struct */
    size_t stride;       /* list: bytes per item */
    size_t count_offset; /* list: a uint32_t in the struct that gets the item count */
} app_section;

typedef struct app_schema {
    const app_section *sections;
    size_t section_count;
    const app_key *keys;
    size_t key_count;
} app_schema;

/* Read path into the struct at base (which holds the defaults) against schema.
 * Errors: TK_EINVAL (why: "FILE:LINE: what", naming the key and section), TK_ENOENT /
 * TK_EPERM (cannot open: why says so), TK_ENOMEM. */
TK_MUST_USE tk_err app_yaml_load(const char *path, const app_schema *schema, void *base, char *why,
                                 size_t why_size);

#endif /* TK_APP_APP_YAML_H */
