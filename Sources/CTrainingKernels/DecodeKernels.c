#include "DecodeKernels.h"

#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
#include <immintrin.h>
#define TK_HAVE_X86 1  /* AVX-512 and AVX2 paths, chosen at run time */
#define TK_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx2,fma"), always_inline))
#define TK_AVX2 __attribute__((target("avx2,fma,f16c"), always_inline))
#endif

// Decoding reads every weight once per token, so these loops are bound by memory bandwidth: the
// weight streams through once per call whatever the number of rows, and each row's sum lives in
// its own register (each SIMD body is inlined for 1 to 8 rows as constants, so the compiler can
// keep the sums there; with a run-time row count they spilled to the stack). Products are summed
// in f32 in a different order than a GEMM's, so results match dequantize-then-GEMM to rounding,
// not bit for bit.
//
// Two weight layouts: 4-bit (bitsandbytes: element g of the flattened weight is nibble g of
// `packed`, high nibble first, worth code[nibble] · absmax[g / blocksize]) and dense (f32, bf16 or
// f16 rows `ldw` apart; `kind` — DENSE_F32, DENSE_BF16, DENSE_F16 — is a constant after inlining,
// so each variant compiles to its own loop).
enum { DENSE_F32 = 0, DENSE_BF16 = 1, DENSE_F16 = 2 };

static inline float bf16_to_f32(uint16_t h) {
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

static inline float nibble_weight(const uint8_t *packed, const float *code, const float *absmax, int64_t blocksize, int64_t g) {
    uint8_t byte = packed[g >> 1];
    return code[(g & 1) ? (byte & 0x0f) : (byte >> 4)] * absmax[g / blocksize];
}

/// IEEE half to f32, exactly (subnormals, infinities and NaN included).
static inline float f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exponent = (h >> 10) & 0x1f, mantissa = h & 0x3ff, bits;
    if (exponent == 0x1f) {
        bits = sign | 0x7f800000u | (mantissa << 13);
    } else if (exponent != 0) {
        bits = sign | ((exponent + 112) << 23) | (mantissa << 13);
    } else if (mantissa == 0) {
        bits = sign;
    } else {
        // Subnormal: shift the mantissa up until its leading one is the implicit bit.
        int shift = 0;
        while (!(mantissa & 0x400)) {
            mantissa <<= 1;
            shift++;
        }
        bits = sign | ((uint32_t)(113 - shift) << 23) | ((mantissa & 0x3ff) << 13);
    }
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

void tk_widen_f16(const uint16_t *h, float *out, int64_t n) {
    for (int64_t i = 0; i < n; i++) out[i] = f16_to_f32(h[i]);
}

static inline float dense_weight(const void *row, int kind, int64_t i) {
    if (kind == DENSE_BF16) return bf16_to_f32(((const uint16_t *)row)[i]);
    if (kind == DENSE_F16) return f16_to_f32(((const uint16_t *)row)[i]);
    return ((const float *)row)[i];
}

/// Weights [from, to) of 4-bit row `o` into the scalar sums (the unaligned head and tail of a row).
static inline void scalar_4bit(const uint8_t *packed, const float *code, const float *absmax, int64_t blocksize, int64_t in,
                               int64_t o, int64_t from, int64_t to, const float *x, int64_t rows, float *sums) {
    for (int64_t i = from; i < to; i++) {
        float w = nibble_weight(packed, code, absmax, blocksize, o * in + i);
        for (int64_t r = 0; r < rows; r++) sums[r] += w * x[r * in + i];
    }
}

static inline void scalar_dense(const void *row, int kind, int64_t in, int64_t from, int64_t to, const float *x, int64_t rows,
                                float *sums) {
    for (int64_t i = from; i < to; i++) {
        float w = dense_weight(row, kind, i);
        for (int64_t r = 0; r < rows; r++) sums[r] += w * x[r * in + i];
    }
}

/// Output `o` of every row: written, or added to what y holds (a bias).
static inline void put_sums(float *y, int64_t ldy, int64_t o, int64_t rows, const float *sums, int accumulate) {
    for (int64_t r = 0; r < rows; r++) y[r * ldy + o] = accumulate ? y[r * ldy + o] + sums[r] : sums[r];
}

static void matvec_4bit_portable(const uint8_t *packed, int64_t blocksize, const float *code, const float *absmax, int64_t in,
                                 int64_t first, int64_t end, const float *x, int64_t rows, float *y, int64_t ldy, int accumulate) {
    for (int64_t o = first; o < end; o++) {
        float sums[TK_DECODE_MAX_ROWS] = {0};
        scalar_4bit(packed, code, absmax, blocksize, in, o, 0, in, x, rows, sums);
        put_sums(y, ldy, o, rows, sums, accumulate);
    }
}

static void matvec_dense_portable(const void *w, int kind, int64_t ldw, int64_t in, int64_t first, int64_t end, const float *x,
                                  int64_t rows, float *y, int64_t ldy, int accumulate) {
    for (int64_t o = first; o < end; o++) {
        float sums[TK_DECODE_MAX_ROWS] = {0};
        const void *row = kind ? (const void *)((const uint16_t *)w + o * ldw) : (const void *)((const float *)w + o * ldw);
        scalar_dense(row, kind, in, 0, in, x, rows, sums);
        put_sums(y, ldy, o, rows, sums, accumulate);
    }
}

#ifdef TK_HAVE_X86
static int detected_isa(void) {
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl")) return 2;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c")) return 1;
    return 0;
}
#else
static int detected_isa(void) { return 0; }
#endif

