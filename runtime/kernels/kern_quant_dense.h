/*
 * kern_quant_dense.h - the dense Q8_0/Q4_0 kernels on 256-bit registers,
 * shared by kern_quant_avx2.c and kern_quant_avx512.c, each of which
 * includes it twice: once with the vpmaddubsw/vpmaddwd integer dot
 * (QD_VNNI 0) and once with vpdpbusd (QD_VNNI 1, functions compiled for the
 * VNNI target).  The including file defines, before each inclusion:
 *
 *   QD(name)          this copy's name for function name
 *   QD_VNNI           0 or 1
 *   QD_TARGET         the function attribute of this copy (empty, or the
 *                     target("...vnni") attribute)
 *   QD_DPBUSD(a,u,s)  (QD_VNNI 1) a + the 4-byte dot products of u8 u, s8 s
 *
 * and once: QD_SPREAD_MIN, the activation chunk qd_act and act_quant()
 * (the rule of kernels.h, into the pair layout below), the row offsets
 * qd_rows with qd_rows_set(), and scales8() (the F16 scales of one block of
 * 8 rows, as floats, row i in lane i).
 *
 * Activation layout: blocks 2p and 2p + 1 of x are the 64 bytes
 * q[64p ..): values 0..15 of both (2p's in the low 16 bytes), then values
 * 16..31 of both; a missing last odd block is zeros.
 *
 * The arithmetic is the one kernels.h fixes for every ISA.  A tile takes 8
 * rows (rows in the 8 lanes) and two blocks at a time: for each row, one
 * register of 8 int32 partial sums, 4 per block, from the two halves of both
 * blocks; a transposing tree of exact integer adds turns the 8 registers
 * into the 8 rows' integer block sums of each block, and then one fma per
 * block and row continues the float32 chain of each row.  Integer sums do
 * not depend on how they are grouped, so every blocking gives the bits of
 * the portable kernel.
 */

/* ---- one row, two blocks: 8 int32 partial sums [4 of block A | 4 of B] -------
 * lo holds values 0..15 of both blocks (A's in the low 128 bits), hi values
 * 16..31, as the activation pair xlo/xhi does.  Q8_0: the weights' int8
 * codes.  Q4_0: the nibbles 0..15 (the -8 is in the correction). */
#if QD_VNNI
/* vpdpbusd multiplies unsigned by signed bytes: Q8_0 as w + 128 (w ^ 0x80),
 * whose excess 128 * sum(x) the correction takes back. */
QD_TARGET INL __m256i QD(pairdot_q8)(__m256i lo, __m256i hi, __m256i xlo, __m256i xhi)
{
	const __m256i bias = _mm256_set1_epi8((char)0x80);
	__m256i p = QD_DPBUSD(_mm256_setzero_si256(), _mm256_xor_si256(lo, bias), xlo);
	return QD_DPBUSD(p, _mm256_xor_si256(hi, bias), xhi);
}

QD_TARGET INL __m256i QD(pairdot_q4)(__m256i lo, __m256i hi, __m256i xlo, __m256i xhi)
{
	__m256i p = QD_DPBUSD(_mm256_setzero_si256(), lo, xlo);
	return QD_DPBUSD(p, hi, xhi);
}
#else
/* vpmaddubsw saturates its 16-bit pair sums: Q8_0 goes as |w| times x with
 * w's sign (|w| <= 128, |x| <= 127, so a pair is at most 32512). */
QD_TARGET INL __m256i QD(pairdot_q8)(__m256i lo, __m256i hi, __m256i xlo, __m256i xhi)
{
	const __m256i ones = _mm256_set1_epi16(1);
	__m256i a = _mm256_maddubs_epi16(_mm256_abs_epi8(lo), _mm256_sign_epi8(xlo, lo));
	__m256i b = _mm256_maddubs_epi16(_mm256_abs_epi8(hi), _mm256_sign_epi8(xhi, hi));
	return _mm256_add_epi32(_mm256_madd_epi16(a, ones), _mm256_madd_epi16(b, ones));
}

/* nibbles 0..15 times |x| <= 127: pairs <= 3810, the sum of two <= 7620 */
QD_TARGET INL __m256i QD(pairdot_q4)(__m256i lo, __m256i hi, __m256i xlo, __m256i xhi)
{
	__m256i s = _mm256_add_epi16(_mm256_maddubs_epi16(lo, xlo), _mm256_maddubs_epi16(hi, xhi));
	return _mm256_madd_epi16(s, _mm256_set1_epi16(1));
}
#endif

