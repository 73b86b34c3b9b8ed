/*
 * lutdb_tokenizer.h - executes a Hugging Face tokenizer.json exactly as the
 * `tokenizers` library (Rust crate, v0.23) does.
 *
 * Supported (anything else is rejected at load with LUTDB_ETOKENIZER and a
 * detail naming the component; nothing is approximated):
 *   model           BPE (vocab, merges as "a b" strings or [a, b] pairs,
 *                   unk_token, fuse_unk, byte_fallback, ignore_merges,
 *                   continuing_subword_prefix, end_of_word_suffix;
 *                   dropout must be null)
 *   normalizer      NFC, NFKC, Replace (String or Regex), Prepend, Sequence
 *   pre_tokenizer   ByteLevel, Split, Metaspace, Digits, Sequence
 *   post_processor  ByteLevel, TemplateProcessing (single), Sequence
 *   decoder         ByteLevel, ByteFallback, Fuse, Strip, Replace, Metaspace,
 *                   Sequence
 *   added_tokens    with single_word, lstrip, rstrip, normalized, special
 *   truncation and padding must be null.
 * Regexes are Oniguruma patterns as `tokenizers` compiles them; they are run
 * on PCRE2 (JIT) after translating the escapes whose meaning differs
 * (\s, \S, \w, \W, \d, \D, \h, \H, \uHHHH, {,n}); POSIX bracket
 * classes, nested classes, class intersections, \b, \B, \v, (?m) and other
 * constructs whose semantics differ are rejected.
 *
 * Environment: LUTDB_TOKENIZER_NO_JIT=1 (read when a tokenizer is loaded)
 * runs the regexes without PCRE2's JIT: same results, slower; for valgrind,
 * which cannot follow JIT code.
 *
 * Thread safety: a loaded tokenizer is immutable.  Every function taking a
 * `const lutdb_tokenizer *` may be called from any number of threads at once:
 * scratch is per call or per thread (each encoding thread keeps a word ->
 * ids cache of about 4 MiB and its working buffers, freed when the thread
 * exits or, for threads still alive, when the library is unloaded; the
 * library leaves no thread-specific key behind after dlclose).  A stream
 * decoder belongs to one thread at a time.
 *
 * Errors: functions returning int return LUTDB_OK or a negative code from
 * lutdb_err.h; lutdb_errdetail() then tells what and where.
 */
#ifndef LUTDB_TOKENIZER_H
#define LUTDB_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "lutdb_err.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct lutdb_tokenizer lutdb_tokenizer;
typedef struct lutdb_tokenizer_stream lutdb_tokenizer_stream;

/* "No such token" for the id getters below. */
#define LUTDB_TOKEN_NONE UINT32_MAX

/* The largest tokenizer.json lutdb_tokenizer_load takes: twice the largest
 * real ones (Gemma 3's, 262k tokens, is 33 MB). */
#define LUTDB_TOKENIZER_JSON_MAX ((size_t)64 << 20)

/* Parses and compiles tokenizer.json text json[0..len) (need not be
 * NUL-terminated; the caller keeps ownership of it and may free it as soon
 * as this returns).  On success *out is a new tokenizer owned by the caller,
 * released with lutdb_tokenizer_free().  On failure *out is NULL and the
 * return is LUTDB_ETOKENIZER (malformed or unsupported file, JSON nested
 * over 64 levels, ids of 16M or more: the detail names the component),
 * LUTDB_ETOOBIG (over a size cap: text over LUTDB_TOKENIZER_JSON_MAX, JSON
 * whose parse would take over 32 times its size, vocab or merges over 16M
 * entries, over 1M added tokens, a regex over 16 KiB, a TemplateProcessing
 * of over 4096 pieces or 4096 special token ids), LUTDB_ENOMEM or
 * LUTDB_EINVAL (NULL arguments). */
LUTDB_API int lutdb_tokenizer_load(const char *json, size_t len, lutdb_tokenizer **out);

/* Releases t and everything it owns.  NULL is a no-op.  No stream made from
 * t may be used afterwards. */
LUTDB_API void lutdb_tokenizer_free(lutdb_tokenizer *t);