// The instruction set in use, detected once. A test may lower it to check each path: for its own
// thread only, so that tests running beside it (whose exact comparisons depend on the summation
// order) keep the detected one.
static int isa_level = -1;
static _Thread_local int isa_limit = 2;

int tk_decode_isa(void) {
    int level = __atomic_load_n(&isa_level, __ATOMIC_RELAXED);
    if (level < 0) {
        level = detected_isa();
        __atomic_store_n(&isa_level, level, __ATOMIC_RELAXED);
    }
    return level < isa_limit ? level : isa_limit;
}

void tk_decode_limit_isa(int level) { isa_limit = level; }

#ifdef TK_HAVE_X86
TK_AVX2 static inline float hsum256(__m256 v) {
    __m128 half = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    half = _mm_add_ps(half, _mm_movehl_ps(half, half));
    half = _mm_add_ss(half, _mm_movehdup_ps(half));
    return _mm_cvtss_f32(half);
}

// AVX2, sixteen 4-bit weights (8 bytes) per step into two sums per row, so consecutive FMAs do not
// wait on each other. Eight nibbles are one 32-bit word: broadcast to every lane and shifted right
// by that lane's nibble position, each lane holds its code in its low bits (vpermps reads only the
// low three; the broadcast is a plain load). The 16-entry codebook is two 8-entry registers, each
// permuted by the code, the right one kept by a blend on bit 3 (moved to the sign bit). Two
// shuffles per eight weights instead of four: the shuffle port was the limit. The block's scale is
// loaded only when the block changes. Rows whose start is not a multiple of 16 elements (odd `in`)
// take the scalar path for their first and last few weights.
TK_AVX2 static inline void matvec_4bit_avx2(const uint8_t *packed, int64_t blocksize, const float *code, const float *absmax,
                                            int64_t in, int64_t first, int64_t end, const float *x, const int64_t rows,
                                            float *y, int64_t ldy, int accumulate) {
    const __m256 low_table = _mm256_loadu_ps(code), high_table = _mm256_loadu_ps(code + 8);
    // Element k of the word sits at bits 4..7 of byte k/2 when k is even (high nibble first).
    const __m256i shifts = _mm256_setr_epi32(4, 0, 12, 8, 20, 16, 28, 24);
    for (int64_t o = first; o < end; o++) {
        __m256 acc[TK_DECODE_MAX_ROWS], acc2[TK_DECODE_MAX_ROWS];
        for (int64_t r = 0; r < rows; r++) acc[r] = acc2[r] = _mm256_setzero_ps();
        float sums[TK_DECODE_MAX_ROWS] = {0};
        int64_t base = o * in, i = 0;
        while (i < in && ((base + i) & 15)) i++;
        scalar_4bit(packed, code, absmax, blocksize, in, o, 0, i, x, rows, sums);
        // Block by block (blocksize is a multiple of 16, and so is base + i): no test in the loop.
        while (i + 16 <= in) {
            int64_t g = base + i, block = g / blocksize;
            int64_t stop = (block + 1) * blocksize - base;
            if (stop > in) stop = in;
            const __m256 scale = _mm256_set1_ps(absmax[block]);
            for (; i + 16 <= stop; i += 16) {
                int32_t words[2];
                memcpy(words, packed + ((base + i) >> 1), sizeof words);
                __m256i n0 = _mm256_srlv_epi32(_mm256_set1_epi32(words[0]), shifts);
                __m256i n1 = _mm256_srlv_epi32(_mm256_set1_epi32(words[1]), shifts);
                __m256 w0 = _mm256_mul_ps(
                    _mm256_blendv_ps(_mm256_permutevar8x32_ps(low_table, n0), _mm256_permutevar8x32_ps(high_table, n0),
                                     _mm256_castsi256_ps(_mm256_slli_epi32(n0, 28))),
                    scale);
                __m256 w1 = _mm256_mul_ps(
                    _mm256_blendv_ps(_mm256_permutevar8x32_ps(low_table, n1), _mm256_permutevar8x32_ps(high_table, n1),
                                     _mm256_castsi256_ps(_mm256_slli_epi32(n1, 28))),
                    scale);
                for (int64_t r = 0; r < rows; r++) {
                    acc[r] = _mm256_fmadd_ps(w0, _mm256_loadu_ps(x + r * in + i), acc[r]);
                    acc2[r] = _mm256_fmadd_ps(w1, _mm256_loadu_ps(x + r * in + i + 8), acc2[r]);
                }
            }
        }
        scalar_4bit(packed, code, absmax, blocksize, in, o, i, in, x, rows, sums);
        for (int64_t r = 0; r < rows; r++) sums[r] += hsum256(_mm256_add_ps(acc[r], acc2[r]));
        put_sums(y, ldy, o, rows, sums, accumulate);
    }
}

