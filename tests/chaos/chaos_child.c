/* chaos_child: the process a nemesis test starts and hurts, so that the fault lands in a process
 * of its own (an LD_PRELOAD shim, fiu-run's preloads) and the test reads the effect off a pipe.
 * Driven line by line: commands on stdin, one answer line per command on stdout.
 *
 *   chaos_child raft DIR   raft_uv on DIR (init, load); prints "ready", then on "append"
 *                          appends one entry and prints "status N MESSAGE" (N: the append's
 *                          raft status, 0 when it was written), then closes raft_uv and exits.
 *   chaos_child store DIR  a troika store at DIR, opened with sync on; prints "ready
 *                          LAST_INDEX", then on
 *                          "append N" writes N events of LED_EVENT_BYTES_MAX bytes in one
 *                          es_write and prints "ok LAST_INDEX" or "err CODE TEXT", on "reopen"
 *                          closes and opens the store again ("ok LAST_INDEX" or "err ...").
 *                          Ends at the end of stdin.
 * Exit code: 0 when the protocol ran to its end, 1 when setting up failed (the reason on
 * stdout and stderr), 2 on a usage error. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <raft.h>
#include <raft/uv.h>
#include <uv.h>

#include "es.h"
#include "led.h"
#include "tk.h"

#define COMMANDS_MAX 64u     /* commands one run answers (the tests send a handful) */
#define BATCH_MAX    64u     /* events of one append */
#define LOOP_TURNS   100000u /* uv loop turns an append or a close may take */
#define LINE_BYTES   128u
#define RAFT_ADDRESS "127.0.0.1:9001" /* never listened on: only the disk is used */

/* Read one command line from stdin into line, without its newline. false at the end. */
static bool command_read(char *line, size_t size)
{
    TK_ASSERT(size > 1);
    if (fgets(line, (int)size, stdin) == NULL) return false;
    line[strcspn(line, "\n")] = '\0';
    return true;
}

/* Print an answer line and push it out at once: the test is waiting for it. */
static void answer(const char *text)
{
    TK_ASSERT(text != NULL);
    printf("%s\n", text);
    fflush(stdout);
}

/* ---- raft ------------------------------------------------------------------------------------ */

typedef struct raft_run {
    uv_loop_t loop;
    struct raft_uv_transport transport;
    struct raft_io io;
    bool appended; /* the append's callback ran */
    int status;    /* its status */
    bool closed;   /* io's close callback ran */
} raft_run;

static void append_done(struct raft_io_append *req, int status)
{
    raft_run *run = req->data;
    TK_ASSERT(!run->appended);
    run->appended = true;
    run->status = status;
}

/* Only marks the close: raft_uv's memory is released once the loop has drained (as libraft's
 * own tests do), never here. libraft 0.15 may call this twice (seen about once in 30 runs on a
 * tmpfs: work of its own that ends after the first call fires the callback again), and freeing
 * here would turn that second call into a use after free. */
static void io_closed(struct raft_io *io)
{
    raft_run *run = io->data;
    TK_ASSERT(run != NULL);
    run->closed = true;
}

/* Turn the loop until *flag is set (or LOOP_TURNS turns went by). */
static void loop_until(raft_run *run, const bool *flag)
{
    for (unsigned turn = 0; turn < LOOP_TURNS && !*flag; turn++) {
        uv_run(&run->loop, UV_RUN_ONCE);
    }
}

/* raft_uv's io on dir, initialised and loaded (an empty log). false with an answer line. */
static bool raft_open(raft_run *run, const char *dir)
{
    char line[LINE_BYTES + RAFT_ERRMSG_BUF_SIZE];
    TK_ASSERT(uv_loop_init(&run->loop) == 0);
    TK_ASSERT(raft_uv_tcp_init(&run->transport, &run->loop) == 0);
    int rv = raft_uv_init(&run->io, &run->loop, dir, &run->transport);
    if (rv == 0) {
        run->io.data = run;
        rv = run->io.init(&run->io, 1, RAFT_ADDRESS);
    }
    raft_term term = 0;
    raft_id vote = 0;
    struct raft_snapshot *snapshot = NULL;
    raft_index start = 0;
    struct raft_entry *entries = NULL;
    size_t count = 0;
    if (rv == 0) rv = run->io.load(&run->io, &term, &vote, &snapshot, &start, &entries, &count);
    if (rv != 0) {
        snprintf(line, sizeof(line), "setup failed: %s: %s", raft_strerror(rv), run->io.errmsg);
        answer(line);
        return false;
    }
    TK_ASSERT(snapshot == NULL); /* a fresh directory */
    TK_ASSERT(count == 0);
    return true;
}

