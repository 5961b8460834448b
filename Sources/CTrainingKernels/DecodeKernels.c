#include "DecodeKernels.h"

#include <string.h>

#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
#include <immintrin.h>
#define TK_HAVE_AVX512 1  /* x86-64: AVX-512 and AVX2 paths, chosen at run time */
#define TK_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx2,fma")))
#endif

// Decoding reads every weight once per token, so these loops are bound by memory bandwidth: the
// weight streams through once per call whatever the number of rows, and each row's sum lives in
// its own register (each SIMD body is inlined for 1 to 8 rows as constants, so the compiler can
// keep the sums there; with a run-time row count they spilled to the stack). Products are summed
// in f32 in a different order than a GEMM's, so results match dequantize-then-GEMM to rounding,
// not bit for bit.

static inline float bf16_to_f32(uint16_t h) {
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

static void matvec_4bit_portable(const uint8_t *packed, int64_t blocksize, const float *code, const float *absmax,
                                 int64_t in, int64_t first, int64_t end, const float *x, int64_t rows, float *y,
                                 int64_t ldy, int accumulate) {
    for (int64_t o = first; o < end; o++) {
        float sums[TK_DECODE_MAX_ROWS] = {0};
        int64_t base = o * in;
        for (int64_t i = 0; i < in; i++) {
            int64_t g = base + i;
            uint8_t byte = packed[g >> 1];
            float w = code[(g & 1) ? (byte & 0x0f) : (byte >> 4)] * absmax[g / blocksize];
            for (int64_t r = 0; r < rows; r++) sums[r] += w * x[r * in + i];
        }
        for (int64_t r = 0; r < rows; r++) y[r * ldy + o] = accumulate ? y[r * ldy + o] + sums[r] : sums[r];
    }
}

static void matvec_bf16_portable(const uint16_t *w, int64_t ldw, int64_t in, int64_t first, int64_t end, const float *x,
                                 int64_t rows, float *y, int64_t ldy, int accumulate) {
    for (int64_t o = first; o < end; o++) {
        float sums[TK_DECODE_MAX_ROWS] = {0};
        const uint16_t *row = w + o * ldw;
        for (int64_t i = 0; i < in; i++) {
            float v = bf16_to_f32(row[i]);
            for (int64_t r = 0; r < rows; r++) sums[r] += v * x[r * in + i];
        }
        for (int64_t r = 0; r < rows; r++) y[r * ldy + o] = accumulate ? y[r * ldy + o] + sums[r] : sums[r];
    }
}

static void matvec_f32_portable(const float *w, int64_t ldw, int64_t in, int64_t first, int64_t end, const float *x,
                                int64_t rows, float *y, int64_t ldy, int accumulate) {
    for (int64_t o = first; o < end; o++) {
        float sums[TK_DECODE_MAX_ROWS] = {0};
        const float *row = w + o * ldw;
        for (int64_t i = 0; i < in; i++) {
            for (int64_t r = 0; r < rows; r++) sums[r] += row[i] * x[r * in + i];
        }
        for (int64_t r = 0; r < rows; r++) y[r * ldy + o] = accumulate ? y[r * ldy + o] + sums[r] : sums[r];
    }
}

#ifdef TK_HAVE_AVX512
#define TK_AVX2 __attribute__((target("avx2,fma")))

static int detected_isa(void) {
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl")) return 2;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return 1;
    return 0;
}
#else
static int detected_isa(void) { return 0; }
#endif

// The instruction set in use, detected once; a test may lower it to check each path.
static int isa_level = -1;

int tk_decode_isa(void) {
    int level = __atomic_load_n(&isa_level, __ATOMIC_RELAXED);
    if (level < 0) {
        level = detected_isa();
        __atomic_store_n(&isa_level, level, __ATOMIC_RELAXED);
    }
    return level;
}

void tk_decode_limit_isa(int level) {
    int detected = detected_isa();
    __atomic_store_n(&isa_level, level < detected ? level : detected, __ATOMIC_RELAXED);
}

#ifdef TK_HAVE_AVX512
// Eight weights at a time: 4 packed bytes → 8 nibbles (high first); the 16-entry codebook is two
// 8-entry registers, each permuted by the nibble, the right one kept by a blend on bit 3.
TK_AVX2 __attribute__((always_inline))
static inline void matvec_4bit_avx2_rows(const uint8_t *packed, int64_t blocksize, const float *code, const float *absmax, int64_t in,
                             int64_t first, int64_t end, const float *x, int64_t rows, float *y, int64_t ldy,
                             int accumulate) {
    const __m256 low_table = _mm256_loadu_ps(code), high_table = _mm256_loadu_ps(code + 8);
    const __m256i shifts = _mm256_set_epi32(0, 4, 0, 4, 0, 4, 0, 4);
    const __m256i low4 = _mm256_set1_epi32(0x0f), eight = _mm256_set1_epi32(8);
    for (int64_t o = first; o < end; o++) {
        __m256 acc[TK_DECODE_MAX_ROWS];
        for (int64_t r = 0; r < rows; r++) acc[r] = _mm256_setzero_ps();
        float sums[TK_DECODE_MAX_ROWS] = {0};
        int64_t base = o * in, i = 0;
        for (; i < in && ((base + i) & 15); i++) {
            int64_t g = base + i;
            uint8_t byte = packed[g >> 1];
            float w = code[(g & 1) ? (byte & 0x0f) : (byte >> 4)] * absmax[g / blocksize];
            for (int64_t r = 0; r < rows; r++) sums[r] += w * x[r * in + i];
        }
        // Sixteen weights per step (8 bytes) into two sums per row, so consecutive FMAs do not wait
        // on each other; the block's scale is loaded only when the block changes (no division).
        __m256 acc2[TK_DECODE_MAX_ROWS];
        for (int64_t r = 0; r < rows; r++) acc2[r] = _mm256_setzero_ps();
        int64_t block_end = -1;
        __m256 scale = _mm256_setzero_ps();
        for (; i + 16 <= in; i += 16) {
            int64_t g = base + i;
            if (g >= block_end) {
                scale = _mm256_set1_ps(absmax[g / blocksize]);
                block_end = (g / blocksize + 1) * blocksize;
            }
            __m128i bytes8 = _mm_loadl_epi64((const __m128i *)(packed + (g >> 1)));
            __m128i doubled = _mm_unpacklo_epi8(bytes8, bytes8);
            __m256i wide0 = _mm256_cvtepu8_epi32(doubled), wide1 = _mm256_cvtepu8_epi32(_mm_srli_si128(doubled, 8));
            __m256i n0 = _mm256_and_si256(_mm256_srlv_epi32(wide0, shifts), low4);
            __m256i n1 = _mm256_and_si256(_mm256_srlv_epi32(wide1, shifts), low4);
            // blocksize is a multiple of 16 and g is too: the sixteen share one block.
            __m256 w0 = _mm256_mul_ps(_mm256_blendv_ps(_mm256_permutevar8x32_ps(high_table, n0), _mm256_permutevar8x32_ps(low_table, n0),
                                                       _mm256_castsi256_ps(_mm256_cmpgt_epi32(eight, n0))), scale);
            __m256 w1 = _mm256_mul_ps(_mm256_blendv_ps(_mm256_permutevar8x32_ps(high_table, n1), _mm256_permutevar8x32_ps(low_table, n1),
                                                       _mm256_castsi256_ps(_mm256_cmpgt_epi32(eight, n1))), scale);
            for (int64_t r = 0; r < rows; r++) {
                acc[r] = _mm256_fmadd_ps(w0, _mm256_loadu_ps(x + r * in + i), acc[r]);
                acc2[r] = _mm256_fmadd_ps(w1, _mm256_loadu_ps(x + r * in + i + 8), acc2[r]);
            }
        }
        for (int64_t r = 0; r < rows; r++) acc[r] = _mm256_add_ps(acc[r], acc2[r]);
        for (; i < in; i++) {
            int64_t g = base + i;
            uint8_t byte = packed[g >> 1];
            float w = code[(g & 1) ? (byte & 0x0f) : (byte >> 4)] * absmax[g / blocksize];
            for (int64_t r = 0; r < rows; r++) sums[r] += w * x[r * in + i];
        }
        for (int64_t r = 0; r < rows; r++) {
            __m128 half = _mm_add_ps(_mm256_castps256_ps128(acc[r]), _mm256_extractf128_ps(acc[r], 1));
            half = _mm_add_ps(half, _mm_movehl_ps(half, half));
            half = _mm_add_ss(half, _mm_movehdup_ps(half));
            float s = sums[r] + _mm_cvtss_f32(half);
            y[r * ldy + o] = accumulate ? y[r * ldy + o] + s : s;
        }
    }
}

TK_AVX2
static void matvec_4bit_avx2(const uint8_t *packed, int64_t blocksize, const float *code, const float *absmax, int64_t in,
                             int64_t first, int64_t end, const float *x, int64_t rows, float *y, int64_t ldy,
                             int accumulate) {
    switch (rows) {
    case 1: matvec_4bit_avx2_rows(packed, blocksize, code, absmax, in, first, end, x, 1, y, ldy, accumulate); break;
    case 2: matvec_4bit_avx2_rows(packed, blocksize, code, absmax, in, first, end, x, 2, y, ldy, accumulate); break;
    case 3: matvec_4bit_avx2_rows(packed, blocksize, code, absmax, in, first, end, x, 3, y, ldy, accumulate); break;
    case 4: matvec_4bit_avx2_rows(packed, blocksize, code, absmax, in, first, end, x, 4, y, ldy, accumulate); break;
    case 5: matvec_4bit_avx2_rows(packed, blocksize, code, absmax, in, first, end, x, 5, y, ldy, accumulate); break;
    case 6: matvec_4bit_avx2_rows(packed, blocksize, code, absmax, in, first, end, x, 6, y, ldy, accumulate); break;
    case 7: matvec_4bit_avx2_rows(packed, blocksize, code, absmax, in, first, end, x, 7, y, ldy, accumulate); break;
    case 8: matvec_4bit_avx2_rows(packed, blocksize, code, absmax, in, first, end, x, 8, y, ldy, accumulate); break;
    default: break;
    }
}

TK_AVX2 __attribute__((always_inline))
static inline void matvec_bf16_avx2_rows(const uint16_t *w, int64_t ldw, int64_t in, int64_t first, int64_t end, const float *x,
                             int64_t rows, float *y, int64_t ldy, int accumulate) {
    for (int64_t o = first; o < end; o++) {
        __m256 acc[TK_DECODE_MAX_ROWS];
        for (int64_t r = 0; r < rows; r++) acc[r] = _mm256_setzero_ps();
        const uint16_t *row = w + o * ldw;
        int64_t i = 0;
        for (; i + 8 <= in; i += 8) {
            __m256i wide = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(row + i)));
            __m256 v = _mm256_castsi256_ps(_mm256_slli_epi32(wide, 16));
            for (int64_t r = 0; r < rows; r++) acc[r] = _mm256_fmadd_ps(v, _mm256_loadu_ps(x + r * in + i), acc[r]);
        }
        float sums[TK_DECODE_MAX_ROWS] = {0};
        for (; i < in; i++) {
            float v = bf16_to_f32(row[i]);
            for (int64_t r = 0; r < rows; r++) sums[r] += v * x[r * in + i];
        }
        for (int64_t r = 0; r < rows; r++) {
            __m128 half = _mm_add_ps(_mm256_castps256_ps128(acc[r]), _mm256_extractf128_ps(acc[r], 1));
            half = _mm_add_ps(half, _mm_movehl_ps(half, half));
            half = _mm_add_ss(half, _mm_movehdup_ps(half));
            float s = sums[r] + _mm_cvtss_f32(half);
            y[r * ldy + o] = accumulate ? y[r * ldy + o] + s : s;
        }
    }
}