// AVX2 when `in` is a multiple of 8 (every real model), 32 weights (16 bytes) per step with no
// lane-crossing permute: vpermps, two per eight weights above, was the limit on CPUs that run it
// at one per two cycles (Zen 3). The 16 bytes are loaded into both halves of a register; the low
// half keeps the high nibbles (elements 0, 2, 4, ...), the high half the low ones (1, 3, 5, ...).
// Four vpshufb look the codes up in the four byte planes of the f32 codebook and two rounds of
// unpacks reassemble the floats. Each resulting vector holds elements (0, 2, 4, 6 | 1, 3, 5, 7) of
// an 8-group: `xp` is x with every 8-group in that order, made once per call, so the products
// pair up with plain loads. Groups of 32 start at multiples of 32 of the flattened weight and the
// block size is a multiple of 32, so a group never straddles two blocks.
TK_AVX2 static inline void matvec_4bit_avx2_planes(const uint8_t *packed, int64_t blocksize, const float *code,
                                                   const float *absmax, int64_t in, int64_t first, int64_t end, const float *x,
                                                   const float *xp, const int64_t rows, float *y, int64_t ldy, int accumulate) {
    uint8_t planes[4][16];
    for (int c = 0; c < 16; c++) {
        uint32_t bits;
        memcpy(&bits, &code[c], sizeof bits);
        for (int k = 0; k < 4; k++) planes[k][c] = (uint8_t)(bits >> (8 * k));
    }
    const __m256i p0 = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)planes[0]));
    const __m256i p1 = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)planes[1]));
    const __m256i p2 = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)planes[2]));
    const __m256i p3 = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)planes[3]));
    const __m256i halves = _mm256_setr_epi32(4, 4, 4, 4, 0, 0, 0, 0), low4 = _mm256_set1_epi8(0x0f);
    // Four FMA chains per row for one or two rows (their latency, not the lookups, was the limit),
    // two for more: the four decoded vectors go to chains 0-3 or 0, 1, 0, 1.
    const int four = rows <= 2;
    for (int64_t o = first; o < end; o++) {
        __m256 acc[TK_DECODE_MAX_ROWS], acc2[TK_DECODE_MAX_ROWS], acc3[TK_DECODE_MAX_ROWS], acc4[TK_DECODE_MAX_ROWS];
        for (int64_t r = 0; r < rows; r++) acc[r] = acc2[r] = acc3[r] = acc4[r] = _mm256_setzero_ps();
        float sums[TK_DECODE_MAX_ROWS] = {0};
        int64_t base = o * in, i = 0;
        while (i < in && ((base + i) & 31)) i++;
        scalar_4bit(packed, code, absmax, blocksize, in, o, 0, i, x, rows, sums);
        while (i + 32 <= in) {
            int64_t block = (base + i) / blocksize;
            int64_t stop = (block + 1) * blocksize - base;
            if (stop > in) stop = in;
            const __m256 scale = _mm256_set1_ps(absmax[block]);
            for (; i + 32 <= stop; i += 32) {
                __m256i bytes = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(packed + ((base + i) >> 1))));
                __m256i codes = _mm256_and_si256(_mm256_srlv_epi32(bytes, halves), low4);
                __m256i b0 = _mm256_shuffle_epi8(p0, codes), b1 = _mm256_shuffle_epi8(p1, codes);
                __m256i b2 = _mm256_shuffle_epi8(p2, codes), b3 = _mm256_shuffle_epi8(p3, codes);
                __m256i lo01 = _mm256_unpacklo_epi8(b0, b1), hi01 = _mm256_unpackhi_epi8(b0, b1);
                __m256i lo23 = _mm256_unpacklo_epi8(b2, b3), hi23 = _mm256_unpackhi_epi8(b2, b3);
                __m256 w0 = _mm256_mul_ps(_mm256_castsi256_ps(_mm256_unpacklo_epi16(lo01, lo23)), scale);
                __m256 w1 = _mm256_mul_ps(_mm256_castsi256_ps(_mm256_unpackhi_epi16(lo01, lo23)), scale);
                __m256 w2 = _mm256_mul_ps(_mm256_castsi256_ps(_mm256_unpacklo_epi16(hi01, hi23)), scale);
                __m256 w3 = _mm256_mul_ps(_mm256_castsi256_ps(_mm256_unpackhi_epi16(hi01, hi23)), scale);
                for (int64_t r = 0; r < rows; r++) {
                    const float *xr = xp + r * in + i;
                    acc[r] = _mm256_fmadd_ps(w0, _mm256_loadu_ps(xr), acc[r]);
                    acc2[r] = _mm256_fmadd_ps(w1, _mm256_loadu_ps(xr + 8), acc2[r]);
                    if (four) {
                        acc3[r] = _mm256_fmadd_ps(w2, _mm256_loadu_ps(xr + 16), acc3[r]);
                        acc4[r] = _mm256_fmadd_ps(w3, _mm256_loadu_ps(xr + 24), acc4[r]);
                    } else {
                        acc[r] = _mm256_fmadd_ps(w2, _mm256_loadu_ps(xr + 16), acc[r]);
                        acc2[r] = _mm256_fmadd_ps(w3, _mm256_loadu_ps(xr + 24), acc2[r]);
                    }
                }
            }
        }
        scalar_4bit(packed, code, absmax, blocksize, in, o, i, in, x, rows, sums);
        for (int64_t r = 0; r < rows; r++) {
            sums[r] += hsum256(_mm256_add_ps(_mm256_add_ps(acc[r], acc2[r]), _mm256_add_ps(acc3[r], acc4[r])));
        }
        put_sums(y, ldy, o, rows, sums, accumulate);
    }
}

