/* chaos_eio.c: libtk_chaos_eio.so, the Raft write shim (chaos.h, CHAOS_EIO_ENV). An LD_PRELOAD
 * library: while the file named by $TK_CHAOS_EIO_FILE exists, every io_submit(2) the process
 * makes fails (EIO, or EAGAIN first: see syscall() below); everything else passes through
 * untouched.
 *
 * Why a shim: raft_uv writes its log with kernel AIO, calling syscall(__NR_io_submit, ...)
 * itself (glibc has no io_submit wrapper, and raft does not use libaio), so libfiu's POSIX
 * wrappers never see those writes. This library defines syscall() ahead of glibc's: io_submit
 * is refused, any other number goes to glibc's syscall() (found with dlsym(RTLD_NEXT)). On
 * this project's machines no library exports an io_submit symbol (neither glibc nor libaio,
 * which is not even installed), so there is none to wrap.
 *
 * How it is built and loaded (chaos/CMakeLists.txt): as a MODULE of its own, from this file
 * alone, WITHOUT the sanitizer flags of the rest of the build and without any troika library, so
 * that it drags nothing into the process it is preloaded into (hence also CHAOS_EIO_ENV's value
 * spelled out below: chaos.h pulls in other modules' headers; the tests/chaos EIO test fails if
 * the two differ). A process built with AddressSanitizer then sees a library ahead of the ASan
 * runtime in its initial library list and refuses to start ("ASan runtime does not come first
 * in initial library list") unless ASAN_OPTIONS carries verify_asan_link_order=0, which the
 * harness and the tests set in the child's environment; a process without sanitizers needs
 * nothing. The variable is read once, when the library loads; the file is looked at on every
 * io_submit (one access(2)). */
#define _GNU_SOURCE /* RTLD_NEXT; syscall()'s declaration, which this file replaces */
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/uio.h> /* RWF_NOWAIT */
#include <unistd.h>

#include <linux/aio_abi.h> /* struct iocb */

#define EIO_ENV   "TK_CHAOS_EIO_FILE" /* = CHAOS_EIO_ENV (chaos.h) */
#define IOCBS_MAX 1024L               /* requests of one io_submit looked at (raft sends 1) */

typedef long syscall_fn(long number, long a0, long a1, long a2, long a3, long a4, long a5);

static _Atomic(syscall_fn *) real_syscall; /* glibc's syscall(), once looked up */
static char control_path[PATH_MAX];        /* $TK_CHAOS_EIO_FILE; "" when unset or too long */

/* glibc's syscall(). dlsym gives a data pointer; POSIX guarantees it converts to a function
 * pointer, and memcpy says so without a cast ISO C frowns on. */
static syscall_fn *real_syscall_get(void)
{
    /* acquire pairs with the release below: a thread that sees the pointer sees it whole */
    syscall_fn *fn = atomic_load_explicit(&real_syscall, memory_order_acquire);
    if (fn != NULL) return fn;
    void *symbol = dlsym(RTLD_NEXT, "syscall");
    _Static_assert(sizeof(symbol) == sizeof(fn), "dlsym's pointer holds a function pointer");
    memcpy(&fn, &symbol, sizeof(fn));
    /* release: racing threads store the same pointer; any of them may win */
    atomic_store_explicit(&real_syscall, fn, memory_order_release);
    return fn;
}

/* Runs when the library loads, before main: looks glibc's syscall() up and reads the variable
 * while no thread of the program can be changing the environment. */
__attribute__((constructor)) static void eio_load(void)
{
    (void)real_syscall_get();
    const char *path = getenv(EIO_ENV);
    if (path == NULL) return;
    size_t len = strnlen(path, sizeof(control_path));
    if (len < sizeof(control_path)) memcpy(control_path, path, len + 1u);
}

/* Whether io_submit must fail now: the control file exists. errno is left as it was. */
static int eio_on(void)
{
    if (control_path[0] == '\0') return 0;
    int saved = errno;
    int on = access(control_path, F_OK) == 0;
    errno = saved;
    return on;
}

/* Whether one of the count requests at list asks not to block (RWF_NOWAIT). */
static int any_nowait(long count, long list)
{
    const struct iocb *const *iocbs = (const struct iocb *const *)(uintptr_t)list;
    if (iocbs == NULL) return 0;
    for (long i = 0; i < count && i < IOCBS_MAX; i++) {
        if (iocbs[i] != NULL && (iocbs[i]->aio_rw_flags & RWF_NOWAIT) != 0) return 1;
    }
    return 0;
}

/* glibc's syscall(), with io_submit failing while the control file exists: -1 and errno EIO,
 * or EAGAIN for a submission that asked not to block (RWF_NOWAIT), as the kernel answers when
 * such a write would block. raft_uv's first attempt at a write is such a submission; on EAGAIN
 * it submits again, blocking, from libuv's thread pool, and that EIO reaches the append's
 * callback as RAFT_IOERR. An EIO on the first attempt would not: libraft 0.15 then marks its
 * io errored and never calls the append's callback, wedging the node (docs/cluster.md, bug 3).
 * Six argument registers are read whatever the number takes, as glibc's own syscall() does:
 * the extra ones hold garbage that the kernel ignores. */
long syscall(long number, ...)
{
    va_list ap;
    va_start(ap, number);
    long a0 = va_arg(ap, long), a1 = va_arg(ap, long), a2 = va_arg(ap, long);
    long a3 = va_arg(ap, long), a4 = va_arg(ap, long), a5 = va_arg(ap, long);
    va_end(ap);
    if (number == SYS_io_submit && eio_on()) { /* io_submit(ctx, count, iocbs) */
        errno = any_nowait(a1, a2) ? EAGAIN : EIO;
        return -1;
    }
    syscall_fn *fn = real_syscall_get();
    if (fn == NULL) { /* no syscall() after us: nothing to forward to */
        errno = ENOSYS;
        return -1;
    }
    return fn(number, a0, a1, a2, a3, a4, a5);
}
