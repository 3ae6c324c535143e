/* libFuzzer target: the log level spec parser (tk_log_set_levels), which reads text from the
 * command line and config files. Checks that any input is either applied or refused with a
 * NUL-terminated reason, and that a refused spec changes no level. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tk.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *spec = malloc(size + 1u);
    TK_ASSERT(spec != NULL);
    memcpy(spec, data, size);
    spec[size] = '\0';

    bool before = tk_log_enabled(TK_LOG_WARN, "fuzz");
    char why[96];
    memset(why, 'x', sizeof(why));
    tk_err err = tk_log_set_levels(spec, why, sizeof(why));
    if (err == TK_OK) {
        /* The spec replaced the configuration: reset it so the module table does not fill. */
        tk_err reset = tk_log_set_levels("off", NULL, 0);
        TK_ASSERT(reset == TK_OK);
    } else {
        TK_ASSERT(err == TK_EINVAL || err == TK_EFULL);
        TK_ASSERT(memchr(why, '\0', sizeof(why)) != NULL);
        TK_ASSERT(tk_log_enabled(TK_LOG_WARN, "fuzz") == before);
    }
    free(spec);
    return 0;
}