// AVX2, eight dense weights per step: bf16 widens to f32 by a 16-bit shift (it is f32's top half),
// f16 by F16C's vcvtph2ps.
TK_AVX2 static inline __m256 dense8_avx2(const uint16_t *half_row, const float *float_row, const int kind, int64_t at) {
    if (kind == DENSE_BF16) {
        return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(half_row + at))), 16));
    }
    if (kind == DENSE_F16) return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(half_row + at)));
    return _mm256_loadu_ps(float_row + at);
}

TK_AVX2 static inline void matvec_dense_avx2(const void *w, const int kind, int64_t ldw, int64_t in, int64_t first, int64_t end,
                                             const float *x, const int64_t rows, float *y, int64_t ldy, int accumulate) {
    // One FMA chain per row waits on its own latency every step: with few rows that, not memory,
    // was the limit (13.5 GB/s on one Zen 3 core). Up to four independent chains per row, as
    // many as the 16 registers hold beside the weights (a constant after inlining).
    enum { CHAINS = 4 };
    const int64_t chains = rows <= 2 ? 4 : (rows <= 4 ? 2 : 1);
    for (int64_t o = first; o < end; o++) {
        __m256 acc[CHAINS][TK_DECODE_MAX_ROWS];
        for (int64_t k = 0; k < chains; k++)
            for (int64_t r = 0; r < rows; r++) acc[k][r] = _mm256_setzero_ps();
        const uint16_t *half_row = (const uint16_t *)w + o * ldw;
        const float *float_row = (const float *)w + o * ldw;
        int64_t i = 0;
        for (; i + 8 * chains <= in; i += 8 * chains) {
            for (int64_t k = 0; k < chains; k++) {
                int64_t at = i + 8 * k;
                __m256 v = dense8_avx2(half_row, float_row, kind, at);
                for (int64_t r = 0; r < rows; r++) acc[k][r] = _mm256_fmadd_ps(v, _mm256_loadu_ps(x + r * in + at), acc[k][r]);
            }
        }
        for (; i + 8 <= in; i += 8) {
            __m256 v = dense8_avx2(half_row, float_row, kind, i);
            for (int64_t r = 0; r < rows; r++) acc[0][r] = _mm256_fmadd_ps(v, _mm256_loadu_ps(x + r * in + i), acc[0][r]);
        }
        float sums[TK_DECODE_MAX_ROWS] = {0};
        scalar_dense(kind ? (const void *)half_row : (const void *)float_row, kind, in, i, in, x, rows, sums);
        for (int64_t r = 0; r < rows; r++) {
            __m256 total = acc[0][r];
            for (int64_t k = 1; k < chains; k++) total = _mm256_add_ps(total, acc[k][r]);
            sums[r] += hsum256(total);
        }
        put_sums(y, ldy, o, rows, sums, accumulate);
    }
}