/* Row at q (the first block's codes), blocks A and B = A + 1 (only A when
 * two is 0: its upper halves are zero, and so are the activation's). */
QD_TARGET INL __m256i QD(rowpair)(int q8, const unsigned char *q, size_t bb, int two, const __m256i *xp)
{
	__m256i lo, hi;
	if (q8) {
		__m128i a0 = _mm_loadu_si128((const __m128i *)(const void *)q);
		__m128i a1 = _mm_loadu_si128((const __m128i *)(const void *)(q + 16));
		if (two) {
			lo = _mm256_inserti128_si256(_mm256_castsi128_si256(a0),
						     _mm_loadu_si128((const __m128i *)(const void *)(q + bb)), 1);
			hi = _mm256_inserti128_si256(_mm256_castsi128_si256(a1),
						     _mm_loadu_si128((const __m128i *)(const void *)(q + bb + 16)), 1);
		} else {
			lo = _mm256_zextsi128_si256(a0);
			hi = _mm256_zextsi128_si256(a1);
		}
		return QD(pairdot_q8)(lo, hi, xp[0], xp[1]);
	}
	__m128i a = _mm_loadu_si128((const __m128i *)(const void *)q);
	__m256i y = two ? _mm256_inserti128_si256(_mm256_castsi128_si256(a),
						  _mm_loadu_si128((const __m128i *)(const void *)(q + bb)), 1)
			: _mm256_zextsi128_si256(a);
	const __m256i m = _mm256_set1_epi8(15);
	lo = _mm256_and_si256(y, m);
	hi = _mm256_and_si256(_mm256_srli_epi16(y, 4), m);
	return QD(pairdot_q4)(lo, hi, xp[0], xp[1]);
}

/* Rows 0..7's partial sums p[i] -> [A rows 0..3 | B rows 0..3] and
 * [A rows 4..7 | B rows 4..7]: lanes 0+2 and 1+3 of each block, then the
 * two partials left, all exact. */
#define QD_PAIRS(a, b) _mm256_add_epi32(_mm256_unpacklo_epi64(a, b), _mm256_unpackhi_epi64(a, b))
#define QD_HALF(a, b)                                                                                       \
	_mm256_add_epi32(                                                                                   \
		_mm256_castps_si256(_mm256_shuffle_ps(_mm256_castsi256_ps(a), _mm256_castsi256_ps(b), 0x88)), \
		_mm256_castps_si256(_mm256_shuffle_ps(_mm256_castsi256_ps(a), _mm256_castsi256_ps(b), 0xdd)))

/* acc (row i in lane i) continues with block k: is holds its integer block
 * sums (rows in lanes), the rows' F16 scales are at base + off[i]. */
QD_TARGET INL __m256 QD(step)(__m256 acc, __m256i is, const unsigned char *base, const qd_rows *ro,
			      const qd_act *xa, size_t k)
{
	is = _mm256_add_epi32(is, _mm256_set1_epi32(xa->corr[k]));
	__m256 s = _mm256_mul_ps(scales8(base, ro), _mm256_set1_ps(xa->dx[k]));
	return _mm256_fmadd_ps(s, _mm256_cvtepi32_ps(is), acc);
}

/* ---- a tile of mr <= 8 rows over the chunk's blocks ----------------------------
 * Row i starts at W + ro->off[i] (rows >= mr repeat row 0: their scales are
 * read, not used); y[i * ys] holds row i's chain (read unless first). */
