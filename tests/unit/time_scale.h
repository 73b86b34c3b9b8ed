/*
 * time_scale.h - the factor a wall-clock bound written for native speed is
 * multiplied by.  tests/arm/run.sh sets LUTDB_TIME_SCALE for the runs under
 * qemu-user, where a step of the program costs 20 to 50 native ones: the
 * bound grows with the program's slowdown, and so does the slow path it
 * guards against, so the check keeps its native margin and can still fail.
 * Unset, it is 1; anything but a number from 1 to 1000 is 1 too, so that a
 * typo cannot widen every bound.  (tests/e2e/lib.sh, scaled: the same rule.)
 */
#ifndef LUTDB_TEST_TIME_SCALE_H
#define LUTDB_TEST_TIME_SCALE_H

#include <stdlib.h>

static inline double time_scale(void)
{
	const char *v = getenv("LUTDB_TIME_SCALE");
	char *end;
	double k;

	if (!v || !*v)
		return 1.0;
	k = strtod(v, &end);
	return *end == '\0' && k >= 1.0 && k <= 1000.0 ? k : 1.0; /* NaN fails both */
}

#endif