// AVX-512, sixteen 4-bit weights per step: 8 packed bytes → 16 nibbles (high first) → the codebook,
// held in one register, by permute → times the block's absmax.
TK_AVX512 static inline void matvec_4bit_avx512(const uint8_t *packed, int64_t blocksize, const float *code, const float *absmax,
                                                int64_t in, int64_t first, int64_t end, const float *x, const int64_t rows,
                                                float *y, int64_t ldy, int accumulate) {
    const __m512 table = _mm512_loadu_ps(code);
    const __m512i shifts = _mm512_set_epi32(0, 4, 0, 4, 0, 4, 0, 4, 0, 4, 0, 4, 0, 4, 0, 4);
    const __m512i low4 = _mm512_set1_epi32(0x0f);
    for (int64_t o = first; o < end; o++) {
        __m512 acc[TK_DECODE_MAX_ROWS];
        for (int64_t r = 0; r < rows; r++) acc[r] = _mm512_setzero_ps();
        float sums[TK_DECODE_MAX_ROWS] = {0};
        int64_t base = o * in, i = 0;
        while (i < in && ((base + i) & 15)) i++;
        scalar_4bit(packed, code, absmax, blocksize, in, o, 0, i, x, rows, sums);
        int64_t block_end = -1;
        __m512 scale = _mm512_setzero_ps();
        for (; i + 16 <= in; i += 16) {
            int64_t g = base + i;
            if (g >= block_end) {
                scale = _mm512_set1_ps(absmax[g / blocksize]);
                block_end = (g / blocksize + 1) * blocksize;
            }
            __m128i bytes8 = _mm_loadl_epi64((const __m128i *)(packed + (g >> 1)));
            __m512i wide = _mm512_cvtepu8_epi32(_mm_unpacklo_epi8(bytes8, bytes8));
            __m512i nibbles = _mm512_and_si512(_mm512_srlv_epi32(wide, shifts), low4);
            // blocksize is a multiple of 16 and g is too: the sixteen share one block.
            __m512 w = _mm512_mul_ps(_mm512_permutexvar_ps(nibbles, table), scale);
            for (int64_t r = 0; r < rows; r++) acc[r] = _mm512_fmadd_ps(w, _mm512_loadu_ps(x + r * in + i), acc[r]);
        }
        scalar_4bit(packed, code, absmax, blocksize, in, o, i, in, x, rows, sums);
        for (int64_t r = 0; r < rows; r++) sums[r] += _mm512_reduce_add_ps(acc[r]);
        put_sums(y, ldy, o, rows, sums, accumulate);
    }
}

