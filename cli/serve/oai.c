/* oai.c - OpenAI-shaped JSON: error objects, the model list, logprobs. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "job.h"

json_t *oai_error(int status, const char *type, const char *param, const char *code, const char *message)
{
	(void)status;
	return json_pack("{s:{s:s, s:s, s:s?, s:s?}}", "error", "message", message, "type", type, "param", param,
			 "code", code);
}

json_t *oai_models(const server *s)
{
	return json_pack("{s:s, s:[{s:s, s:s, s:I, s:s, s:I}]}", "object", "list", "data", "id", s->model_id, "object",
			 "model", "created", (json_int_t)0, "owned_by", "lutdb", "max_model_len", (json_int_t)s->lim.ctx);
}

json_t *oai_logprobs_new(void)
{
	return json_pack("{s:[], s:[], s:[], s:[]}", "tokens", "token_logprobs", "top_logprobs", "text_offset");
}

/* One token's string for top_logprobs: its own decoding, or its decimal id
 * when the database has no tokenizer. */
static json_t *token_string(const server *s, uint32_t id)
{
	char num[16], *text = NULL;
	size_t len;

	if (!s->tok || lutdb_tokenizer_decode(s->tok, &id, 1, 0, &text, &len)) {
		snprintf(num, sizeof num, "%u", id);
		return json_string(num);
	}
	json_t *v = json_stringn(text, len);
	lutdb_free(text);
	return v;
}

/* log(sum(exp(logits))) in double, summed in id order: the same bits for
 * the same logits, alone or batched. */
static double log_sum_exp(const float *x, uint32_t n)
{
	double m = -INFINITY, sum = 0.0;

	for (uint32_t i = 0; i < n; i++)
		if ((double)x[i] > m)
			m = (double)x[i];
	for (uint32_t i = 0; i < n; i++)
		sum += exp((double)x[i] - m);
	return m + log(sum);
}

int oai_logprob(const server *s, json_t *lp, uint32_t id, const char *piece, size_t piece_len, size_t offset,
		const float *logits, uint32_t vocab, int k)
{
	json_t *tok = json_object_get(lp, "tokens"), *tlp = json_object_get(lp, "token_logprobs");
	json_t *top = json_object_get(lp, "top_logprobs"), *off = json_object_get(lp, "text_offset");
	char num[16];
	uint32_t best[SERVE_LOGPROBS_MAX];
	int nbest = 0;

	if (!s->tok) {
		snprintf(num, sizeof num, "%u", id);
		piece = num;
		piece_len = strlen(num);
	}
	if (json_array_append_new(tok, json_stringn(piece, piece_len)) ||
	    json_array_append_new(off, json_integer((json_int_t)offset)))
		return -1;
	if (!logits)
		return json_array_append_new(tlp, json_null()) || json_array_append_new(top, json_null()) ? -1 : 0;
	double lse = log_sum_exp(logits, vocab);
	if (json_array_append_new(tlp, json_real((double)logits[id] - lse)))
		return -1;
	/* The k largest, by logit descending then id ascending (NaN never). */
	for (uint32_t i = 0; i < vocab && k > 0; i++) {
		float v = logits[i];
		if (v != v)
			continue;
		int at = nbest;
		while (at > 0 && logits[best[at - 1]] < v)
			at--;
		if (at >= k)
			continue;
		int last = nbest < k ? nbest : k - 1;
		memmove(best + at + 1, best + at, (size_t)(last - at) * sizeof *best);
		best[at] = i;
		if (nbest < k)
			nbest++;
	}
	json_t *t = json_object();
	if (!t || json_array_append_new(top, t))
		return -1;
	for (int i = 0; i < nbest; i++) {
		json_t *key = token_string(s, best[i]);
		if (!key)
			return -1;
		/* two ids may decode alike: the likelier keeps the key */
		if (!json_object_get(t, json_string_value(key)))
			json_object_set_new(t, json_string_value(key), json_real((double)logits[best[i]] - lse));
		json_decref(key);
	}
	return 0;
}