TK_AVX2
static void matvec_bf16_avx2(const uint16_t *w, int64_t ldw, int64_t in, int64_t first, int64_t end, const float *x,
                             int64_t rows, float *y, int64_t ldy, int accumulate) {
    switch (rows) {
    case 1: matvec_bf16_avx2_rows(w, ldw, in, first, end, x, 1, y, ldy, accumulate); break;
    case 2: matvec_bf16_avx2_rows(w, ldw, in, first, end, x, 2, y, ldy, accumulate); break;
    case 3: matvec_bf16_avx2_rows(w, ldw, in, first, end, x, 3, y, ldy, accumulate); break;
    case 4: matvec_bf16_avx2_rows(w, ldw, in, first, end, x, 4, y, ldy, accumulate); break;
    case 5: matvec_bf16_avx2_rows(w, ldw, in, first, end, x, 5, y, ldy, accumulate); break;
    case 6: matvec_bf16_avx2_rows(w, ldw, in, first, end, x, 6, y, ldy, accumulate); break;
    case 7: matvec_bf16_avx2_rows(w, ldw, in, first, end, x, 7, y, ldy, accumulate); break;
    case 8: matvec_bf16_avx2_rows(w, ldw, in, first, end, x, 8, y, ldy, accumulate); break;
    default: break;
    }
}