TK_AVX512 static inline void matvec_dense_avx512(const void *w, const int kind, int64_t ldw, int64_t in, int64_t first, int64_t end,
                                                 const float *x, const int64_t rows, float *y, int64_t ldy, int accumulate) {
    for (int64_t o = first; o < end; o++) {
        __m512 acc[TK_DECODE_MAX_ROWS];
        for (int64_t r = 0; r < rows; r++) acc[r] = _mm512_setzero_ps();
        const uint16_t *half_row = (const uint16_t *)w + o * ldw;
        const float *float_row = (const float *)w + o * ldw;
        int64_t i = 0;
        for (; i + 16 <= in; i += 16) {
            __m512 v = kind == DENSE_BF16 ? _mm512_castsi512_ps(_mm512_slli_epi32(
                                                _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(half_row + i))), 16))
                       : kind == DENSE_F16 ? _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(half_row + i)))
                                           : _mm512_loadu_ps(float_row + i);
            for (int64_t r = 0; r < rows; r++) acc[r] = _mm512_fmadd_ps(v, _mm512_loadu_ps(x + r * in + i), acc[r]);
        }
        float sums[TK_DECODE_MAX_ROWS] = {0};
        scalar_dense(kind ? (const void *)half_row : (const void *)float_row, kind, in, i, in, x, rows, sums);
        for (int64_t r = 0; r < rows; r++) sums[r] += _mm512_reduce_add_ps(acc[r]);
        put_sums(y, ldy, o, rows, sums, accumulate);
    }
}

// One non-inlined entry per instruction set and layout, with the row count made a constant.
#define TK_ROWS_SWITCH(CALL) \
    switch (rows) { \
    case 1: CALL(1); break; \
    case 2: CALL(2); break; \
    case 3: CALL(3); break; \
    case 4: CALL(4); break; \
    case 5: CALL(5); break; \
    case 6: CALL(6); break; \
    case 7: CALL(7); break; \
    case 8: CALL(8); break; \
    default: break; \
    }

