/* SPDX-License-Identifier: MIT */
/*
 * libumn.so's pthread_create, at both of glibc's versions (component.cmake),
 * and its clone (at the end):
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
#include <stdarg.h>
#include <sys/types.h>
#include <umn/self.h>

/* sud_libc_clone.c (self_internal.h needs include paths this file, added
 * to libumn.so alone, is not built with) */
void umnp_self_sud_clone_resolve(void);

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

/*
 * libc's clone(fn, stack, flags, arg, ...): with the net on the child arms
 * it before fn runs (sud_libc_clone.c).  The three optional arguments are
 * read whatever flags say, as libc's clone reads their registers.
 */
int clone(int (*fn)(void *), void *stack, int flags, void *arg, ...)
{
	pid_t *ptid, *ctid;
	void *tls;
	va_list ap;

	va_start(ap, arg);
	ptid = va_arg(ap, pid_t *);
	tls = va_arg(ap, void *);
	ctid = va_arg(ap, pid_t *);
	va_end(ap);
	return umn__self_clone(fn, stack, flags, arg, ptid, tls, ctid);
}

/* libc's clone found from the loader, so that clone() needs no dlsym. */
__attribute__((constructor)) static void interpose_thread_ctor(void)
{
	umnp_self_sud_clone_resolve();
}
