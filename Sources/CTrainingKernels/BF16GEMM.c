#include "BF16GEMM.h"

#include <string.h>

#if defined(__x86_64__) && defined(__clang__)
#include <immintrin.h>
#define TK_HAVE_BF16_X86 1
#define TK_BF16_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16"), always_inline))
#endif

// bf16 GEMM for prefill and training in bf16 compute mode: C = A·Bᵀ with A the activations
// [m, k] and B a Linear weight [n, k], both rounded to bf16, products accumulated in f32. B is
// packed in panels of 32 output columns whose inputs come in pairs: one 64-byte load feeds one
// `vdpbf16ps` for 16 columns, each lane adding a0·b0 + a1·b1 for its column; the row's pair of A
// is one 32-bit broadcast. Six rows × 32 columns of C stay in twelve registers over all of k.

static inline uint16_t to_bf16(float value) {
    uint32_t bits;
    memcpy(&bits, &value, sizeof bits);
    if ((bits & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((bits | 0x00400000u) >> 16);
    return (uint16_t)((bits + 0x7fffu + ((bits >> 16) & 1u)) >> 16);
}

static inline float from_bf16(uint16_t half) {
    uint32_t bits = (uint32_t)half << 16;
    float value;
    memcpy(&value, &bits, sizeof value);
    return value;
}

int64_t tk_bf16_panel_length(int64_t k) { return (int64_t)TK_BF16_PANEL_COLUMNS * (k + (k & 1)); }

void tk_bf16_pack_rows(const float *a, int64_t lda, int64_t m, int64_t k, uint16_t *packed) {
    int64_t even = k + (k & 1);
    for (int64_t r = 0; r < m; r++) {
        for (int64_t i = 0; i < k; i++) packed[r * even + i] = to_bf16(a[r * lda + i]);
        if (k & 1) packed[r * even + k] = 0;
    }
}

void tk_bf16_pack_panel(const float *b, int64_t ldb, int64_t columns, int64_t k, uint16_t *panel) {
    int64_t pairs = (k + 1) / 2;
    for (int64_t p = 0; p < pairs; p++) {
        uint16_t *out = panel + p * 2 * TK_BF16_PANEL_COLUMNS;
        for (int64_t j = 0; j < TK_BF16_PANEL_COLUMNS; j++) {
            int present = j < columns;
            out[2 * j] = present ? to_bf16(b[j * ldb + 2 * p]) : 0;
            out[2 * j + 1] = present && 2 * p + 1 < k ? to_bf16(b[j * ldb + 2 * p + 1]) : 0;
        }
    }
}

static void gemm_panel_portable(const uint16_t *a, int64_t m, int64_t k, const uint16_t *panel, int64_t columns, float *c,
                                int64_t ldc, int accumulate) {
    int64_t even = k + (k & 1), pairs = even / 2;
    for (int64_t r = 0; r < m; r++) {
        for (int64_t j = 0; j < columns; j++) {
            float sum = 0;
            for (int64_t p = 0; p < pairs; p++) {
                const uint16_t *b = panel + p * 2 * TK_BF16_PANEL_COLUMNS + 2 * j;
                sum += from_bf16(a[r * even + 2 * p + 1]) * from_bf16(b[1]);
                sum += from_bf16(a[r * even + 2 * p]) * from_bf16(b[0]);
            }
            c[r * ldc + j] = accumulate ? c[r * ldc + j] + sum : sum;
        }
    }
}

#ifdef TK_HAVE_BF16_X86
TK_BF16_TARGET static inline void gemm_rows_avx512(const uint16_t *a, const int64_t rows, int64_t even, const uint16_t *panel,
                                                   int64_t columns, float *c, int64_t ldc, int accumulate) {
    __m512 acc[6][2];
    for (int64_t r = 0; r < rows; r++) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
    for (int64_t p = 0; p < even / 2; p++) {
        __m512bh b0 = (__m512bh)_mm512_loadu_si512(panel + p * 2 * TK_BF16_PANEL_COLUMNS);
        __m512bh b1 = (__m512bh)_mm512_loadu_si512(panel + p * 2 * TK_BF16_PANEL_COLUMNS + TK_BF16_PANEL_COLUMNS);
        for (int64_t r = 0; r < rows; r++) {
            int32_t pair;
            memcpy(&pair, a + r * even + 2 * p, sizeof pair);
            __m512bh av = (__m512bh)_mm512_set1_epi32(pair);
            acc[r][0] = _mm512_dpbf16_ps(acc[r][0], av, b0);
            acc[r][1] = _mm512_dpbf16_ps(acc[r][1], av, b1);
        }
    }
    __mmask16 low = columns >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << columns) - 1);
    __mmask16 high = columns >= 32 ? (__mmask16)0xffff : (columns <= 16 ? 0 : (__mmask16)((1u << (columns - 16)) - 1));
    for (int64_t r = 0; r < rows; r++) {
        float *row = c + r * ldc;
        if (accumulate) {
            acc[r][0] = _mm512_add_ps(acc[r][0], _mm512_maskz_loadu_ps(low, row));
            acc[r][1] = _mm512_add_ps(acc[r][1], _mm512_maskz_loadu_ps(high, row + 16));
        }
        _mm512_mask_storeu_ps(row, low, acc[r][0]);
        _mm512_mask_storeu_ps(row + 16, high, acc[r][1]);
    }
}

__attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))
static void gemm_panel_avx512(const uint16_t *a, int64_t m, int64_t k, const uint16_t *panel, int64_t columns, float *c, int64_t ldc,
                              int accumulate) {
    int64_t even = k + (k & 1);
    for (int64_t r0 = 0; r0 < m; r0 += 6) {
        const uint16_t *rows_a = a + r0 * even;
        float *rows_c = c + r0 * ldc;
        switch (m - r0 < 6 ? m - r0 : 6) {
        case 1: gemm_rows_avx512(rows_a, 1, even, panel, columns, rows_c, ldc, accumulate); break;
        case 2: gemm_rows_avx512(rows_a, 2, even, panel, columns, rows_c, ldc, accumulate); break;
        case 3: gemm_rows_avx512(rows_a, 3, even, panel, columns, rows_c, ldc, accumulate); break;
        case 4: gemm_rows_avx512(rows_a, 4, even, panel, columns, rows_c, ldc, accumulate); break;
        case 5: gemm_rows_avx512(rows_a, 5, even, panel, columns, rows_c, ldc, accumulate); break;
        default: gemm_rows_avx512(rows_a, 6, even, panel, columns, rows_c, ldc, accumulate); break;
        }
    }
}

int tk_bf16_gemm_available(void) {
    static int available = -1;
    int known = __atomic_load_n(&available, __ATOMIC_RELAXED);
    if (known < 0) {
        __builtin_cpu_init();
        known = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl")
                && __builtin_cpu_supports("avx512bf16");
        __atomic_store_n(&available, known, __ATOMIC_RELAXED);
    }
    return known;
}
#else
int tk_bf16_gemm_available(void) { return 0; }
#endif

void tk_bf16_gemm_panel(const uint16_t *a, int64_t m, int64_t k, const uint16_t *panel, int64_t columns, float *c, int64_t ldc,
                        int accumulate, int fast) {
#ifdef TK_HAVE_BF16_X86
    if (fast && tk_bf16_gemm_available()) {
        gemm_panel_avx512(a, m, k, panel, columns, c, ldc, accumulate);
        return;
    }
#endif
    gemm_panel_portable(a, m, k, panel, columns, c, ldc, accumulate);
}