QD_TARGET INL void QD(tile)(int q8, int mr, const unsigned char *W, const qd_rows *ro, const qd_act *xa,
			    float *y, size_t ys, int first)
{
	const size_t bb = q8 ? 34 : 18, nb = xa->nb;
	const unsigned char *rp[8];
	float buf[8];
	__m256 acc = _mm256_setzero_ps();
	QD_UNROLL for (int i = 0; i < 8; i++)
		rp[i] = W + ro->off[i] + 2;
	if (!first) {
		for (int i = 0; i < 8; i++)
			buf[i] = i < mr ? y[(size_t)i * ys] : 0.0f;
		acc = _mm256_loadu_ps(buf);
	}
	size_t k = 0, o = 0; /* block k starts o bytes into each row */
	for (; k + 2 <= nb; k += 2, o += 2 * bb) {
		const __m256i *xp = (const __m256i *)(const void *)(xa->q + k * 32);
		__m256i p[8];
		QD_UNROLL for (int i = 0; i < 8; i++)
			p[i] = i < mr ? QD(rowpair)(q8, rp[i] + o, bb, 1, xp) : _mm256_setzero_si256();
		__m256i t03 = QD_HALF(QD_PAIRS(p[0], p[1]), QD_PAIRS(p[2], p[3]));
		__m256i t47 = QD_HALF(QD_PAIRS(p[4], p[5]), QD_PAIRS(p[6], p[7]));
		acc = QD(step)(acc, _mm256_permute2x128_si256(t03, t47, 0x20), W + o, ro, xa, k);
		acc = QD(step)(acc, _mm256_permute2x128_si256(t03, t47, 0x31), W + o + bb, ro, xa, k + 1);
	}
	if (k < nb) { /* the last block of an odd count */
		const __m256i *xp = (const __m256i *)(const void *)(xa->q + k * 32);
		__m256i p[8];
		QD_UNROLL for (int i = 0; i < 8; i++)
			p[i] = i < mr ? QD(rowpair)(q8, rp[i] + o, bb, 0, xp) : _mm256_setzero_si256();
		__m256i t03 = QD_HALF(QD_PAIRS(p[0], p[1]), QD_PAIRS(p[2], p[3]));
		__m256i t47 = QD_HALF(QD_PAIRS(p[4], p[5]), QD_PAIRS(p[6], p[7]));
		acc = QD(step)(acc, _mm256_permute2x128_si256(t03, t47, 0x20), W + o, ro, xa, k);
	}
#undef QD_PAIRS
#undef QD_HALF
	_mm256_storeu_ps(buf, acc);
	for (int i = 0; i < mr; i++)
		y[(size_t)i * ys] = buf[i];
}

/* The tile for a run-time row count (the last rows of a matrix). */
QD_TARGET static void QD(tile_n)(int q8, int mr, const unsigned char *W, const qd_rows *ro, const qd_act *xa,
				 float *y, size_t ys, int first)
{
	QD(tile)(q8, mr, W, ro, xa, y, ys, first);
}

/* All rows over one activation chunk (blocks from W on). */
QD_TARGET INL void QD(rows)(int q8, const unsigned char *W, size_t ldb, size_t rows, const qd_act *xa, float *y,
			    int first)
{
	qd_rows ro;
	size_t r = 0;
	if (rows >= 8 * QD_SPREAD_MIN) {
		/* 8 far-apart streams, as kern_blocking.h's matvec */
		size_t chunk = rows / 8;
		qd_rows_set(&ro, chunk * ldb, 8);
		for (size_t j = 0; j < chunk; j++)
			QD(tile)(q8, 8, W + j * ldb, &ro, xa, y + j, chunk, first);
		r = 8 * chunk;
	}
	qd_rows_set(&ro, ldb, 8);
	for (; r + 8 <= rows; r += 8)
		QD(tile)(q8, 8, W + r * ldb, &ro, xa, y + r, 1, first);
	if (r < rows) {
		qd_rows_set(&ro, ldb, (int)(rows - r));
		QD(tile_n)(q8, (int)(rows - r), W + r * ldb, &ro, xa, y + r, 1, first);
	}
}

QD_TARGET static void QD(matvec)(int q8, const unsigned char *W, size_t ldb, size_t rows, size_t nb,
				 const float *x, float *y)
{
	qd_act xa;
	for (size_t k0 = 0; k0 < nb; k0 += LKQ_CHUNK_BLOCKS) {
		size_t n = nb - k0 < LKQ_CHUNK_BLOCKS ? nb - k0 : LKQ_CHUNK_BLOCKS;
		act_quant(x + 32 * k0, n, q8 ? (QD_VNNI ? -128 : 0) : -8, &xa);
		if (q8)
			QD(rows)(1, W + k0 * 34, ldb, rows, &xa, y, k0 == 0);
		else
			QD(rows)(0, W + k0 * 18, ldb, rows, &xa, y, k0 == 0);
	}
}
