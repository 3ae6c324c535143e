/* chaos_fault.c (chaos.h): being written. */
#include "chaos.h"
