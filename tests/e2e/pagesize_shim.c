/*
 * pagesize_shim.c - LD_PRELOAD shim for tests/e2e/test_pagesize.sh: makes
 * sysconf(_SC_PAGESIZE) and getpagesize() report LUTDB_FAKE_PAGESIZE, as a
 * kernel with 16 KiB or 64 KiB pages would (Apple silicon under Linux,
 * Android 15 devices, some arm64 servers).  LMDB takes the page size of a new
 * file from sysconf when it creates it; the real kernel's pages stay 4 KiB,
 * which LMDB's maps do not depend on.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
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
