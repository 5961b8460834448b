#include "QuantizationKernels.h"

#include <math.h>
#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define TAILOR_HAVE_AVX512 1
#endif

static const float kMinimumAbsmax = 1e-38f;

// Code index of one scaled value: how many midpoints lie strictly below it.
static inline uint8_t code_of(float scaled, const float *midpoints, const uint8_t *order) {
    int index = 0;
    for (int k = 0; k < 15; k++) index += midpoints[k] < scaled;
    return order[index];
}

static inline float clamp_unit(float v) {
    return v < -1.0f ? -1.0f : (v > 1.0f ? 1.0f : v);
}

// Portable path: one block at a time. Returns 1 when the block holds a non-finite value.
static int quantize_block_portable(const float *x, int64_t count, int is_full, const float *midpoints,
                                   const uint8_t *order, uint8_t *codes, float *absmax_out) {
    float amax = 0.0f;
    int bad = 0;
    for (int64_t i = 0; i < count; i++) {
        float a = fabsf(x[i]);
        bad |= !(a <= 3.40282347e38f);
        amax = a > amax ? a : amax;
    }
    *absmax_out = amax;
    float denominator = amax > kMinimumAbsmax ? amax : kMinimumAbsmax;
    float scale = 1.0f / denominator;
    for (int64_t i = 0; i < count; i++) {
        float scaled = is_full ? x[i] * scale : x[i] / denominator;
        codes[i] = code_of(clamp_unit(scaled), midpoints, order);
    }
    return bad;
}

#ifdef TAILOR_HAVE_AVX512
#define TAILOR_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx2,fma")))

// AVX-512 path for a full block (count a multiple of 16): absmax with a vector max, then each
// 16 values compared against the 15 midpoints with masked increments.
TAILOR_AVX512
static int quantize_block_avx512(const float *x, int64_t count, const float *midpoints,
                                 const uint8_t *order, uint8_t *codes, float *absmax_out) {
    __m512 vmax = _mm512_setzero_ps();
    __mmask16 bad = 0;
    const __m512 largest = _mm512_set1_ps(3.40282347e38f);
    for (int64_t i = 0; i < count; i += 16) {
        __m512 a = _mm512_abs_ps(_mm512_loadu_ps(x + i));
        bad |= _mm512_cmp_ps_mask(a, largest, _CMP_NLE_UQ);  // NaN or > FLT_MAX
        vmax = _mm512_max_ps(vmax, a);
    }
    float amax = _mm512_reduce_max_ps(vmax);
    *absmax_out = amax;
    float denominator = amax > kMinimumAbsmax ? amax : kMinimumAbsmax;
    const __m512 scale = _mm512_set1_ps(1.0f / denominator);
    const __m512 lo = _mm512_set1_ps(-1.0f), hi = _mm512_set1_ps(1.0f);
    __m512 mids[15];
    for (int k = 0; k < 15; k++) mids[k] = _mm512_set1_ps(midpoints[k]);
    const __m128i table = _mm_loadu_si128((const __m128i *)order);
    for (int64_t i = 0; i < count; i += 16) {
        __m512 s = _mm512_min_ps(_mm512_max_ps(_mm512_mul_ps(_mm512_loadu_ps(x + i), scale), lo), hi);
        __m512i index = _mm512_setzero_si512();
        const __m512i one = _mm512_set1_epi32(1);
        for (int k = 0; k < 15; k++) {
            __mmask16 below = _mm512_cmp_ps_mask(mids[k], s, _CMP_LT_OQ);
            index = _mm512_mask_add_epi32(index, below, index, one);
        }
        __m128i bytes = _mm512_cvtepi32_epi8(index);
        bytes = _mm_shuffle_epi8(table, bytes);  // sorted position -> code index
        _mm_storeu_si128((__m128i *)(codes + i), bytes);
    }
    return bad != 0;
}

static int have_avx512(void) {
    static int cached = -1;
    if (cached < 0) {
        __builtin_cpu_init();
        cached = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw")
              && __builtin_cpu_supports("avx512vl");
    }
    return cached;
}
#endif

int64_t tailor_quantize_4bit(const float *input, int64_t n, int64_t blocksize,
                             const float *midpoints, const uint8_t *order,
                             uint8_t *packed, float *absmax,
                             int64_t first_block, int64_t end_block) {
    uint8_t codes[4096 + 2];
    int64_t bad_blocks = 0;
    const uint8_t zero_code = code_of(0.0f, midpoints, order);
    for (int64_t b = first_block; b < end_block; b++) {
        int64_t start = b * blocksize;
        int64_t count = n - start < blocksize ? n - start : blocksize;
        int is_full = count == blocksize;
        int bad;
#ifdef TAILOR_HAVE_AVX512
        if (is_full && blocksize % 16 == 0 && have_avx512()) {
            bad = quantize_block_avx512(input + start, count, midpoints, order, codes, absmax + b);
        } else
#endif
        {
            bad = quantize_block_portable(input + start, count, is_full, midpoints, order, codes, absmax + b);
        }
        bad_blocks += bad;
        if (count & 1) codes[count] = zero_code;
        // Blocks hold an even number of elements except the last, so each block owns its bytes.
        uint8_t *out = packed + start / 2;
        int64_t pairs = (count + 1) / 2;
        for (int64_t p = 0; p < pairs; p++) out[p] = (uint8_t)(codes[2 * p] << 4 | codes[2 * p + 1]);
    }
    return bad_blocks;
}

