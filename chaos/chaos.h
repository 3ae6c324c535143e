/* chaos: the chaos harness (docs/chaos.md). Two tiers:
 *   - real processes: `troika chaos run` starts a three-node cluster of `troika node` processes
 *     (each in its own network namespace where the machine allows it), drives a workload of
 *     clients through the client API, injects faults from a schedule derived from a seed, heals,
 *     and checks the invariants into DIR/result.json;
 *   - deterministic: `troika chaos sim` runs the ledger FSM on libraft's in-memory fixture
 *     (raft/fixture.h) under random faults for many seeds and classifies each.
 * This header also gives the nemeses' building blocks (network namespaces and partitions, disk
 * and fsync faults), which the nemesis tests drive one by one. */
#ifndef TK_CHAOS_CHAOS_H
#define TK_CHAOS_CHAOS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "tk.h"

/* ---- Entry points (the troika binary's `chaos` subcommand) ------------------------------------ */

/* `troika chaos run|sim ...` (docs/chaos.md); argv[0] is "chaos". Returns the process exit
 * code: 0 when every invariant held, 1 on a violation (run: DIR/result.json says which; sim: a
 * line per failing seed), 2 on a usage error, 3 when a run could not be set up. */
int chaos_main(int argc, char **argv);

/* ---- Network: namespaces, partitions ---------------------------------------------------------- */

#define CHAOS_NODES 3u

/* Where the cluster's nodes live on the network. With namespaces, node i (0-based) has its own
 * namespace ns[i] with address node_ip[i] on a veth pair whose other end is on a bridge in the
 * caller's namespace, which has host_ip; without them every address is 127.0.0.1. */
typedef struct chaos_net {
    bool netns;                    /* namespaces are in use (else loopback) */
    char tag[16];                  /* unique per run: prefixes the namespaces' and links' names */
    char ns[CHAOS_NODES][32];      /* namespace names; "" on loopback */
    char host_ip[16];              /* how the nodes reach the host (the venue mock, say) */
    char node_ip[CHAOS_NODES][16]; /* how the host and the other nodes reach node i */
} chaos_net;

/* Set up the network for CHAOS_NODES nodes into *net. With want_netns, try namespaces (needs
 * root and iproute2); when they cannot be made, fall back to loopback and write why into why
 * (a sentence; "" when namespaces are in use or were not wanted). Errors: none besides the
 * fallback, which is not an error (TK_OK). Undo with chaos_net_down. */
tk_err chaos_net_up(chaos_net *net, bool want_netns, char *why, size_t why_size);

/* Remove what chaos_net_up made (namespaces, links, bridge, their filter rules). Idempotent. */
void chaos_net_down(chaos_net *net);

/* Whether partitions can be made (namespaces in use and iptables present). */
bool chaos_net_can_partition(const chaos_net *net);

/* Drop every packet node `to` receives from node `from` (0-based, distinct): a one-way cut.
 * Traffic between the host and the nodes (clients, the venue) is never dropped. Errors:
 * TK_ENOTSUP without partitions, TK_EIO when iptables failed (its output in why). */
tk_err chaos_net_drop(chaos_net *net, unsigned from, unsigned to, char *why, size_t why_size);

/* Cut node (0-based) off from every other node, both ways. Errors: as chaos_net_drop. */
tk_err chaos_net_isolate(chaos_net *net, unsigned node, char *why, size_t why_size);

/* Remove every cut. Errors: as chaos_net_drop. */
tk_err chaos_net_heal(chaos_net *net, char *why, size_t why_size);

/* The argv prefix that runs a command inside node's namespace ("ip", "netns", "exec", ns) into
 * argv; returns how many entries it wrote (0 on loopback). argv needs 4 entries; the strings
 * are borrowed from net. */
unsigned chaos_net_exec_prefix(const chaos_net *net, unsigned node, const char *argv[4]);

/* ---- Disk and fsync faults -------------------------------------------------------------------- */

/* The environment variable naming the control file of the Raft write shim (libtk_chaos_eio.so,
 * an LD_PRELOAD library): while that file exists, every io_submit the process makes (raft_uv's
 * log writes, through syscall(2) or the libc wrapper) fails with EIO. */
#define CHAOS_EIO_ENV "TK_CHAOS_EIO_FILE"

/* libfiu's failure points that fail RocksDB's syncs (fiu-run's POSIX preload). */
#define CHAOS_FIU_FSYNC     "posix/io/sync/fsync"
#define CHAOS_FIU_FDATASYNC "posix/io/sync/fdatasync"

/* Turn libfiu's failure point name on (enable) or off in process pid, which was started under
 * `fiu-run -x`, with fiu-ctrl. Errors: TK_EIO (fiu-ctrl failed; its output in why), TK_ENOENT
 * (fiu-ctrl is not installed). */
tk_err chaos_fiu_set(pid_t pid, const char *name, bool enable, char *why, size_t why_size);

/* Mount a tmpfs of mib MiB on dir (which must exist), for a disk that fills up. Errors:
 * TK_EPERM (not allowed: not root), TK_EIO (mount failed; why says how). */
tk_err chaos_disk_mount(const char *dir, unsigned mib, char *why, size_t why_size);

/* Unmount what chaos_disk_mount mounted on dir (lazily, so open files do not block it). */
void chaos_disk_umount(const char *dir);

/* Fill the file system holding dir: write a ballast file there until the disk is full.
 * Errors: TK_EIO when the ballast cannot be created. */
tk_err chaos_disk_fill(const char *dir, char *why, size_t why_size);

/* Remove the ballast chaos_disk_fill wrote in dir. Idempotent. */
void chaos_disk_unfill(const char *dir);

/* ---- The deterministic tier (raft/fixture.h) -------------------------------------------------- */

#endif /* TK_CHAOS_CHAOS_H */