// Sixteen weights at a time: 8 packed bytes → 16 nibbles (high first) → the codebook, held in one
// register, by permute → times the block's absmax. Rows whose start is not a multiple of 16
// elements (odd `in`) take the scalar path for their first and last few weights.
TK_AVX512 __attribute__((always_inline))
static inline void matvec_4bit_avx512_rows(const uint8_t *packed, int64_t blocksize, const float *code, const float *absmax, int64_t in,
                               int64_t first, int64_t end, const float *x, int64_t rows, float *y, int64_t ldy,
                               int accumulate) {
    const __m512 table = _mm512_loadu_ps(code);
    const __m512i shifts = _mm512_set_epi32(0, 4, 0, 4, 0, 4, 0, 4, 0, 4, 0, 4, 0, 4, 0, 4);
    const __m512i low4 = _mm512_set1_epi32(0x0f);
    for (int64_t o = first; o < end; o++) {
        __m512 acc[TK_DECODE_MAX_ROWS];
        for (int64_t r = 0; r < rows; r++) acc[r] = _mm512_setzero_ps();
        float sums[TK_DECODE_MAX_ROWS] = {0};
        int64_t base = o * in, i = 0;
        for (; i < in && ((base + i) & 15); i++) {
            int64_t g = base + i;
            uint8_t byte = packed[g >> 1];
            float w = code[(g & 1) ? (byte & 0x0f) : (byte >> 4)] * absmax[g / blocksize];
            for (int64_t r = 0; r < rows; r++) sums[r] += w * x[r * in + i];
        }
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
        for (; i < in; i++) {
            int64_t g = base + i;
            uint8_t byte = packed[g >> 1];
            float w = code[(g & 1) ? (byte & 0x0f) : (byte >> 4)] * absmax[g / blocksize];
            for (int64_t r = 0; r < rows; r++) sums[r] += w * x[r * in + i];
        }
        for (int64_t r = 0; r < rows; r++) {
            float s = sums[r] + _mm512_reduce_add_ps(acc[r]);
            y[r * ldy + o] = accumulate ? y[r * ldy + o] + s : s;
        }
    }
}

