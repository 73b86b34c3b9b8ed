/*
 * http.c - the HTTP side, on libmicrohttpd (no HTTP parsing of our own).
 *
 * Thread model: one thread per connection (MHD_USE_THREAD_PER_CONNECTION),
 * at most parallel + queue + SERVE_CONN_SPARE connections, idle ones closed
 * after SERVE_IDLE_SECONDS.  A connection thread may block: waiting for its
 * job's body, or inside the streaming reader for the next chunk; while it
 * waits it looks at its socket every SERVE_TICK_MS for the peer hanging up
 * (POLLRDHUP), and a peer that left cancels its sequence.  Bodies are
 * capped before they are read: a Content-Length over SERVE_BODY_MAX gets 413
 * at once; a chunked body that grows past it is discarded as it arrives and
 * answered 413 (or, far past it, the connection is dropped).
 *
 * Access log: one stderr line per request when it completes.
 */
#include "mhd.h"
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "job.h"

#define SERVE_CONN_SPARE 32u     /* connections beyond parallel + queue (health, metrics, 429s) */
#define SERVE_IDLE_SECONDS 30u   /* an idle connection is closed */
#define SERVE_TICK_MS 50         /* how often a waiting connection looks at its socket */
#define SERVE_DISCARD_MAX (16ull * SERVE_BODY_MAX) /* past this a too-large body drops the connection */

typedef struct conn {
	server *s;
	serve_buf body;
	int too_big;
	uint64_t discarded;
	int status;
	double t0;
	char method[16];
	char path[96];
	char peer[64];
	job *j; /* a completion: the connection's reference */
} conn;

static int peer_gone(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *ci = mhd.get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
	if (!ci)
		return 0;
	struct pollfd p = {.fd = ci->connect_fd, .events = POLLRDHUP};
	return poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR));
}

/* Waits on j's condition for one tick (mu held). */
static void tick(job *j, pthread_mutex_t *mu)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	t.tv_nsec += SERVE_TICK_MS * 1000000L;
	if (t.tv_nsec >= 1000000000L) {
		t.tv_sec++;
		t.tv_nsec -= 1000000000L;
	}
	pthread_cond_timedwait(&j->cond, mu, &t);
}

static enum MHD_Result reply(conn *k, struct MHD_Connection *c, int status, const char *type, const char *text,
			     size_t len, const char *retry_after)
{
	struct MHD_Response *r = mhd.create_response_from_buffer(len, (void *)(uintptr_t)text, MHD_RESPMEM_MUST_COPY);
	if (!r)
		return MHD_NO;
	mhd.add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	if (retry_after)
		mhd.add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, retry_after);
	if (status == 401)
		mhd.add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
	enum MHD_Result rc = mhd.queue_response(c, (unsigned)status, r);
	mhd.destroy_response(r);
	k->status = status;
	return rc;
}

static enum MHD_Result reply_json(conn *k, struct MHD_Connection *c, int status, json_t *v, const char *retry_after)
{
	char *s = v ? json_dumps(v, JSON_COMPACT) : NULL;
	json_decref(v);
	if (!s)
		return MHD_NO;
	enum MHD_Result rc = reply(k, c, status, "application/json", s, strlen(s), retry_after);
	free(s);
	return rc;
}

static enum MHD_Result reply_error(conn *k, struct MHD_Connection *c, const serve_err *e, const char *retry_after)
{
	return reply_json(k, c, e->status, oai_error(e->status, e->type, e->param, e->code, e->message), retry_after);
}

/* ---- completions ------------------------------------------------------------ */

/* A streamed response's own hold on its job: the response can outlive the
 * request's connection context (libmicrohttpd frees them in either order). */
typedef struct stream_ctx {
	server *s;
	job *j;
	struct MHD_Connection *c;
} stream_ctx;

/* The streaming reader: blocks (in this connection's thread) until bytes
 * are published or the job ends. */
static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	stream_ctx *x = cls;
	job *j = x->j;
	server *s = x->s;
	ssize_t n = 0;

	(void)pos;
	pthread_mutex_lock(&s->mu);
	for (;;) {
		if (j->sent < j->out.len) {
			size_t avail = j->out.len - j->sent;
			n = (ssize_t)(avail < max ? avail : max);
			memcpy(buf, j->out.p + j->sent, (size_t)n);
			j->sent += (size_t)n;
			if (j->sent == j->out.len)
				j->sent = j->out.len = 0;
			break;
		}
		if (j->gone) {
			n = MHD_CONTENT_READER_END_WITH_ERROR;
			break;
		}
		if (j->state == JOB_DONE) {
			n = MHD_CONTENT_READER_END_OF_STREAM;
			break;
		}
		tick(j, &s->mu);
		if (j->state != JOB_DONE && peer_gone(x->c))
			sched_cancel(s, j);
	}
	pthread_mutex_unlock(&s->mu);
	return n;
}

