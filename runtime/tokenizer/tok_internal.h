/*
 * tok_internal.h - shared internals of the tokenizer (runtime/tok_*.c).
 *
 * Not installed, not part of the API: see lutdb_tokenizer.h for that.
 *
 * The encode pipeline follows the Hugging Face `tokenizers` crate step by
 * step (added-token extraction, normalizer, pre-tokenizer, model,
 * post-processor).  Offsets are not tracked, except for the single fact the
 * Metaspace pre-tokenizer with prepend_scheme "first" needs ("does this split
 * begin at original byte 0?"), kept as `zlen` on each piece.
 */
#ifndef LUTDB_TOK_INTERNAL_H
#define LUTDB_TOK_INTERNAL_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <stddef.h>
#include <stdint.h>

#include "lutdb_err.h"
#include "lutdb_tokenizer.h"

/* Hostile-input caps. */
#define TOK_MAX_VOCAB      (16u * 1024u * 1024u)   /* entries, and max id + 1 */
#define TOK_MAX_MERGES     (16u * 1024u * 1024u)
#define TOK_MAX_ADDED      (1u * 1024u * 1024u)
#define TOK_MAX_TOKEN_LEN  (64u * 1024u)           /* bytes in one vocab/added token */
#define TOK_MAX_REGEX_LEN  (16u * 1024u)
#define TOK_MAX_STEPS      64u                     /* components in a Sequence (flattened) */
#define TOK_MAX_DEPTH      8                       /* nesting of Sequence */
#define TOK_MAX_INPUT      ((size_t)1 << 30)       /* bytes given to encode */
#define TOK_NO_ID          UINT32_MAX

/* ---- growable byte buffer ---------------------------------------------- */
struct tok_buf {
	char *p;
	size_t len, cap;
};
int tok_buf_reserve(struct tok_buf *b, size_t extra);
int tok_buf_put(struct tok_buf *b, const void *s, size_t n);
void tok_buf_free(struct tok_buf *b);

/* ---- UTF-8 ------------------------------------------------------------- */
/* Length of the valid UTF-8 sequence at s[0..n) (1..4), or 0 if invalid. */
size_t tok_utf8_valid_len(const unsigned char *s, size_t n);
/* Decode one char of valid UTF-8 at s; stores its length in *len. */
uint32_t tok_utf8_decode(const char *s, size_t *len);
/* Encode cp into out (4 bytes room); returns the length. */
size_t tok_utf8_encode(uint32_t cp, char *out);
/* Append s[0..n) to b with every maximal invalid subpart replaced by U+FFFD,
 * exactly like Rust's String::from_utf8_lossy. */
int tok_utf8_lossy(struct tok_buf *b, const char *s, size_t n);
/* Whether s[0..n) is entirely valid UTF-8. */
int tok_utf8_is_valid(const char *s, size_t n);

/* ---- string -> u32 map ------------------------------------------------- */
struct tok_strmap {
	uint32_t *slots;     /* entry index + 1; 0 = empty */
	size_t nslots;       /* power of two */
	uint32_t *eoff, *elen, *eval;
	size_t n, ecap;
	struct tok_buf keys;
};
int tok_strmap_init(struct tok_strmap *m, size_t expect);
/* Sets key -> val (replacing an existing value, as a Rust HashMap insert). */
int tok_strmap_set(struct tok_strmap *m, const char *k, size_t klen, uint32_t val);
/* Returns 1 and *val when found. */
int tok_strmap_get(const struct tok_strmap *m, const char *k, size_t klen, uint32_t *val);
void tok_strmap_free(struct tok_strmap *m);
/* Hash of the maps, seeded per process by tok_hash_seed() (a secret, so
 * that a tokenizer.json cannot be made of keys that collide). */
uint64_t tok_hash(const void *p, size_t n);
uint64_t tok_hash_seed(void);

/* ---- regex (Oniguruma semantics on PCRE2) ------------------------------ */
struct tok_regex {
	pcre2_code *code;
	int jit;
};
/* Compiles pattern (a `tokenizers` SysRegex, Oniguruma syntax) or, with
 * literal, the plain string.  what names the component for the error. */
int tok_regex_compile(struct tok_regex *re, const char *pat, size_t len, int literal,
		      const char *what);
void tok_regex_free(struct tok_regex *re);

/* Per-call matching scratch. */
struct tok_match_ctx {
	pcre2_match_data *md;
	pcre2_match_context *mctx;
	pcre2_jit_stack *jstack;
};
int tok_match_ctx_init(struct tok_match_ctx *m);
void tok_match_ctx_free(struct tok_match_ctx *m);

/* One segment of a string: [s, e) and whether it is a match. */
struct tok_seg {
	uint32_t s, e;
	int is_match;
};
struct tok_segs {
	struct tok_seg *v;
	size_t n, cap;
};
/* The `Pattern::find_matches` of tokenizers for a SysRegex: segments covering
 * the whole of s[0..n), onig find_iter semantics for empty matches. */
int tok_regex_find_matches(const struct tok_regex *re, struct tok_match_ctx *m,
			   const char *s, size_t n, struct tok_segs *out);
