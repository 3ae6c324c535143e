/* Private to app/: what the troika binary's files share. */
#ifndef TK_APP_APP_H
#define TK_APP_APP_H

#include <stdint.h>

/* Run `troika demo`: the end-to-end path built so far, seeded by seed; prints its report to
 * stdout. Returns the process exit code (0 on success). */
int app_demo_run(uint64_t seed);

#endif /* TK_APP_APP_H */