/* The response is gone (sent, or the peer left): a job still running is
 * cancelled. */
static void stream_free(void *cls)
{
	stream_ctx *x = cls;
	pthread_mutex_lock(&x->s->mu);
	if (x->j->state != JOB_DONE)
		sched_cancel(x->s, x->j);
	job_unref(x->j);
	pthread_mutex_unlock(&x->s->mu);
	free(x);
}

static enum MHD_Result completions(conn *k, struct MHD_Connection *c)
{
	server *s = k->s;
	serve_req req;
	serve_err e;

	if (serve_parse_completion(k->body.p, k->body.len, &s->lim, &req, &e))
		return reply_error(k, c, &e, NULL);
	if (!(k->j = job_new(s, &req))) {
		serve_fail(&e, 500, "server_error", NULL, NULL, "out of memory");
		return reply_error(k, c, &e, NULL);
	}
	int refused = sched_submit(s, k->j);
	if (refused == 429) {
		serve_fail(&e, 429, "rate_limit_error", NULL, "queue_full",
			   "the server is busy: %u sequences run and %u wait; retry later", s->o.parallel, s->o.queue);
		return reply_error(k, c, &e, "1");
	}
	if (refused) {
		serve_fail(&e, 503, "server_shutting_down", NULL, NULL, "the server is shutting down");
		return reply_error(k, c, &e, "5");
	}
	job *j = k->j;
	if (j->req.stream) {
		stream_ctx *x = malloc(sizeof *x);
		if (!x)
			return MHD_NO;
		*x = (stream_ctx){.s = s, .j = j, .c = c};
		pthread_mutex_lock(&s->mu);
		j->refs++;
		pthread_mutex_unlock(&s->mu);
		struct MHD_Response *r =
			mhd.create_response_from_callback(MHD_SIZE_UNKNOWN, 16384, stream_read, x, stream_free);
		if (!r) {
			stream_free(x);
			return MHD_NO;
		}
		mhd.add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
		mhd.add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
		enum MHD_Result rc = mhd.queue_response(c, MHD_HTTP_OK, r);
		mhd.destroy_response(r);
		k->status = 200;
		return rc;
	}
	/* Not streamed: wait for the whole body, watching for the peer leaving. */
	pthread_mutex_lock(&s->mu);
	while (j->state != JOB_DONE) {
		tick(j, &s->mu);
		if (j->state != JOB_DONE && peer_gone(c)) {
			sched_cancel(s, j);
			pthread_mutex_unlock(&s->mu);
			k->status = 499; /* nginx's "client closed request", for the log */
			return MHD_NO;
		}
	}
	int status = j->status;
	pthread_mutex_unlock(&s->mu);
	return reply(k, c, status, "application/json", j->out.p ? j->out.p : "", j->out.len, NULL);
}

/* ---- the other endpoints ---------------------------------------------------- */

static enum MHD_Result tokenize(conn *k, struct MHD_Connection *c)
{
	uint32_t *ids;
	size_t n;
	serve_err e;

	if (serve_parse_tokenize(k->body.p, k->body.len, &k->s->lim, &ids, &n, &e))
		return reply_error(k, c, &e, NULL);
	json_t *a = json_array();
	for (size_t i = 0; a && i < n; i++)
		json_array_append_new(a, json_integer(ids[i]));
	free(ids);
	return reply_json(k, c, 200, a ? json_pack("{s:o}", "tokens", a) : NULL, NULL);
}

static enum MHD_Result detokenize(conn *k, struct MHD_Connection *c)
{
	uint32_t *ids;
	size_t n, len;
	char *text = NULL;
	serve_err e;

	if (serve_parse_detokenize(k->body.p, k->body.len, &k->s->lim, &ids, &n, &e))
		return reply_error(k, c, &e, NULL);
	int rc = lutdb_tokenizer_decode(k->s->tok, ids, n, 1, &text, &len);
	free(ids);
	if (rc) {
		serve_fail(&e, 500, "server_error", NULL, NULL, "detokenize: %s", lutdb_strerror(rc));
		return reply_error(k, c, &e, NULL);
	}
	json_t *v = json_pack("{s:s%}", "content", text ? text : "", len);
	lutdb_free(text);
	return reply_json(k, c, 200, v, NULL);
}

