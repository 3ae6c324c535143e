/* The deterministic tier's harness (chaos.h): being moved here from tests/cluster/raft_harness.c. */
#include "chaos.h"