TK_AVX512
static void matvec_4bit_avx512(const uint8_t *packed, int64_t blocksize, const float *code, const float *absmax, int64_t in,
                               int64_t first, int64_t end, const float *x, int64_t rows, float *y, int64_t ldy,
                               int accumulate) {
    switch (rows) {
    case 1: matvec_4bit_avx512_rows(packed, blocksize, code, absmax, in, first, end, x, 1, y, ldy, accumulate); break;
    case 2: matvec_4bit_avx512_rows(packed, blocksize, code, absmax, in, first, end, x, 2, y, ldy, accumulate); break;
    case 3: matvec_4bit_avx512_rows(packed, blocksize, code, absmax, in, first, end, x, 3, y, ldy, accumulate); break;
    case 4: matvec_4bit_avx512_rows(packed, blocksize, code, absmax, in, first, end, x, 4, y, ldy, accumulate); break;
    case 5: matvec_4bit_avx512_rows(packed, blocksize, code, absmax, in, first, end, x, 5, y, ldy, accumulate); break;
    case 6: matvec_4bit_avx512_rows(packed, blocksize, code, absmax, in, first, end, x, 6, y, ldy, accumulate); break;
    case 7: matvec_4bit_avx512_rows(packed, blocksize, code, absmax, in, first, end, x, 7, y, ldy, accumulate); break;
    case 8: matvec_4bit_avx512_rows(packed, blocksize, code, absmax, in, first, end, x, 8, y, ldy, accumulate); break;
    default: break;
    }
}

