/* version.c - the linked library's version (lutdb.h). */
#include "lutdb.h"

const char *lutdb_libversion(void)
{
	return LUTDB_VERSION_STRING;
}

int lutdb_libversion_number(void)
{
	return LUTDB_VERSION_NUMBER;
}
