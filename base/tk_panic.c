/* tk_panic: report a broken invariant with a backtrace, then abort. */
#include <execinfo.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tk.h"

/* Write all of text to stderr, ignoring errors: there is nothing left to report them to. */
static void write_stderr(const char *text, size_t size_bytes)
{
    while (size_bytes > 0) {
        ssize_t n = write(STDERR_FILENO, text, size_bytes);
        if (n <= 0) return;
        text += n;
        size_bytes -= (size_t)n;
    }
}

_Noreturn void tk_panic(const char *file, int line, const char *expr)
{
    char head[512];
    int len = snprintf(head, sizeof(head), "panic: %s:%d: assertion failed: %s\nbacktrace:\n",
                       file != NULL ? file : "?", line, expr != NULL ? expr : "?");
    if (len > 0) write_stderr(head, strnlen(head, sizeof(head)));

    void *frames[TK_BACKTRACE_FRAMES_MAX];
    int count = backtrace(frames, TK_BACKTRACE_FRAMES_MAX);
    backtrace_symbols_fd(frames, count, STDERR_FILENO);

    abort();
}