// Sixteen bf16 weights widen to f32 by a 16-bit shift (bf16 is f32's top half).
TK_AVX512 __attribute__((always_inline))
static inline void matvec_bf16_avx512_rows(const uint16_t *w, int64_t ldw, int64_t in, int64_t first, int64_t end, const float *x,
                               int64_t rows, float *y, int64_t ldy, int accumulate) {
    for (int64_t o = first; o < end; o++) {
        __m512 acc[TK_DECODE_MAX_ROWS];
        for (int64_t r = 0; r < rows; r++) acc[r] = _mm512_setzero_ps();
        const uint16_t *row = w + o * ldw;
        int64_t i = 0;
        for (; i + 16 <= in; i += 16) {
            __m512i wide = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(row + i)));
            __m512 v = _mm512_castsi512_ps(_mm512_slli_epi32(wide, 16));
            for (int64_t r = 0; r < rows; r++) acc[r] = _mm512_fmadd_ps(v, _mm512_loadu_ps(x + r * in + i), acc[r]);
        }
        float sums[TK_DECODE_MAX_ROWS] = {0};
        for (; i < in; i++) {
            float v = bf16_to_f32(row[i]);
            for (int64_t r = 0; r < rows; r++) sums[r] += v * x[r * in + i];
        }
        for (int64_t r = 0; r < rows; r++) {
            float s = sums[r] + _mm512_reduce_add_ps(acc[r]);
            y[r * ldy + o] = accumulate ? y[r * ldy + o] + s : s;
        }
    }
}

