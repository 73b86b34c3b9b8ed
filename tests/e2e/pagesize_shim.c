/*
 * pagesize_shim.c - LD_PRELOAD shim for tests/e2e/test_pagesize.sh: makes
 * the program see LUTDB_FAKE_PAGESIZE-byte pages, as a kernel with 16 KiB
 * or 64 KiB pages would (Apple silicon under Linux, Android 15 devices, some
 * arm64 servers):
 *   - sysconf(_SC_PAGESIZE) and getpagesize() report it (LMDB takes the page
 *     size of a new file from sysconf when it creates it);
 *   - mmap without an address returns one aligned to it, as the kernel's
 *     maps are (the real pages stay 4 KiB: the map is placed inside a
 *     larger reservation);
 *   - madvise refuses an address that is not on such a page with EINVAL, as
 *     that kernel does.
 * With LUTDB_FAKE_MADVISE_LOG set, each madvise call appends a line
 * "madvise ADVICE ok" or "madvise ADVICE EINVAL" to that file, so that the
 * test sees the hints the program gives, which it does not report itself.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static long fake(void)
{
	const char *e = getenv("LUTDB_FAKE_PAGESIZE");
	return e ? atol(e) : 0;
}

long sysconf(int name)
{
	static long (*real)(int);
	if (!real)
		real = (long (*)(int))dlsym(RTLD_NEXT, "sysconf");
	if (name == _SC_PAGESIZE && fake() > 0)
		return fake();
	return real(name);
}

int getpagesize(void)
{
	return fake() > 0 ? (int)fake() : (int)sysconf(_SC_PAGESIZE);
}

void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	static void *(*real)(void *, size_t, int, int, int, off_t);
	if (!real)
		real = (void *(*)(void *, size_t, int, int, int, off_t))dlsym(RTLD_NEXT, "mmap");
	long ps = fake();
	if (ps <= 4096 || addr || (flags & MAP_FIXED) || len == 0 || len > SIZE_MAX / 2)
		return real(addr, len, prot, flags, fd, off);
	/* a reservation one fake page larger; the map at its first fake page */
	size_t len4 = (len + 4095) & ~(size_t)4095, res = len4 + (size_t)ps;
	char *r = real(NULL, res, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (r == MAP_FAILED)
		return r;
	uintptr_t a = ((uintptr_t)r + (uintptr_t)ps - 1) & ~((uintptr_t)ps - 1);
	void *m = real((void *)a, len, prot, flags | MAP_FIXED, fd, off);
	if (m == MAP_FAILED) {
		int e = errno;
		munmap(r, res);
		errno = e;
		return m;
	}
	if (a > (uintptr_t)r)
		munmap(r, a - (uintptr_t)r);
	if ((uintptr_t)r + res > a + len4)
		munmap((void *)(a + len4), (uintptr_t)r + res - (a + len4));
	return m;
}

static void note(int advice, const char *what)
{
	const char *path = getenv("LUTDB_FAKE_MADVISE_LOG");
	if (!path)
		return;
	char line[64];
	int n = snprintf(line, sizeof line, "madvise %d %s\n", advice, what);
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fd >= 0) {
		if (write(fd, line, (size_t)n) < 0) {
			/* the test then misses a line, and says so */
		}
		close(fd);
	}
}

int madvise(void *addr, size_t len, int advice)
{
	static int (*real)(void *, size_t, int);
	if (!real)
		real = (int (*)(void *, size_t, int))dlsym(RTLD_NEXT, "madvise");
	long ps = fake();
	if (ps > 0 && (uintptr_t)addr % (uintptr_t)ps != 0) {
		note(advice, "EINVAL");
		errno = EINVAL;
		return -1;
	}
	int rc = real(addr, len, advice);
	note(advice, rc == 0 ? "ok" : "failed");
	return rc;
}