static enum MHD_Result route(conn *k, struct MHD_Connection *c, const char *url, const char *method)
{
	server *s = k->s;
	serve_err e;
	int get = !strcmp(method, "GET"), post = !strcmp(method, "POST");

	if (!strcmp(url, "/health")) {
		if (!get)
			goto not_allowed;
		pthread_mutex_lock(&s->mu);
		int draining = s->draining;
		pthread_mutex_unlock(&s->mu);
		return reply_json(k, c, draining ? 503 : 200, json_pack("{s:s}", "status", draining ? "shutting_down" : "ok"),
				  NULL);
	}
	if (!strcmp(url, "/v1/models")) {
		if (!get)
			goto not_allowed;
		return reply_json(k, c, 200, oai_models(s), NULL);
	}
	if (!strcmp(url, "/metrics")) {
		serve_buf b = {0};
		if (!get)
			goto not_allowed;
		if (metrics_text(s, &b))
			return MHD_NO;
		enum MHD_Result rc = reply(k, c, 200, "text/plain; version=0.0.4", b.p, b.len, NULL);
		buf_free(&b);
		return rc;
	}
	if (!strcmp(url, "/v1/completions")) {
		if (!post)
			goto not_allowed;
		return completions(k, c);
	}
	if (!strcmp(url, "/v1/chat/completions")) {
		if (!post)
			goto not_allowed;
		serve_fail(&e, 400, "invalid_request_error", NULL, "chat_template_unsupported",
			   "this database holds no chat template the server can execute exactly (lutdb has no "
			   "template engine, and MoLE checkpoints are base models): use /v1/completions");
		return reply_error(k, c, &e, NULL);
	}
	if (!strcmp(url, "/tokenize") || !strcmp(url, "/detokenize")) {
		if (!post)
			goto not_allowed;
		return url[1] == 't' ? tokenize(k, c) : detokenize(k, c);
	}
	serve_fail(&e, 404, "invalid_request_error", NULL, "unknown_url", "Invalid URL (%.8s %.64s)", method, url);
	return reply_error(k, c, &e, NULL);
not_allowed:
	serve_fail(&e, 405, "invalid_request_error", NULL, "method_not_allowed", "%.8s is not allowed on %.64s", method,
		   url);
	return reply_error(k, c, &e, NULL);
}