#define TK_4BIT_ARGS(R) packed, blocksize, code, absmax, in, first, end, x, R, y, ldy, accumulate
#define TK_4BIT_AVX2(R) matvec_4bit_avx2(TK_4BIT_ARGS(R))
#define TK_4BIT_AVX2_PLANES(R) matvec_4bit_avx2_planes(packed, blocksize, code, absmax, in, first, end, x, xp, R, y, ldy, accumulate)
#define TK_4BIT_AVX512(R) matvec_4bit_avx512(TK_4BIT_ARGS(R))
#define TK_DENSE_AVX2_BF16(R) matvec_dense_avx2(w, DENSE_BF16, ldw, in, first, end, x, R, y, ldy, accumulate)
#define TK_DENSE_AVX2_F16(R) matvec_dense_avx2(w, DENSE_F16, ldw, in, first, end, x, R, y, ldy, accumulate)
#define TK_DENSE_AVX2_F32(R) matvec_dense_avx2(w, DENSE_F32, ldw, in, first, end, x, R, y, ldy, accumulate)
#define TK_DENSE_AVX512_BF16(R) matvec_dense_avx512(w, DENSE_BF16, ldw, in, first, end, x, R, y, ldy, accumulate)
#define TK_DENSE_AVX512_F16(R) matvec_dense_avx512(w, DENSE_F16, ldw, in, first, end, x, R, y, ldy, accumulate)
#define TK_DENSE_AVX512_F32(R) matvec_dense_avx512(w, DENSE_F32, ldw, in, first, end, x, R, y, ldy, accumulate)

__attribute__((target("avx2,fma,f16c")))
static void matvec_4bit_avx2_any(const uint8_t *packed, int64_t blocksize, const float *code, const float *absmax, int64_t in,
                                 int64_t first, int64_t end, const float *x, int64_t rows, float *y, int64_t ldy, int accumulate) {
    float *xp = in % 8 == 0 && blocksize % 32 == 0 ? malloc((size_t)(rows * in) * sizeof(float)) : NULL;
    if (!xp) {
        TK_ROWS_SWITCH(TK_4BIT_AVX2)
        return;
    }
    // Every 8-group of x as (0, 2, 4, 6, 1, 3, 5, 7): the order the plane kernel decodes weights in.
    for (int64_t g = 0; g < rows * in; g += 8) {
        for (int j = 0; j < 4; j++) {
            xp[g + j] = x[g + 2 * j];
            xp[g + 4 + j] = x[g + 2 * j + 1];
        }
    }
    // More than four rows' sums no longer fit the 16 registers beside the decoded weights:
    // reading the weight twice (from cache) beats spilling.
    const float *x_all = x;
    float *xp_all = xp;
    float *y_all = y;
    for (int64_t r0 = 0; r0 < rows; r0 += 4) {
        int64_t chunk = rows - r0 < 4 ? rows - r0 : 4;
        const float *x = x_all + r0 * in, *xp = xp_all + r0 * in;
        float *y = y_all + r0 * ldy;
        switch (chunk) {
        case 1: TK_4BIT_AVX2_PLANES(1); break;
        case 2: TK_4BIT_AVX2_PLANES(2); break;
        case 3: TK_4BIT_AVX2_PLANES(3); break;
        default: TK_4BIT_AVX2_PLANES(4); break;
        }
    }
    free(xp_all);
}

__attribute__((target("avx512f,avx512bw,avx512vl,avx2,fma")))
static void matvec_4bit_avx512_any(const uint8_t *packed, int64_t blocksize, const float *code, const float *absmax, int64_t in,
                                   int64_t first, int64_t end, const float *x, int64_t rows, float *y, int64_t ldy, int accumulate) {
    TK_ROWS_SWITCH(TK_4BIT_AVX512)
}

