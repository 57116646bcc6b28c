/* SPDX-License-Identifier: MIT */
/*
 * libumn.so's pthread_create (exported as pthread_create@@GLIBC_2.34, see
 * component.cmake): with the safety net on (UMN_SELF_SUD=1) the new thread
 * arms Syscall User Dispatch before its start routine runs (sud.c); off,
 * it calls libc's.  Only in libumn.so: in a static program libc.a's
 * pthread_create is not interposable (two definitions), and there a thread
 * made by libc is armed at its first hooked call (doc/sources.md).
 */
#include <pthread.h>
#include <umn/self.h>

int pthread_create(pthread_t *thread, const pthread_attr_t *attr,
		   void *(*start)(void *), void *arg)
{
	return umn__self_pthread_create(thread, attr, start, arg);
}
