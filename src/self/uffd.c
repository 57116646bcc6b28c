/* SPDX-License-Identifier: MIT */
/*
 * The userfaultfd source: opt-in per range, after the fact.
 *
 * The kernel reports UNMAP (munmap, mremap shrink), REMOVE (madvise
 * DONTNEED/REMOVE) and REMAP (mremap move) for ranges registered on a
 * userfaultfd, whoever makes the change: the loader's own munmap, a raw
 * syscall instruction, a statically linked runtime.  We register in
 * write-protect mode and never write-protect anything, so no page fault is
 * ever intercepted: only the events.  UFFD_USER_MODE_ONLY makes it usable
 * without privilege (vm.unprivileged_userfaultfd = 0).
 *
 * The costs, in the kernel's design: the event arrives after the change
 * (ranges carry UMN_NOTIFIER_RANGE_AFTER), the unmapping thread sleeps
 * until the event is read (so the reader reads first, and only then calls
 * subscribers: a subscriber's lock held by the unmapping thread cannot
 * deadlock the reader), and mprotect and shmdt produce nothing.
 *
 * One reader thread ("umn-uffd") per process, started with the first
 * registration.  It never unmaps a registered range itself.  A fork child
 * has no registrations (no UFFD_FEATURE_EVENT_FORK): the inherited
 * descriptor is closed and the child starts afresh.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <string.h>
#include <sys/ioctl.h>
#include <umn/notifier.h>
#include <unistd.h>
#include "self_internal.h"

#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY 1
#endif

static pthread_mutex_t uffd_lock = PTHREAD_MUTEX_INITIALIZER;
static int uffd_fd = -1;
static int uffd_err; /* sticky: unavailable here */
static pthread_t uffd_thread;

static void deliver(enum umn_notifier_event ev, unsigned long start,
		    unsigned long end)
{
	struct umn_mm *mm = __atomic_load_n(&umnp_self_mm, __ATOMIC_ACQUIRE);
	struct umn_notifier_range r;

	if (!mm || start >= end)
		return;
	umn_notifier_range_init(&r, ev,
				UMN_NOTIFIER_RANGE_DEFERRABLE |
					UMN_NOTIFIER_RANGE_AFTER,
				mm, start, end);
	r.origin = UMN_ORIGIN_UFFD;
	umn_mmap_read_lock(mm);
	(void)umn_notifier_invalidate_range_start_nonblock(&r);
	umn_notifier_invalidate_range_end(&r);
	umn_mmap_read_unlock(mm);
}

static void *reader(void *arg)
{
	int fd = (int)(long)arg;

	for (;;) {
		struct uffd_msg msg[16];
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (poll(&pfd, 1, -1) < 0 && errno != EINTR)
			break;
		if (pfd.revents & (POLLERR | POLLNVAL))
			break;
		/* Read first: it releases the unmapping threads. */
		n = read(fd, msg, sizeof(msg));
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			break;
		}
		for (size_t i = 0; i < (size_t)n / sizeof(msg[0]); i++) {
			switch (msg[i].event) {
			case UFFD_EVENT_UNMAP:
				deliver(UMN_NOTIFY_UNMAP,
					msg[i].arg.remove.start,
					msg[i].arg.remove.end);
				break;
			case UFFD_EVENT_REMOVE:
				deliver(UMN_NOTIFY_CLEAR,
					msg[i].arg.remove.start,
					msg[i].arg.remove.end);
				break;
			case UFFD_EVENT_REMAP:
				deliver(UMN_NOTIFY_UNMAP, msg[i].arg.remap.from,
					msg[i].arg.remap.from +
						msg[i].arg.remap.len);
				break;
			default:
				break;
			}
		}
	}
	return NULL;
}

static int uffd_open_locked(void)
{
	struct uffdio_api api = {
		.api = UFFD_API,
		.features = UFFD_FEATURE_EVENT_UNMAP | UFFD_FEATURE_EVENT_REMOVE |
			    UFFD_FEATURE_EVENT_REMAP,
	};
	long fd;
	int err;

	if (uffd_fd >= 0)
		return 0;
	if (uffd_err)
		return uffd_err;
	fd = umnp_self_raw3(SYS_userfaultfd,
			    O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY, 0, 0);
	if (fd == -EINVAL) /* a kernel before 5.11: privileged or sysctl */
		fd = umnp_self_raw3(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK,
				    0, 0);
	if (fd == -EMFILE || fd == -ENFILE || fd == -ENOMEM)
		return (int)fd; /* transient: the next call tries again */
	if (umnp_self_is_err(fd)) {
		/* EINVAL: a kernel without USER_MODE_ONLY.  A refusal is
		 * remembered: it holds for the life of the process. */
		uffd_err = (fd == -EINVAL || fd == -ENOSYS) ? -ENOSYS : -EPERM;
		return uffd_err;
	}
	if (ioctl((int)fd, UFFDIO_API, &api) < 0) {
		err = errno;
		close((int)fd);
		uffd_err = err == EINVAL ? -ENOSYS : -err;
		return uffd_err;
	}
	err = pthread_create(&uffd_thread, NULL, reader, (void *)fd);
	if (err) {
		close((int)fd);
		return -err;
	}
	pthread_detach(uffd_thread);
	pthread_setname_np(uffd_thread, "umn-uffd");
	uffd_fd = (int)fd;
	return 0;
}

static bool bad_range(void *addr, size_t len)
{
	unsigned long a = (unsigned long)addr;

	return !addr || !len || (a & (UMNP_SELF_PAGE - 1)) ||
	       (len & (UMNP_SELF_PAGE - 1)) || a + len < a;
}

int umn_self_uffd_register(void *addr, size_t len)
{
	struct uffdio_register reg = {
		.range = { .start = (unsigned long)addr, .len = len },
		.mode = UFFDIO_REGISTER_MODE_WP,
	};
	int ret;

	if (bad_range(addr, len))
		return -EINVAL;
	/* events go to umn_mm_self(): if it failed, registering is useless */
	if (!umn_mm_self())
		return errno ? -errno : -ENOMEM;
	pthread_mutex_lock(&uffd_lock);
	ret = uffd_open_locked();
	if (!ret && ioctl(uffd_fd, UFFDIO_REGISTER, &reg) < 0)
		ret = errno == EINVAL ? -EINVAL : -errno;
	pthread_mutex_unlock(&uffd_lock);
	return ret;
}

int umn_self_uffd_unregister(void *addr, size_t len)
{
	struct uffdio_range range = { .start = (unsigned long)addr, .len = len };
	int ret = 0;

	if (bad_range(addr, len))
		return -EINVAL;
	pthread_mutex_lock(&uffd_lock);
	if (uffd_fd < 0)
		ret = uffd_err ? uffd_err : -EINVAL;
	else if (ioctl(uffd_fd, UFFDIO_UNREGISTER, &range) < 0)
		ret = -errno;
	pthread_mutex_unlock(&uffd_lock);
	return ret;
}

void umnp_self_uffd_atfork_child(void)
{
	if (uffd_fd >= 0)
		umnp_self_raw3(SYS_close, uffd_fd, 0, 0);
	uffd_fd = -1;
	pthread_mutex_init(&uffd_lock, NULL);
}