TK_AVX512
static void matvec_bf16_avx512(const uint16_t *w, int64_t ldw, int64_t in, int64_t first, int64_t end, const float *x,
                               int64_t rows, float *y, int64_t ldy, int accumulate) {
    switch (rows) {
    case 1: matvec_bf16_avx512_rows(w, ldw, in, first, end, x, 1, y, ldy, accumulate); break;
    case 2: matvec_bf16_avx512_rows(w, ldw, in, first, end, x, 2, y, ldy, accumulate); break;
    case 3: matvec_bf16_avx512_rows(w, ldw, in, first, end, x, 3, y, ldy, accumulate); break;
    case 4: matvec_bf16_avx512_rows(w, ldw, in, first, end, x, 4, y, ldy, accumulate); break;
    case 5: matvec_bf16_avx512_rows(w, ldw, in, first, end, x, 5, y, ldy, accumulate); break;
    case 6: matvec_bf16_avx512_rows(w, ldw, in, first, end, x, 6, y, ldy, accumulate); break;
    case 7: matvec_bf16_avx512_rows(w, ldw, in, first, end, x, 7, y, ldy, accumulate); break;
    case 8: matvec_bf16_avx512_rows(w, ldw, in, first, end, x, 8, y, ldy, accumulate); break;
    default: break;
    }
}
TK_AVX2 __attribute__((always_inline))
static inline void matvec_f32_avx2_rows(const float *w, int64_t ldw, int64_t in, int64_t first, int64_t end, const float *x,
                            int64_t rows, float *y, int64_t ldy, int accumulate) {
    for (int64_t o = first; o < end; o++) {
        __m256 acc[TK_DECODE_MAX_ROWS];
        for (int64_t r = 0; r < rows; r++) acc[r] = _mm256_setzero_ps();
        const float *row = w + o * ldw;
        int64_t i = 0;
        for (; i + 8 <= in; i += 8) {
            __m256 v = _mm256_loadu_ps(row + i);
            for (int64_t r = 0; r < rows; r++) acc[r] = _mm256_fmadd_ps(v, _mm256_loadu_ps(x + r * in + i), acc[r]);
        }
        float sums[TK_DECODE_MAX_ROWS] = {0};
        for (; i < in; i++) {
            for (int64_t r = 0; r < rows; r++) sums[r] += row[i] * x[r * in + i];
        }
        for (int64_t r = 0; r < rows; r++) {
            __m128 half = _mm_add_ps(_mm256_castps256_ps128(acc[r]), _mm256_extractf128_ps(acc[r], 1));
            half = _mm_add_ps(half, _mm_movehl_ps(half, half));
            half = _mm_add_ss(half, _mm_movehdup_ps(half));
            float s = sums[r] + _mm_cvtss_f32(half);
            y[r * ldy + o] = accumulate ? y[r * ldy + o] + s : s;
        }
    }
}

TK_AVX2
static void matvec_f32_avx2(const float *w, int64_t ldw, int64_t in, int64_t first, int64_t end, const float *x,
                            int64_t rows, float *y, int64_t ldy, int accumulate) {
    switch (rows) {
    case 1: matvec_f32_avx2_rows(w, ldw, in, first, end, x, 1, y, ldy, accumulate); break;
    case 2: matvec_f32_avx2_rows(w, ldw, in, first, end, x, 2, y, ldy, accumulate); break;
    case 3: matvec_f32_avx2_rows(w, ldw, in, first, end, x, 3, y, ldy, accumulate); break;
    case 4: matvec_f32_avx2_rows(w, ldw, in, first, end, x, 4, y, ldy, accumulate); break;
    case 5: matvec_f32_avx2_rows(w, ldw, in, first, end, x, 5, y, ldy, accumulate); break;
    case 6: matvec_f32_avx2_rows(w, ldw, in, first, end, x, 6, y, ldy, accumulate); break;
    case 7: matvec_f32_avx2_rows(w, ldw, in, first, end, x, 7, y, ldy, accumulate); break;
    case 8: matvec_f32_avx2_rows(w, ldw, in, first, end, x, 8, y, ldy, accumulate); break;
    default: break;
    }
}

TK_AVX512 __attribute__((always_inline))
static inline void matvec_f32_avx512_rows(const float *w, int64_t ldw, int64_t in, int64_t first, int64_t end, const float *x,
                              int64_t rows, float *y, int64_t ldy, int accumulate) {
    for (int64_t o = first; o < end; o++) {
        __m512 acc[TK_DECODE_MAX_ROWS];
        for (int64_t r = 0; r < rows; r++) acc[r] = _mm512_setzero_ps();
        const float *row = w + o * ldw;
        int64_t i = 0;
        for (; i + 16 <= in; i += 16) {
            __m512 v = _mm512_loadu_ps(row + i);
            for (int64_t r = 0; r < rows; r++) acc[r] = _mm512_fmadd_ps(v, _mm512_loadu_ps(x + r * in + i), acc[r]);
        }
        float sums[TK_DECODE_MAX_ROWS] = {0};
        for (; i < in; i++) {
            for (int64_t r = 0; r < rows; r++) sums[r] += row[i] * x[r * in + i];
        }
        for (int64_t r = 0; r < rows; r++) {
            float s = sums[r] + _mm512_reduce_add_ps(acc[r]);
            y[r * ldy + o] = accumulate ? y[r * ldy + o] + s : s;
        }
    }
}

