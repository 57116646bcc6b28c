/* SPDX-License-Identifier: MIT */
/*
 * Which programs a preload library can cover: resolve CMD like execvp, and
 * read its ELF program headers.  A program without PT_INTERP is statically
 * linked: no dynamic loader runs, so LD_PRELOAD is never honoured.
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tool.h"

#if __SIZEOF_POINTER__ == 8
#define NATIVE_CLASS ELFCLASS64
typedef Elf64_Ehdr Ehdr;
typedef Elf64_Phdr Phdr;
#else
#define NATIVE_CLASS ELFCLASS32
typedef Elf32_Ehdr Ehdr;
typedef Elf32_Phdr Phdr;
#endif

#if defined(__x86_64__)
#define NATIVE_MACHINE EM_X86_64
#elif defined(__aarch64__)
#define NATIVE_MACHINE EM_AARCH64
#elif defined(__i386__)
#define NATIVE_MACHINE EM_386
#else
#define NATIVE_MACHINE EM_NONE
#endif

static int check_file(const char *path)
{
	struct stat st;

	if (stat(path, &st) != 0)
		return errno;
	if (S_ISDIR(st.st_mode))
		return EISDIR;
	if (!S_ISREG(st.st_mode) || access(path, X_OK) != 0)
		return EACCES;
	return 0;
}

int resolve_command(const char *cmd, char *buf, size_t len)
{
	int err = ENOENT;

	if (!*cmd) {
		tool_error("'': command not found");
		return EXIT_NOT_FOUND;
	}
	if (strchr(cmd, '/')) {
		if (strlen(cmd) >= len) {
			tool_error("%s: path too long", cmd);
			return EXIT_NOT_FOUND;
		}
		strcpy(buf, cmd);
		err = check_file(buf);
	} else {
		const char *path = getenv("PATH");
		const char *p;

		if (!path)
			path = "/usr/local/bin:/usr/bin:/bin";
		for (p = path;; ) {
			const char *colon = strchr(p, ':');
			size_t dlen = colon ? (size_t)(colon - p) : strlen(p);
			int n, e;

			n = snprintf(buf, len, "%.*s%s%s", (int)dlen, p,
				     dlen ? "/" : "", cmd);
			if (n > 0 && (size_t)n < len) {
				e = check_file(buf);
				if (e == 0) {
					err = 0;
					break;
				}
				/* like execvp: remember "exists but not
				 * executable", keep looking */
				if (e != ENOENT && e != ENOTDIR)
					err = e;
			}
			if (!colon)
				break;
			p = colon + 1;
		}
	}
	if (err == 0)
		return 0;
	if (err == ENOENT || err == ENOTDIR) {
		/* like strace and the shell: a path names a file, a bare name
		 * is looked up in PATH */
		if (strchr(cmd, '/'))
			tool_error("cannot run '%s': %s", cmd, strerror(err));
		else
			tool_error("%s: command not found", cmd);
		return EXIT_NOT_FOUND;
	}
	if (err == EISDIR)
		tool_error("%s: is a directory", cmd);
	else if (err == EACCES)
		tool_error("%s: not executable (permission denied)", cmd);
	else
		tool_error("%s: %s", cmd, strerror(err));
	return EXIT_NOT_EXEC;
}

static enum elf_kind classify_elf(int fd, char *why, size_t why_len)
{
	Ehdr eh;
	int i;

	if (pread(fd, &eh, sizeof(eh), 0) != (ssize_t)sizeof(eh)) {
		snprintf(why, why_len, "truncated ELF header");
		return ELF_UNKNOWN;
	}
	if (eh.e_ident[EI_CLASS] != NATIVE_CLASS ||
	    (NATIVE_MACHINE != EM_NONE && eh.e_machine != NATIVE_MACHINE)) {
		snprintf(why, why_len,
			 "built for another architecture (ELF class %d, machine %d)",
			 eh.e_ident[EI_CLASS], eh.e_machine);
		return ELF_FOREIGN;
	}
	if (eh.e_phentsize != sizeof(Phdr) || eh.e_phnum == 0 ||
	    eh.e_phnum > 4096) {
		snprintf(why, why_len, "no usable program headers");
		return ELF_UNKNOWN;
	}
	for (i = 0; i < eh.e_phnum; i++) {
		Phdr ph;

		if (pread(fd, &ph, sizeof(ph),
			  (off_t)(eh.e_phoff + (size_t)i * sizeof(ph))) !=
		    (ssize_t)sizeof(ph)) {
			snprintf(why, why_len, "truncated program headers");
			return ELF_UNKNOWN;
		}
		if (ph.p_type == PT_INTERP) {
			snprintf(why, why_len, "dynamically linked");
			return ELF_DYNAMIC;
		}
	}
	snprintf(why, why_len,
		 "statically linked (no PT_INTERP program header)");
	return ELF_STATIC;
}

enum elf_kind elf_classify(const char *path, char *why, size_t why_len)
{
	unsigned char magic[256];
	enum elf_kind kind;
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(why, why_len, "cannot read: %s", strerror(errno));
		return ELF_UNKNOWN;
	}
	n = pread(fd, magic, sizeof(magic) - 1, 0);
	if (n >= 4 && memcmp(magic, ELFMAG, SELFMAG) == 0) {
		kind = classify_elf(fd, why, why_len);
	} else if (n >= 2 && magic[0] == '#' && magic[1] == '!') {
		char interp[sizeof(magic)];
		char sub[128];
		size_t i = 2, j = 0;
		enum elf_kind ik;

		magic[n] = 0;
		while (i < (size_t)n && (magic[i] == ' ' || magic[i] == '\t'))
			i++;
		while (i < (size_t)n && magic[i] != ' ' && magic[i] != '\t' &&
		       magic[i] != '\n' && j + 1 < sizeof(interp))
			interp[j++] = (char)magic[i++];
		interp[j] = 0;
		if (!j || strcmp(interp, path) == 0) {
			snprintf(why, why_len, "script without interpreter");
			kind = ELF_UNKNOWN;
		} else {
			/* one level: an interpreter that is itself a script
			 * is left to exec */
			int ifd = open(interp, O_RDONLY | O_CLOEXEC);
			unsigned char m[4];

			if (ifd >= 0 && pread(ifd, m, 4, 0) == 4 &&
			    memcmp(m, ELFMAG, SELFMAG) == 0)
				ik = classify_elf(ifd, sub, sizeof(sub));
			else {
				ik = ELF_UNKNOWN;
				snprintf(sub, sizeof(sub), "not checked");
			}
			if (ifd >= 0)
				close(ifd);
			snprintf(why, why_len, "script for %s: %s", interp, sub);
			kind = ik == ELF_UNKNOWN ? ELF_SCRIPT : ik;
		}
	} else {
		snprintf(why, why_len, "not an ELF file");
		kind = ELF_UNKNOWN;
	}
	close(fd);
	return kind;
}