int tok_segs_push(struct tok_segs *v, uint32_t s, uint32_t e, int is_match);
/* Whether the char at s[0..n) is in the Rust regex class TOK_CLS_SPACE (\s,
 * White_Space) or TOK_CLS_WORD (\w). */
#define TOK_CLS_SPACE 0
#define TOK_CLS_WORD 1
int tok_char_is(struct tok_match_ctx *m, int cls, const char *s, size_t n);

/* ---- pieces (a PreTokenizedString) ------------------------------------- */
struct tok_piece {
	uint32_t off, len;   /* into the owning work buffer */
	uint32_t id;         /* added token id, or TOK_NO_ID */
	uint32_t zlen;       /* leading bytes aligned to original offset 0 */
	uint32_t at0;        /* the split starts at original offset 0 */
};
struct tok_work {
	struct tok_buf buf;
	struct tok_piece *pc;
	size_t n, cap;
};
int tok_work_push(struct tok_work *w, const char *s, size_t len, uint32_t id, uint32_t zlen,
		  uint32_t at0);
/* Pushes a piece whose bytes are already at w->buf[off..off+len). */
int tok_work_push_ref(struct tok_work *w, uint32_t off, uint32_t len, uint32_t id, uint32_t zlen,
		      uint32_t at0);
void tok_work_reset(struct tok_work *w);
void tok_work_free(struct tok_work *w);

/* ---- components --------------------------------------------------------- */
enum tok_norm_kind { TN_NFC, TN_NFKC, TN_REPLACE, TN_PREPEND };
struct tok_norm {
	int kind;
	struct tok_regex re;         /* TN_REPLACE */
	char *content;               /* TN_REPLACE content, TN_PREPEND prepend */
	size_t content_len;
};

enum tok_split_behavior { TB_REMOVED, TB_ISOLATED, TB_MERGED_PREV, TB_MERGED_NEXT, TB_CONTIGUOUS };
enum tok_prepend { TPS_ALWAYS, TPS_FIRST, TPS_NEVER };
enum tok_pre_kind { TP_BYTELEVEL, TP_SPLIT, TP_METASPACE, TP_DIGITS };
struct tok_pre {
	int kind;
	int add_prefix_space, use_regex;          /* ByteLevel */
	struct tok_regex re;                      /* Split; ByteLevel uses the shared GPT-2 one */
	int behavior, invert;                     /* Split */
	uint32_t repl_cp;                         /* Metaspace */
	char repl[4];
	int repl_len;
	int prepend_scheme, split;
	int individual_digits;                    /* Digits */
};

enum tok_dec_kind { TD_BYTELEVEL, TD_BYTEFALLBACK, TD_FUSE, TD_STRIP, TD_REPLACE, TD_METASPACE };
struct tok_dec {
	int kind;
	uint32_t cp;                              /* Strip content, Metaspace replacement */
	size_t start, stop;                       /* Strip */
	struct tok_regex re;                      /* Replace */
	char *content;
	size_t content_len;
	int prepend_scheme;                       /* Metaspace */
};

enum tok_post_kind { TPP_BYTELEVEL, TPP_TEMPLATE };
struct tok_post {
	int kind;
	/* TemplateProcessing single: its pieces ($A, or special token ids) */
	struct tok_tpl_item {
		uint32_t *ids;
		size_t nids;
		int is_seq;
	} *items;
	size_t nitems;
};

struct tok_added {
	char *content;               /* as in the file */
	size_t len;
	char *norm;                  /* normalized form when normalized && different, else NULL */
	size_t norm_len;
	uint32_t id;
	uint8_t single_word, lstrip, rstrip, normalized, special;
};

/* byte-trie for leftmost-longest matching of added tokens */
struct tok_trie {
	uint32_t root[256];          /* node index + 1 */
	struct tok_trie_node {
		uint32_t child, sibling; /* node index + 1 */
		int32_t tok;             /* added index, -1 */
		uint8_t byte;
	} *nodes;
	size_t n, cap;
	int empty;
};

struct tok_bpe {
	struct tok_strmap vocab;
	char **id_str;                /* id -> token (NUL-terminated, may contain NUL) */
	uint32_t *id_len;
	uint32_t max_id;              /* largest id of the model vocab */
	size_t nvocab;
	/* merges: open addressing on (a << 32 | b), one cache line per probe */
	struct tok_merge {
		uint64_t key;         /* UINT64_MAX: empty */
		uint32_t rank, nid;
	} *merges;
	size_t mslots, nmerges;
	uint64_t mseed;                           /* tok_hash_seed(), read once */
	char *unk;                    /* NULL: none */
	size_t unk_len;
	char *prefix, *suffix;        /* continuing_subword_prefix / end_of_word_suffix */
	size_t prefix_len, suffix_len;
	int fuse_unk, byte_fallback, ignore_merges;
	uint32_t byte_fb[256];        /* <0xXX> ids or TOK_NO_ID */
	uint32_t *small_id;           /* [0x10000]: vocab id of each one-char BMP token */
	uint64_t serial;              /* unique per load: keys the per-thread word cache */
};

