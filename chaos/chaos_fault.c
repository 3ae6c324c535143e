/* chaos_fault.c (chaos.h): the disk nemeses. libfiu failure points switched in a running
 * process with fiu-ctrl (fsync errors for RocksDB), a small tmpfs, and a ballast file that
 * fills it (a full disk). The Raft write shim is chaos_eio.c, a library of its own. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "chaos.h"

#define BALLAST        ".chaos-ballast"
#define BALLAST_BLOCK  4096u /* the smallest piece fill allocates */
#define BALLAST_STEPS  64u   /* bounds the halvings of the piece size */
#define BALLAST_PIECES 4u    /* pieces of one size tried before halving it */
#define FIU_ERRNO      EIO   /* the errno an enabled failure point sets (failinfo) */

/* ---- libfiu ---------------------------------------------------------------------------------- */

tk_err chaos_fiu_set(pid_t pid, const char *name, bool enable, char *why, size_t why_size)
{
    TK_ASSERT(pid > 0);
    TK_ASSERT(name != NULL && name[0] != '\0');
    TK_ASSERT(why != NULL && why_size > 0);
    char command[160], pid_text[24];
    /* "enable" fails every call (failnum 1, no probability); failinfo picks the errno, which
     * would otherwise be drawn at random from those the function may set. */
    int n = enable
                ? snprintf(command, sizeof(command), "enable name=%s,failinfo=%d", name, FIU_ERRNO)
                : snprintf(command, sizeof(command), "disable name=%s", name);
    TK_ASSERT(n > 0 && (size_t)n < sizeof(command));
    snprintf(pid_text, sizeof(pid_text), "%ld", (long)pid);
    const char *const argv[] = {"fiu-ctrl", "-c", command, pid_text, NULL};
    tk_err err = chaos_command_run(argv, why, why_size);
    if (err == TK_ENOENT) return TK_ENOENT;
    if (err != TK_OK) return TK_EIO;
    /* fiu-ctrl exits 0 even when it failed ("Error: unknown pid or named pipe", "returned
     * error"): it prints nothing when it worked. */
    if (why[0] == '\0') return TK_OK;
    char text[256];
    snprintf(text, sizeof(text), "%s", why);
    snprintf(why, why_size, "fiu-ctrl -c '%s' %s: %s", command, pid_text, text);
    return TK_EIO;
}

/* ---- tmpfs ----------------------------------------------------------------------------------- */

tk_err chaos_disk_mount(const char *dir, unsigned mib, char *why, size_t why_size)
{
    TK_ASSERT(dir != NULL);
    TK_ASSERT(mib > 0);
    TK_ASSERT(why != NULL && why_size > 0);
    why[0] = '\0';
    char data[48];
    snprintf(data, sizeof(data), "size=%um,mode=0700", mib);
    if (mount("tmpfs", dir, "tmpfs", MS_NOSUID | MS_NODEV, data) == 0) return TK_OK;
    int e = errno;
    snprintf(why, why_size, "mount -t tmpfs -o %s tmpfs %s: %s", data, dir, strerror(e));
    return e == EPERM ? TK_EPERM : TK_EIO;
}

void chaos_disk_umount(const char *dir)
{
    TK_ASSERT(dir != NULL);
    TK_ASSERT(dir[0] != '\0');
    (void)umount2(dir, MNT_DETACH); /* nothing mounted there: nothing to do */
}

/* ---- Ballast --------------------------------------------------------------------------------- */

/* The largest power of two, at least BALLAST_BLOCK, not above the free bytes of the file
 * system of fd (blocks reserved for root included: root may fill them too). */
static off_t ballast_first_piece(int fd)
{
    struct statvfs fs;
    off_t piece = BALLAST_BLOCK;
    if (fstatvfs(fd, &fs) != 0) return piece;
    uint64_t free_bytes = (uint64_t)fs.f_bfree * (uint64_t)fs.f_frsize;
    for (unsigned step = 0; step < BALLAST_STEPS - 2u; step++) {
        if ((uint64_t)piece * 2u > free_bytes) break;
        piece *= 2;
    }
    TK_ASSERT(piece >= (off_t)BALLAST_BLOCK);
    return piece;
}

/* Allocate pieces of halving sizes after *offset until not even BALLAST_BLOCK bytes fit: sizes
 * start from the free space, so posix_fallocate's fallback (writing a byte per block, where
 * the file system has no fallocate) never runs far past the end of the disk. Returns 0 once
 * the disk is full, else the errno that stopped it. */
static int ballast_allocate(int fd, off_t *offset)
{
    TK_ASSERT(fd >= 0);
    TK_ASSERT(*offset == 0);
    off_t piece = ballast_first_piece(fd);
    for (unsigned step = 0; step < BALLAST_STEPS && piece >= (off_t)BALLAST_BLOCK; step++) {
        for (unsigned k = 0; k < BALLAST_PIECES; k++) {
            int rc = posix_fallocate(fd, *offset, piece);
            if (rc == ENOSPC || rc == EFBIG) break; /* smaller pieces may still fit */
            if (rc != 0) return rc;
            *offset += piece;
        }
        piece /= 2;
    }
    return 0;
}

/* Write what posix_fallocate leaves (less than BALLAST_BLOCK bytes) until a write fails. */
static int ballast_write_tail(int fd, off_t offset)
{
    static const char zeros[512];
    for (unsigned k = 0; k < BALLAST_BLOCK / sizeof(zeros) + 1u; k++) {
        ssize_t n = pwrite(fd, zeros, sizeof(zeros), offset);
        if (n < 0) return errno == ENOSPC ? 0 : errno;
        if ((size_t)n < sizeof(zeros)) return 0; /* a short write: full */
        offset += n;
    }
    return 0;
}

tk_err chaos_disk_fill(const char *dir, char *why, size_t why_size)
{
    TK_ASSERT(dir != NULL);
    TK_ASSERT(why != NULL && why_size > 0);
    why[0] = '\0';
    char path[4096];
    int n = snprintf(path, sizeof(path), "%s/%s", dir, BALLAST);
    if (n < 0 || (size_t)n >= sizeof(path)) {
        snprintf(why, why_size, "%s: path too long for the ballast", dir);
        return TK_EIO;
    }
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(why, why_size, "cannot create the ballast %s: %s", path, strerror(errno));
        return TK_EIO;
    }
    off_t offset = 0;
    int rc = ballast_allocate(fd, &offset);
    if (rc == 0) rc = ballast_write_tail(fd, offset);
    if (rc == 0 && fsync(fd) != 0) rc = errno;
    close(fd);
    if (rc != 0) {
        snprintf(why, why_size, "cannot fill %s with the ballast %s: %s", dir, path, strerror(rc));
        return TK_EIO;
    }
    return TK_OK;
}

void chaos_disk_unfill(const char *dir)
{
    TK_ASSERT(dir != NULL);
    char path[4096];
    int n = snprintf(path, sizeof(path), "%s/%s", dir, BALLAST);
    TK_ASSERT(n > 0 && (size_t)n < sizeof(path)); /* chaos_disk_fill made it with this name */
    (void)unlink(path);                           /* no ballast: nothing to remove */
}
