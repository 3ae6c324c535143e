/* libFuzzer target: the candle file reader (feeds/), which reads files users bring. The input is
 * read as a whole file through fmemopen, whatever its format (CSV or JSON, as detected). Any input
 * is either refused at open or yields bars that pass every check the reader promises (times
 * increasing by whole multiples of the interval, high and low around open and close, prices
 * above 0, volume at least 0), then a final TK_ENOENT or TK_EINVAL that repeats. Any broken
 * property aborts. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "feed.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_bar(const feed_bar *bar, const feed_bar *prev, int64_t interval_ns)
{
    TK_ASSERT(bar->open_e8 > 0 && bar->high_e8 > 0 && bar->low_e8 > 0 && bar->close_e8 > 0);
    TK_ASSERT(bar->volume_e8 >= 0);
    TK_ASSERT(bar->high_e8 >= bar->open_e8 && bar->high_e8 >= bar->close_e8);
    TK_ASSERT(bar->low_e8 <= bar->open_e8 && bar->low_e8 <= bar->close_e8);
    TK_ASSERT(bar->open_ts_ns >= 0);
    if (prev == NULL) {
        TK_ASSERT(bar->gap_bars == 0);
        return;
    }
    TK_ASSERT(bar->line > prev->line);
    TK_ASSERT(bar->open_ts_ns > prev->open_ts_ns);
    TK_ASSERT(interval_ns > 0);
    int64_t step_ns = bar->open_ts_ns - prev->open_ts_ns;
    TK_ASSERT(step_ns % interval_ns == 0);
    TK_ASSERT((uint64_t)(step_ns / interval_ns) == bar->gap_bars + 1u);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char empty[1];
    /* fmemopen only reads the buffer in mode "r"; a size of 0 gets a buffer of its own */
    FILE *stream =
        size > 0 ? fmemopen((void *)(uintptr_t)data, size, "r") : fmemopen(empty, 1, "r");
    if (stream == NULL) return 0;
    if (size == 0) (void)fgetc(stream); /* now at the end: an empty file */
    feed_file *file = NULL;
    feed_error why;
    tk_err err = feed_file_open_stream(stream, "fuzz", tk_mem_system(), &file, &why);
    if (err != TK_OK) {
        TK_ASSERT(err == TK_EINVAL || err == TK_ENOMEM || err == TK_EIO);
        TK_ASSERT(strncmp(why.text, "fuzz", 4) == 0);
        fclose(stream);
        return 0;
    }
    int64_t interval_ns = feed_file_interval_s(file) * 1000000000;
    TK_ASSERT(interval_ns >= 0);
    TK_ASSERT(feed_file_format(file) != NULL);
    feed_bar bar, prev;
    uint64_t bars = 0;
    /* every bar takes a dozen bytes or more, so size + 1 calls reach the end */
    for (size_t i = 0; i <= size; i++) {
        err = feed_file_next(file, &bar, &why);
        if (err != TK_OK) break;
        check_bar(&bar, bars > 0 ? &prev : NULL, interval_ns);
        prev = bar;
        bars++;
    }
    TK_ASSERT(err == TK_ENOENT || err == TK_EINVAL || err == TK_EIO);
    TK_ASSERT(strncmp(why.text, "fuzz", 4) == 0);
    feed_error again;
    TK_ASSERT(feed_file_next(file, &bar, &again) == err);
    TK_ASSERT(strcmp(why.text, again.text) == 0);
    feed_file_close(file);
    fclose(stream);
    return 0;
}
