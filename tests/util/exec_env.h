/* exec_env.h - an execution context made under a lowered ISA or without AMX tiles, for the tests
 * that compare the kernel paths of one CPU. */
#ifndef KT_TEST_EXEC_ENV_H
#define KT_TEST_EXEC_ENV_H

#include "kt/kernels.h"

/* kt_exec_create(threads) with KT_ISA=isa (unless NULL) and KT_AMX=off (when amx_off) set for
 * that call only (their previous values restored); fails the test when it cannot be made. */
kt_exec *exec_env_create(int threads, const char *isa, int amx_off);

#endif
