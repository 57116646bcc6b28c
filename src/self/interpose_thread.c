/* SPDX-License-Identifier: MIT */
/*
 * libumn.so's pthread_create, at both of glibc's versions (component.cmake):
 * pthread_create@@GLIBC_2.34, what programs built against glibc >= 2.34
 * ask for, and pthread_create@GLIBC_2.2.5, what older ones ask for (glibc
 * keeps it as a second name of the same function).  With the safety net on
 * (UMN_SELF_SUD=1) the new thread arms Syscall User Dispatch before its
 * start routine runs (sud.c); off, it calls libc's.  Only in libumn.so: in
 * a static program libc.a's pthread_create is not interposable (two
 * definitions), and there a thread made by libc is armed at its first
 * hooked call (doc/sources.md).
 */
#include <pthread.h>
#include <umn/self.h>

int pthread_create(pthread_t *thread, const pthread_attr_t *attr,
		   void *(*start)(void *), void *arg)
{
	return umn__self_pthread_create(thread, attr, start, arg);
}

int umnp_pthread_create_2_2_5(pthread_t *thread, const pthread_attr_t *attr,
			      void *(*start)(void *), void *arg);
__asm__(".symver umnp_pthread_create_2_2_5,pthread_create@GLIBC_2.2.5");

int umnp_pthread_create_2_2_5(pthread_t *thread, const pthread_attr_t *attr,
			      void *(*start)(void *), void *arg)
{
	return umn__self_pthread_create(thread, attr, start, arg);
}
