/* exit_status.c - the lutdb command's exit status for each library error
 * code (README, "Exit codes").  The switch names every code and has no
 * default, so a code added to lutdb_err.h without a status here does not
 * compile (-Wswitch). */
#include "cli.h"

int cli_exit_status(int code)
{
	switch ((enum lutdb_error)code) {
	case LUTDB_OK: return 0;
	case LUTDB_EINVAL: return 2;
	case LUTDB_ENOMEM: return 1;
	case LUTDB_EIO: return 5;
	case LUTDB_ENOENT: return 6;
	case LUTDB_ECORRUPT: return 4;
	case LUTDB_EVERSION: return 4;
	case LUTDB_EBADINPUT: return 3;
	case LUTDB_ERANGE: return 2;
	case LUTDB_EEXIST: return 5;
	case LUTDB_ENOSPC: return 5;
	case LUTDB_ETOOBIG: return 3;
	case LUTDB_ECHECKSUM: return 4;
	case LUTDB_EINTR: return 130;
	case LUTDB_EUNSUPPORTED: return 3;
	case LUTDB_ECONTEXT: return 2;
	case LUTDB_ETOKENIZER: return 3;
	case LUTDB_ESHARD: return 4;
	case LUTDB_EINTERNAL: return 1;
	}
	return 1;
}
