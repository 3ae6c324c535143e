/* execution internals shared by its files (exec_binance.c, exec_reconcile.c). Not for other
 * modules. */
#ifndef TK_EXECUTION_EXEC_INTERNAL_H
#define TK_EXECUTION_EXEC_INTERNAL_H

#include "exec.h"

/* Write the formatted reason into why (why_size bytes; nothing when why is NULL) and return
 * err: the one way this module's functions say why they refused. */
tk_err exec__fail(char *why, size_t why_size, tk_err err, const char *fmt, ...)
    TK_PRINTF_LIKE(4, 5);

#endif /* TK_EXECUTION_EXEC_INTERNAL_H */
