/*
 * state.c - the one sessd_server of the process (state.h).
 */
#include "core/state.h"

sessd_server sessd_srv;