struct lutdb_tokenizer {
	struct tok_bpe bpe;
	struct tok_norm *norm;
	size_t nnorm;
	struct tok_pre *pre;
	size_t npre;
	struct tok_dec *dec;
	size_t ndec;
	int has_decoder;
	struct tok_post *post;
	size_t npost;
	struct tok_added *added;
	size_t nadded;
	struct tok_trie trie_raw, trie_norm;      /* non-normalized / normalized tokens */
	struct tok_strmap added_map;              /* content -> id */
	struct tok_strmap special_set;            /* special content -> 1 */
	struct tok_regex gpt2_re;                 /* for ByteLevel pre-tokenizers */
	int need_gpt2_re;
	size_t vocab_size;                        /* with added tokens, overlap counted once */
	uint32_t max_id;
	uint32_t bos_id, eos_id;
	int byte_level;                           /* ByteLevel pre-tokenizer present */
	char model_type[8];
};

/* ---- stages ------------------------------------------------------------- */
int tok_load_json(struct lutdb_tokenizer *t, const char *json, size_t len);

/* Added tokens */
int tok_added_build(struct lutdb_tokenizer *t);
/* Splits in (pieces with id == TOK_NO_ID) on added tokens of trie, into out. */
int tok_added_split(const struct lutdb_tokenizer *t, struct tok_match_ctx *m,
		    const struct tok_trie *trie,
		    const char *s, size_t n, uint32_t zlen, uint32_t at0, struct tok_work *out);
void tok_trie_free(struct tok_trie *tr);

/* Normalizers: normalize s[0..n) into out (appended), *zlen updated. */
int tok_normalize(const struct lutdb_tokenizer *t, struct tok_match_ctx *m, const char *s,
		  size_t n, struct tok_buf *out, uint32_t *zlen);
int tok_normalize_one(const struct tok_norm *nm, struct tok_match_ctx *m, const char *s,
		      size_t n, struct tok_buf *out, uint32_t *zlen);
void tok_norm_free(struct tok_norm *nm);

/* Pre-tokenizers: in -> out (out reset first). */
struct range {
	uint32_t s, e;
	int remove;
};
struct ranges {
	struct range *v;
	size_t n, cap;
};
struct tok_pre_scratch {
	struct tok_segs segs;
	struct ranges rg;
	struct tok_buf sbuf;
};
int tok_pretokenize(const struct lutdb_tokenizer *t, struct tok_match_ctx *m,
		    struct tok_pre_scratch *x, struct tok_work *in, struct tok_work *out);
void tok_pre_scratch_free(struct tok_pre_scratch *x);
void tok_pre_free(struct tok_pre *p);
/* Byte <-> char mapping of the GPT-2 byte-level alphabet. */
uint32_t tok_byte_to_cp(uint8_t b);
int tok_cp_to_byte(uint32_t cp);   /* -1 when cp is not in the alphabet */

/* BPE model.  A scratch serves one call at a time; with
 * tok_bpe_scratch_cache_words it keeps the ids of the words it tokenized
 * last (about 4 MiB, allocated at first use) for the next calls. */
struct tok_bpe_scratch;
int tok_bpe_scratch_new(struct tok_bpe_scratch **out);
void tok_bpe_scratch_cache_words(struct tok_bpe_scratch *s);
void tok_bpe_scratch_free(struct tok_bpe_scratch *s);
int tok_bpe_tokenize(const struct tok_bpe *b, struct tok_bpe_scratch *s, const char *w,
		     size_t n, uint32_t **ids, size_t *nids, size_t *cap);
void tok_bpe_free(struct tok_bpe *b);
uint64_t tok_bpe_next_serial(void);
int tok_bpe_build_merges(struct tok_bpe *b, size_t expect);
int tok_bpe_add_merge(struct tok_bpe *b, uint32_t a, uint32_t c, uint32_t rank, uint32_t nid);

/* The encoder's working memory (tok_scratch.c): the calling thread's, or a
 * private one (*owned) when the thread's is unavailable. */
struct tok_scratch {
	struct tok_work a, b;
	struct tok_buf fixed, nb;
	struct tok_bpe_scratch *bs;
	struct tok_match_ctx m;
	struct tok_pre_scratch pre;
	/* the list of threads' scratch (tok_scratch.c), under its lock */
	struct tok_scratch *prev, *next;
	int busy, orphaned;
};
struct tok_scratch *tok_scratch_get(int *owned);
void tok_scratch_put(struct tok_scratch *x, int owned);

/* Decoders: tokens -> text. */
int tok_decode_tokens(const struct lutdb_tokenizer *t, const char **toks, const size_t *lens,
		      size_t n, struct tok_buf *out);
void tok_dec_free(struct tok_dec *d);

/* Post-processors. */
int tok_post_process(const struct lutdb_tokenizer *t, const uint32_t *ids, size_t n,
		     int add_special, uint32_t **out, size_t *nout);
void tok_post_free(struct tok_post *p);

/* Token string of id for decoding (added tokens first), or NULL. */
const char *tok_id_to_token(const struct lutdb_tokenizer *t, uint32_t id, size_t *len);

#endif /* LUTDB_TOK_INTERNAL_H */