int64_t tailor_block_absmax(const float *input, int64_t n, int64_t blocksize, float *absmax,
                            int64_t first_block, int64_t end_block) {
    int64_t bad_blocks = 0;
    for (int64_t b = first_block; b < end_block; b++) {
        int64_t start = b * blocksize;
        int64_t count = n - start < blocksize ? n - start : blocksize;
        float amax = 0.0f;
        int bad = 0;
        for (int64_t i = 0; i < count; i++) {
            float a = fabsf(input[start + i]);
            bad |= !(a <= 3.40282347e38f);
            amax = a > amax ? a : amax;
        }
        absmax[b] = amax;
        bad_blocks += bad;
    }
    return bad_blocks;
}

void tailor_nested_quantize(const float *absmax, int64_t n, float offset, int64_t blocksize,
                            const double *midpoints, const uint8_t *ranges, float *nested_absmax, uint8_t *codes) {
    for (int64_t start = 0, j = 0; start < n; start += blocksize, j++) {
        int64_t end = start + blocksize < n ? start + blocksize : n;
        float scale = 0.0f;
        for (int64_t i = start; i < end; i++) {
            float a = fabsf(absmax[i] - offset);
            scale = a > scale ? a : scale;
        }
        nested_absmax[j] = scale;
        for (int64_t i = start; i < end; i++) {
            float v = scale > 0.0f ? (absmax[i] - offset) / scale : 0.0f;
            uint32_t bits;
            memcpy(&bits, &v, sizeof bits);
            const uint8_t *range = ranges + 2 * (bits >> 16);
            int count = range[0];
            double value = (double)v;
            while (count < range[1] && midpoints[count] < value) count++;
            codes[i] = (uint8_t)count;
        }
    }
}

static void dequantize_portable(const uint8_t *packed, int64_t blocksize, const float *code,
                                const float *absmax, float *out, int64_t first, int64_t end) {
    for (int64_t i = first; i < end; i++) {
        uint8_t byte = packed[i >> 1];
        uint8_t nibble = (i & 1) ? (byte & 0x0f) : (byte >> 4);
        out[i - first] = code[nibble] * absmax[i / blocksize];
    }
}

#ifdef TAILOR_HAVE_AVX512
// 16 values per step: 8 bytes -> 16 nibbles (high first) -> codebook lookup by permute.
TAILOR_AVX512
static void dequantize_avx512(const uint8_t *packed, int64_t blocksize, const float *code,
                              const float *absmax, float *out, int64_t first, int64_t end) {
    const __m512 table = _mm512_loadu_ps(code);
    int64_t i = first;
    // Head up to a multiple of 16 elements and to the next block start within one vector.
    while (i < end && (i & 15)) {
        uint8_t byte = packed[i >> 1];
        out[i - first] = code[(i & 1) ? (byte & 0x0f) : (byte >> 4)] * absmax[i / blocksize];
        i++;
    }
    const __m512i shifts = _mm512_set_epi32(0, 4, 0, 4, 0, 4, 0, 4, 0, 4, 0, 4, 0, 4, 0, 4);
    const __m512i low4 = _mm512_set1_epi32(0x0f);
    for (; i + 16 <= end; i += 16) {
        __m128i bytes8 = _mm_loadl_epi64((const __m128i *)(packed + (i >> 1)));
        // Each byte duplicated into two lanes: lane 2k high nibble, lane 2k+1 low nibble.
        __m512i wide = _mm512_cvtepu8_epi32(_mm_unpacklo_epi8(bytes8, bytes8));
        __m512i nibbles = _mm512_and_si512(_mm512_srlv_epi32(wide, shifts), low4);
        __m512 values = _mm512_permutexvar_ps(nibbles, table);
        __m512 scales;
        int64_t block = i / blocksize;
        if ((i + 15) / blocksize == block) {
            scales = _mm512_set1_ps(absmax[block]);
        } else {
            float s[16];
            for (int k = 0; k < 16; k++) s[k] = absmax[(i + k) / blocksize];
            scales = _mm512_loadu_ps(s);
        }
        _mm512_storeu_ps(out + (i - first), _mm512_mul_ps(values, scales));
    }
    dequantize_portable(packed, blocksize, code, absmax, out + (i - first), i, end);
}
#endif

void tailor_dequantize_4bit(const uint8_t *packed, int64_t blocksize, const float *code,
                            const float *absmax, float *out, int64_t first, int64_t end) {
#ifdef TAILOR_HAVE_AVX512
    if (have_avx512()) {
        dequantize_avx512(packed, blocksize, code, absmax, out, first, end);
        return;
    }
#endif
    dequantize_portable(packed, blocksize, code, absmax, out, first, end);
}