/* Constant-time comparison of the Authorization header with the key. */
static int authorized(const server *s, struct MHD_Connection *c)
{
	const char *h = mhd.lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
	size_t klen = strlen(s->o.api_key);
	unsigned char diff = 0;

	if (!h || strncmp(h, "Bearer ", 7) || strlen(h + 7) != klen)
		return 0;
	for (size_t i = 0; i < klen; i++)
		diff |= (unsigned char)(h[7 + i] ^ s->o.api_key[i]);
	return diff == 0;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
				  const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
	server *s = cls;
	conn *k = *con_cls;
	serve_err e;

	(void)version;
	if (!k) {
		if (!(k = calloc(1, sizeof *k)))
			return MHD_NO;
		k->s = s;
		k->t0 = serve_now();
		pthread_mutex_lock(&s->mu);
		s->requests_open++;
		pthread_mutex_unlock(&s->mu);
		snprintf(k->method, sizeof k->method, "%s", method);
		snprintf(k->path, sizeof k->path, "%s", url);
		const union MHD_ConnectionInfo *ci = mhd.get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
		if (ci && ci->client_addr && ci->client_addr->sa_family == AF_INET)
			inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)ci->client_addr)->sin_addr, k->peer,
				  sizeof k->peer);
		else if (ci && ci->client_addr && ci->client_addr->sa_family == AF_INET6)
			inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)ci->client_addr)->sin6_addr,
				  k->peer, sizeof k->peer);
		*con_cls = k;
		/* Refused before the body is read: a wrong key, a body over the cap. */
		if (s->o.api_key && strcmp(url, "/health") && !authorized(s, c)) {
			serve_fail(&e, 401, "invalid_request_error", NULL, "invalid_api_key",
				   "a missing or wrong API key (send 'Authorization: Bearer KEY')");
			return reply_error(k, c, &e, NULL);
		}
		const char *cl = mhd.lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
		if (cl && strtoull(cl, NULL, 10) > SERVE_BODY_MAX) {
			serve_fail(&e, 413, "invalid_request_error", NULL, "request_too_large",
				   "the body is over %u bytes", SERVE_BODY_MAX);
			return reply_error(k, c, &e, NULL);
		}
		return MHD_YES;
	}
	if (k->status) /* answered already (401, 413): drop the rest of the body */ {
		*upload_size = 0;
		return MHD_YES;
	}
	if (*upload_size) {
		if (k->too_big || k->body.len + *upload_size > SERVE_BODY_MAX) {
			k->too_big = 1;
			k->discarded += *upload_size;
			if (k->discarded > SERVE_DISCARD_MAX)
				return MHD_NO;
		} else if (buf_put(&k->body, upload, *upload_size)) {
			return MHD_NO;
		}
		*upload_size = 0;
		return MHD_YES;
	}
	if (k->too_big) {
		serve_fail(&e, 413, "invalid_request_error", NULL, "request_too_large", "the body is over %u bytes",
			   SERVE_BODY_MAX);
		return reply_error(k, c, &e, NULL);
	}
	if (!k->body.p && buf_put(&k->body, "", 0))
		return MHD_NO;
	return route(k, c, url, method);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode why)
{
	server *s = cls;
	conn *k = *con_cls;

	(void)c;
	if (!k)
		return;
	int status = k->status ? k->status : 499;
	if (why != MHD_REQUEST_TERMINATED_COMPLETED_OK && status == 200)
		status = 499;
	pthread_mutex_lock(&s->mu);
	uint32_t pt = k->j ? k->j->prompt_tokens : 0, ct = k->j ? k->j->completion_tokens : 0;
	if (k->j && k->j->state != JOB_DONE)
		sched_cancel(s, k->j);
	job_unref(k->j);
	s->requests_open--;
	s->req_total++;
	s->req_by_class[status / 100 < 6 ? status / 100 : 5]++;
	pthread_mutex_unlock(&s->mu);
	fprintf(stderr, "%s \"%s %s\" %d prompt=%u completion=%u %.1fms\n", k->peer[0] ? k->peer : "-", k->method, k->path,
		status, pt, ct, (serve_now() - k->t0) * 1e3);
	buf_free(&k->body);
	free(k);
	*con_cls = NULL;
}

/* libmicrohttpd's own diagnostics: only with --verbose. */
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	server *s = cls;
	if (s->o.verbose) {
		fputs("lutdb serve: ", stderr);
		vfprintf(stderr, fmt, ap);
	}
}

struct MHD_Daemon *http_start(server *s, unsigned *port)
{
	struct sockaddr_in a4;
	struct sockaddr_in6 a6;
	struct sockaddr *addr;
	unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ITC |
			 MHD_USE_ERROR_LOG;

	memset(&a4, 0, sizeof a4);
	memset(&a6, 0, sizeof a6);
	if (inet_pton(AF_INET, s->o.host, &a4.sin_addr) == 1) {
		a4.sin_family = AF_INET;
		a4.sin_port = htons((uint16_t)s->o.port);
		addr = (struct sockaddr *)&a4;
	} else if (inet_pton(AF_INET6, s->o.host, &a6.sin6_addr) == 1) {
		a6.sin6_family = AF_INET6;
		a6.sin6_port = htons((uint16_t)s->o.port);
		addr = (struct sockaddr *)&a6;
		flags |= MHD_USE_IPv6;
	} else {
		fprintf(stderr, "lutdb serve: --host '%s' is not an IPv4 or IPv6 address\n", s->o.host);
		return NULL;
	}
	struct MHD_Daemon *d = mhd.start_daemon(
		flags, (uint16_t)s->o.port, NULL, NULL, on_request, s, MHD_OPTION_SOCK_ADDR, addr,
		MHD_OPTION_CONNECTION_LIMIT, (unsigned)(s->o.parallel + s->o.queue + SERVE_CONN_SPARE),
		MHD_OPTION_CONNECTION_TIMEOUT, SERVE_IDLE_SECONDS, MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
		MHD_OPTION_THREAD_STACK_SIZE, (size_t)(1u << 20), MHD_OPTION_EXTERNAL_LOGGER, mhd_log, s,
		MHD_OPTION_END);
	if (!d) {
		fprintf(stderr, "lutdb serve: cannot listen on %s:%u\n", s->o.host, s->o.port);
		return NULL;
	}
	const union MHD_DaemonInfo *di = mhd.get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
	*port = di ? di->port : s->o.port;
	return d;
}