TK_AVX512
static void matvec_f32_avx512(const float *w, int64_t ldw, int64_t in, int64_t first, int64_t end, const float *x,
                              int64_t rows, float *y, int64_t ldy, int accumulate) {
    switch (rows) {
    case 1: matvec_f32_avx512_rows(w, ldw, in, first, end, x, 1, y, ldy, accumulate); break;
    case 2: matvec_f32_avx512_rows(w, ldw, in, first, end, x, 2, y, ldy, accumulate); break;
    case 3: matvec_f32_avx512_rows(w, ldw, in, first, end, x, 3, y, ldy, accumulate); break;
    case 4: matvec_f32_avx512_rows(w, ldw, in, first, end, x, 4, y, ldy, accumulate); break;
    case 5: matvec_f32_avx512_rows(w, ldw, in, first, end, x, 5, y, ldy, accumulate); break;
    case 6: matvec_f32_avx512_rows(w, ldw, in, first, end, x, 6, y, ldy, accumulate); break;
    case 7: matvec_f32_avx512_rows(w, ldw, in, first, end, x, 7, y, ldy, accumulate); break;
    case 8: matvec_f32_avx512_rows(w, ldw, in, first, end, x, 8, y, ldy, accumulate); break;
    default: break;
    }
}
#endif

void tk_matvec_4bit(const uint8_t *packed, int64_t blocksize, const float *code, const float *absmax, int64_t in,
                    int64_t first, int64_t end, const float *x, int64_t rows, float *y, int64_t ldy, int accumulate) {
#ifdef TK_HAVE_AVX512
    int isa = blocksize % 16 == 0 ? tk_decode_isa() : 0;
    if (isa == 2) {
        matvec_4bit_avx512(packed, blocksize, code, absmax, in, first, end, x, rows, y, ldy, accumulate);
        return;
    }
    if (isa == 1) {
        matvec_4bit_avx2(packed, blocksize, code, absmax, in, first, end, x, rows, y, ldy, accumulate);
        return;
    }
#endif
    matvec_4bit_portable(packed, blocksize, code, absmax, in, first, end, x, rows, y, ldy, accumulate);
}

void tk_matvec_bf16(const uint16_t *w, int64_t ldw, int64_t in, int64_t first, int64_t end, const float *x, int64_t rows,
                    float *y, int64_t ldy, int accumulate) {
#ifdef TK_HAVE_AVX512
    int isa = tk_decode_isa();
    if (isa == 2) {
        matvec_bf16_avx512(w, ldw, in, first, end, x, rows, y, ldy, accumulate);
        return;
    }
    if (isa == 1) {
        matvec_bf16_avx2(w, ldw, in, first, end, x, rows, y, ldy, accumulate);
        return;
    }
#endif
    matvec_bf16_portable(w, ldw, in, first, end, x, rows, y, ldy, accumulate);
}

void tk_matvec_f32(const float *w, int64_t ldw, int64_t in, int64_t first, int64_t end, const float *x, int64_t rows,
                   float *y, int64_t ldy, int accumulate) {
#ifdef TK_HAVE_AVX512
    int isa = tk_decode_isa();
    if (isa == 2) {
        matvec_f32_avx512(w, ldw, in, first, end, x, rows, y, ldy, accumulate);
        return;
    }
    if (isa == 1) {
        matvec_f32_avx2(w, ldw, in, first, end, x, rows, y, ldy, accumulate);
        return;
    }
#endif
    matvec_f32_portable(w, ldw, in, first, end, x, rows, y, ldy, accumulate);
}
