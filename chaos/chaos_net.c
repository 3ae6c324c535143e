/* chaos_net.c (chaos.h): being written. */
#include "chaos.h"