/* Encodes text[0..len) like HF `tokenizer.encode(text,
 * add_special_tokens)`.ids: added tokens are extracted, the rest normalized,
 * pre-tokenized and run through the model; with add_special_tokens the
 * post-processor adds its special tokens (TemplateProcessing), without it
 * only the tokens of the text come out.
 *
 * Invalid UTF-8: the HF API takes Unicode strings, and its JavaScript and
 * Python bindings turn bytes into a string by replacing every maximal
 * invalid subsequence with U+FFFD (TextDecoder, Buffer.toString,
 * bytes.decode(errors="replace")).  This function does the same, so invalid
 * input encodes as that replaced string does; it never fails on it.
 *
 * On success *ids is an array of *n ids allocated for the caller, who
 * releases it with lutdb_free() (NULL when *n is 0).  On failure *ids is
 * NULL and *n is 0.  text may be NULL when len is 0.  Inputs over 1 GiB give LUTDB_ETOOBIG. */
LUTDB_API int lutdb_tokenizer_encode(const lutdb_tokenizer *t, const char *text, size_t len,
			   int add_special_tokens, uint32_t **ids, size_t *n);

/* Decodes ids[0..n) like HF `tokenizer.decode(ids, skip_special_tokens)`:
 * unknown ids are skipped, with skip_special_tokens tokens flagged special
 * are dropped, the decoder chain (or, with no decoder, joining by " ")
 * makes the text.  On success *text is a NUL-terminated string of *len
 * bytes (valid UTF-8) allocated for the caller, who releases it with
 * lutdb_free(). */
LUTDB_API int lutdb_tokenizer_decode(const lutdb_tokenizer *t, const uint32_t *ids, size_t n,
			   int skip_special_tokens, char **text, size_t *len);

/* Streaming decoder for generation, with HF DecodeStream semantics: feed
 * ids one at a time; each step gives the text that the new id completes,
 * holding back output while the text so far would end in an incomplete
 * UTF-8 sequence (U+FFFD), and keeping the left context decoders such as
 * Metaspace or Strip need, so that the concatenation of all chunks equals
 * lutdb_tokenizer_decode() of all ids.
 *
 * _new: *out is owned by the caller, released by _free (NULL is a no-op); t
 * must outlive it.
 * _step: *text / *len receive the new chunk (*len may be 0: nothing new
 * yet).  *text points into the stream and stays valid until the next call
 * on the stream; it is NUL-terminated. */
LUTDB_API int lutdb_tokenizer_stream_new(const lutdb_tokenizer *t, int skip_special_tokens,
			       lutdb_tokenizer_stream **out);
LUTDB_API int lutdb_tokenizer_stream_step(lutdb_tokenizer_stream *s, uint32_t id, const char **text,
				size_t *len);
LUTDB_API void lutdb_tokenizer_stream_free(lutdb_tokenizer_stream *s);

/* ---- information (pointers returned are owned by t) -------------------- */

/* HF get_vocab_size(with_added_tokens=True): model vocab plus the added
 * tokens that are not in it. */
LUTDB_API size_t lutdb_tokenizer_vocab_size(const lutdb_tokenizer *t);
/* Largest id any token has (model or added): embedding tables need
 * max_id + 1 rows. */
LUTDB_API uint32_t lutdb_tokenizer_max_id(const lutdb_tokenizer *t);
/* "BPE". */
LUTDB_API const char *lutdb_tokenizer_model_type(const lutdb_tokenizer *t);
/* Added tokens, in ascending id order: i in [0, count). */
LUTDB_API size_t lutdb_tokenizer_added_count(const lutdb_tokenizer *t);
LUTDB_API int lutdb_tokenizer_added_token(const lutdb_tokenizer *t, size_t i, uint32_t *id,
				const char **content, size_t *len, int *special);
/* Beginning / end of sequence: the special token the TemplateProcessing
 * single template puts before / after $A when there is exactly one;
 * otherwise an added special token with a conventional name
 * (<|begin_of_text|>, <s>, <bos>, <|startoftext|> / <|end_of_text|>,
 * <|endoftext|>, </s>, <eos>), or LUTDB_TOKEN_NONE. */
LUTDB_API uint32_t lutdb_tokenizer_bos_id(const lutdb_tokenizer *t);
LUTDB_API uint32_t lutdb_tokenizer_eos_id(const lutdb_tokenizer *t);
/* Token string <-> id (added tokens first, then the model vocab).
 * token_to_id returns LUTDB_OK or LUTDB_ENOENT; id_to_token returns NULL
 * for an unknown id. */
LUTDB_API int lutdb_tokenizer_token_to_id(const lutdb_tokenizer *t, const char *tok, size_t len,
				uint32_t *id);
LUTDB_API const char *lutdb_tokenizer_id_to_token(const lutdb_tokenizer *t, uint32_t id, size_t *len);

#ifdef __cplusplus
}
#endif
#endif /* LUTDB_TOKENIZER_H */
