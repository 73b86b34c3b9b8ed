/* cmd_serve.c - lutdb serve DB [--host ADDR] [--port P] [--parallel N] [--queue Q] [--threads T]
 *               [--ctx-per-seq C] [--api-key KEY] [--shutdown-timeout S] [--verbose]
 * The server itself is the cli/serve room (serve.h). */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "lutdb_runtime.h"
#include "serve.h"

static const char help[] =
	"usage: lutdb serve DB [--host ADDR] [--port P] [--parallel N] [--queue Q] [--threads T]\n"
	"                      [--ctx-per-seq C] [--api-key KEY] [--shutdown-timeout S] [--verbose]\n\n"
	"Serves DB over HTTP with the OpenAI API shapes: POST /v1/completions (streaming with\n"
	"\"stream\": true), GET /v1/models, GET /health, GET /metrics, POST /tokenize,\n"
	"POST /detokenize; POST /v1/chat/completions answers 400 (no chat template can be run).\n"
	"Sequences are decoded together in one batch; a sequence's results do not depend on\n"
	"the others.  SIGTERM or SIGINT: stop accepting, let running sequences finish (up to\n"
	"--shutdown-timeout), exit 0.  One access-log line per request goes to stderr.\n\n"
	"  --host ADDR             listen address (default 127.0.0.1)\n"
	"  --port P                TCP port (default 8080; 0: any free port, printed at start)\n"
	"  --parallel N            sequences decoded together (default 4)\n"
	"  --queue Q               requests that wait for a free sequence (default 4 x parallel);\n"
	"                          past them: 429 with Retry-After\n"
	"  --threads T             compute threads (default: all cores)\n"
	"  --ctx-per-seq C         positions per sequence, prompt included (default the model's\n"
	"                          max_position_embeddings)\n"
	"  --api-key KEY           require 'Authorization: Bearer KEY' (not for /health)\n"
	"  --shutdown-timeout S    seconds running sequences get after SIGTERM (default 5)\n"
	"  --verbose               the HTTP library's diagnostics on stderr as well\n";

int cmd_serve(int argc, char **argv)
{
	enum { O_HOST = 256, O_PORT, O_PARALLEL, O_QUEUE, O_THREADS, O_CTX, O_KEY, O_SHUTDOWN, O_VERBOSE };
	static const struct option opts[] = {
		{"host", required_argument, 0, O_HOST},         {"port", required_argument, 0, O_PORT},
		{"parallel", required_argument, 0, O_PARALLEL}, {"queue", required_argument, 0, O_QUEUE},
		{"threads", required_argument, 0, O_THREADS},   {"ctx-per-seq", required_argument, 0, O_CTX},
		{"api-key", required_argument, 0, O_KEY},       {"shutdown-timeout", required_argument, 0, O_SHUTDOWN},
		{"verbose", no_argument, 0, O_VERBOSE},         {"help", no_argument, 0, 'h'},
		{0, 0, 0, 0}};
	serve_opts o = {.host = "127.0.0.1", .port = 8080, .parallel = 4, .shutdown_timeout = 5.0};
	int have_queue = 0, c, rc;
	uint64_t v;
	float f;
	lutdb_db *db = NULL;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case O_HOST: o.host = optarg; break;
		case O_PORT:
			if (cli_parse_uint(optarg, 0, 65535, &v))
				return cli_usage_error("serve", "--port must be an integer from 0 to 65535");
			o.port = (unsigned)v;
			break;
		case O_PARALLEL:
			if (cli_parse_uint(optarg, 1, LUTDB_BATCH_MAX_SEQS, &v))
				return cli_usage_error("serve", "--parallel must be an integer from 1 to %u",
						       LUTDB_BATCH_MAX_SEQS);
			o.parallel = (uint32_t)v;
			break;
		case O_QUEUE:
			if (cli_parse_uint(optarg, 0, 65536, &v))
				return cli_usage_error("serve", "--queue must be an integer from 0 to 65536");
			o.queue = (uint32_t)v;
			have_queue = 1;
			break;
		case O_THREADS:
			if (cli_parse_uint(optarg, 1, 1024, &v))
				return cli_usage_error("serve", "--threads must be an integer from 1 to 1024");
			o.threads = (int)v;
			break;
		case O_CTX:
			if (cli_parse_uint(optarg, 1, UINT32_MAX, &v))
				return cli_usage_error("serve", "--ctx-per-seq must be a positive integer");
			o.ctx = (uint32_t)v;
			break;
		case O_KEY:
			if (!*optarg)
				return cli_usage_error("serve", "--api-key must not be empty");
			o.api_key = optarg;
			break;
		case O_SHUTDOWN:
			if (cli_parse_float(optarg, 0.0f, 86400.0f, &f))
				return cli_usage_error("serve", "--shutdown-timeout must be seconds from 0 to 86400");
			o.shutdown_timeout = f;
			break;
		case O_VERBOSE: o.verbose = 1; break;
		case 'h': fputs(help, stdout); return 0;
		default: return cli_usage_error("serve", "unknown option or missing value: '%s'", argv[optind - 1]);
		}
	}
	if (argc - optind != 1)
		return cli_usage_error("serve", argc - optind < 1 ? "expected DB" : "unexpected argument '%s'",
				       argv[optind + (argc - optind > 1)]);
	if (!have_queue)
		o.queue = 4 * o.parallel;
	if ((rc = cli_open("serve", argv[optind], 0, &db)))
		return rc;
	rc = serve_run(db, &o, &cli_stop);
	lutdb_close(db);
	return rc ? cli_fail("serve", rc) : 0;
}