__attribute__((target("avx2,fma,f16c")))
static void matvec_dense_avx2_any(const void *w, int kind, int64_t ldw, int64_t in, int64_t first, int64_t end, const float *x,
                                  int64_t rows, float *y, int64_t ldy, int accumulate) {
    if (kind == DENSE_BF16) {
        TK_ROWS_SWITCH(TK_DENSE_AVX2_BF16)
    } else if (kind == DENSE_F16) {
        TK_ROWS_SWITCH(TK_DENSE_AVX2_F16)
    } else {
        TK_ROWS_SWITCH(TK_DENSE_AVX2_F32)
    }
}

__attribute__((target("avx512f,avx512bw,avx512vl,avx2,fma")))
static void matvec_dense_avx512_any(const void *w, int kind, int64_t ldw, int64_t in, int64_t first, int64_t end, const float *x,
                                    int64_t rows, float *y, int64_t ldy, int accumulate) {
    if (kind == DENSE_BF16) {
        TK_ROWS_SWITCH(TK_DENSE_AVX512_BF16)
    } else if (kind == DENSE_F16) {
        TK_ROWS_SWITCH(TK_DENSE_AVX512_F16)
    } else {
        TK_ROWS_SWITCH(TK_DENSE_AVX512_F32)
    }
}
#endif

void tk_matvec_4bit(const uint8_t *packed, int64_t blocksize, const float *code, const float *absmax, int64_t in,
                    int64_t first, int64_t end, const float *x, int64_t rows, float *y, int64_t ldy, int accumulate) {
#ifdef TK_HAVE_X86
    int isa = blocksize % 16 == 0 ? tk_decode_isa() : 0;
    if (isa == 2) {
        matvec_4bit_avx512_any(packed, blocksize, code, absmax, in, first, end, x, rows, y, ldy, accumulate);
        return;
    }
    if (isa == 1) {
        matvec_4bit_avx2_any(packed, blocksize, code, absmax, in, first, end, x, rows, y, ldy, accumulate);
        return;
    }
#endif
    matvec_4bit_portable(packed, blocksize, code, absmax, in, first, end, x, rows, y, ldy, accumulate);
}

static void matvec_dense(const void *w, int kind, int64_t ldw, int64_t in, int64_t first, int64_t end, const float *x, int64_t rows,
                         float *y, int64_t ldy, int accumulate) {
#ifdef TK_HAVE_X86
    int isa = tk_decode_isa();
    if (isa == 2) {
        matvec_dense_avx512_any(w, kind, ldw, in, first, end, x, rows, y, ldy, accumulate);
        return;
    }
    if (isa == 1) {
        matvec_dense_avx2_any(w, kind, ldw, in, first, end, x, rows, y, ldy, accumulate);
        return;
    }
#endif
    matvec_dense_portable(w, kind, ldw, in, first, end, x, rows, y, ldy, accumulate);
}

void tk_matvec_bf16(const uint16_t *w, int64_t ldw, int64_t in, int64_t first, int64_t end, const float *x, int64_t rows,
                    float *y, int64_t ldy, int accumulate) {
    matvec_dense(w, DENSE_BF16, ldw, in, first, end, x, rows, y, ldy, accumulate);
}

void tk_matvec_f16(const uint16_t *w, int64_t ldw, int64_t in, int64_t first, int64_t end, const float *x, int64_t rows,
                   float *y, int64_t ldy, int accumulate) {
    matvec_dense(w, DENSE_F16, ldw, in, first, end, x, rows, y, ldy, accumulate);
}

void tk_matvec_f32(const float *w, int64_t ldw, int64_t in, int64_t first, int64_t end, const float *x, int64_t rows,
                   float *y, int64_t ldy, int accumulate) {
    matvec_dense(w, DENSE_F32, ldw, in, first, end, x, rows, y, ldy, accumulate);
}