static int raft_main(const char *dir)
{
    static raft_run run; /* static: the loop and io are large, and zeroed */
    if (!raft_open(&run, dir)) return 1;
    answer("ready");
    char line[LINE_BYTES + RAFT_ERRMSG_BUF_SIZE];
    if (!command_read(line, sizeof(line)) || strcmp(line, "append") != 0) return 2;
    struct raft_entry entry = {.term = 1, .type = RAFT_COMMAND, .buf = {NULL, 8}, .batch = NULL};
    entry.buf.base = raft_calloc(1, entry.buf.len);
    TK_ASSERT(entry.buf.base != NULL);
    struct raft_io_append req = {.data = &run};
    int rv = run.io.append(&run.io, &req, &entry, 1, append_done);
    if (rv == 0) {
        loop_until(&run, &run.appended);
    } else { /* refused at once: the same failure, reported earlier */
        run.appended = true;
        run.status = rv;
    }
    TK_ASSERT(run.appended);
    snprintf(line, sizeof(line), "status %d %s", run.status, run.status == 0 ? "" : run.io.errmsg);
    answer(line);
    raft_free(entry.buf.base);
    run.io.close(&run.io, io_closed);
    loop_until(&run, &run.closed);
    TK_ASSERT(run.closed);
    uv_run(&run.loop, UV_RUN_DEFAULT); /* raft_uv's handles and thread-pool work finish */
    raft_uv_close(&run.io);
    raft_uv_tcp_close(&run.transport);
    uv_run(&run.loop, UV_RUN_DEFAULT);
    TK_ASSERT(uv_loop_close(&run.loop) == 0);
    return 0;
}

/* ---- store ----------------------------------------------------------------------------------- */

/* Append count (1..BATCH_MAX) events after meta->last_index in one es_write and answer. */
static void store_append(es_store *store, es_meta *meta, uint32_t count)
{
    TK_ASSERT(count >= 1u);
    TK_ASSERT(count <= BATCH_MAX);
    static uint8_t events[BATCH_MAX][LED_EVENT_BYTES_MAX];
    static uint8_t hashes[BATCH_MAX][LED_HASH_BYTES];
    es_record records[BATCH_MAX];
    es_meta next = *meta;
    for (uint32_t i = 0; i < count; i++) {
        uint64_t index = meta->last_index + 1u + i;
        memset(events[i], (int)(index & 0xFFu), sizeof(events[i]));
        led_chain_next(next.chain_hash, index, events[i], sizeof(events[i]), hashes[i]);
        memcpy(next.chain_hash, hashes[i], LED_HASH_BYTES);
        records[i] = (es_record){index, events[i], sizeof(events[i]), hashes[i]};
    }
    next.last_index += count;
    es_error why = {{0}};
    tk_err err = es_write(store, records, count, &next, NULL, &why);
    char line[LINE_BYTES + sizeof(why.text)];
    if (err == TK_OK) {
        *meta = next;
        snprintf(line, sizeof(line), "ok %llu", (unsigned long long)meta->last_index);
    } else {
        snprintf(line, sizeof(line), "err %s %s", tk_err_name(err), why.text);
    }
    answer(line);
}

/* Open the store at path (sync on) into *store and its meta into *meta. false with the error
 * answered. */
static bool store_open(const char *path, es_store **store, es_meta *meta)
{
    es_opts opts = {.path = path, .create_if_missing = true, .sync = true, .cluster_id = "chaos"};
    es_error why = {{0}};
    tk_err err = es_open(&opts, store, &why);
    if (err == TK_OK) {
        err = es_meta_read(*store, meta, &why);
        if (err != TK_OK) es_close(*store);
    }
    if (err == TK_OK) return true;
    char line[LINE_BYTES + sizeof(why.text)];
    snprintf(line, sizeof(line), "err %s %s", tk_err_name(err), why.text);
    answer(line);
    return false;
}

static int store_main(const char *path)
{
    es_store *store = NULL;
    es_meta meta;
    if (!store_open(path, &store, &meta)) return 1;
    char ready[LINE_BYTES];
    snprintf(ready, sizeof(ready), "ready %llu", (unsigned long long)meta.last_index);
    answer(ready);
    char line[LINE_BYTES];
    for (unsigned k = 0; k < COMMANDS_MAX && store != NULL && command_read(line, sizeof(line));
         k++) {
        unsigned count = 0;
        char reply[LINE_BYTES];
        if (sscanf(line, "append %u", &count) == 1 && count >= 1u && count <= BATCH_MAX) {
            store_append(store, &meta, count);
        } else if (strcmp(line, "reopen") == 0) {
            es_close(store);
            store = NULL;
            if (!store_open(path, &store, &meta)) continue;
            snprintf(reply, sizeof(reply), "ok %llu", (unsigned long long)meta.last_index);
            answer(reply);
        } else {
            answer("err usage unknown command");
        }
    }
    es_close(store);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "raft") == 0) return raft_main(argv[2]);
    if (argc == 3 && strcmp(argv[1], "store") == 0) return store_main(argv[2]);
    fprintf(stderr, "usage: chaos_child raft DIR | chaos_child store DIR\n");
    return 2;
}
