#ifndef TAILOR_BF16_GEMM_H
#define TAILOR_BF16_GEMM_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Output columns per packed panel of B.
#define TK_BF16_PANEL_COLUMNS 32

/// Whether this CPU has AVX512_BF16 (`vdpbf16ps`), the only path worth calling the GEMM on.
int tk_bf16_gemm_available(void);
/// uint16 values one panel of `k` inputs occupies.
int64_t tk_bf16_panel_length(int64_t k);
/// Rows of A (f32, `lda` apart) rounded to bf16, each padded to an even length `k + (k & 1)`.
void tk_bf16_pack_rows(const float *a, int64_t lda, int64_t m, int64_t k, uint16_t *packed);
/// Up to 32 rows of B (f32, `ldb` apart: output columns of C) rounded to bf16 and interleaved in
/// pairs of inputs, the layout `vdpbf16ps` reads; missing columns and the odd input are zero.
void tk_bf16_pack_panel(const float *b, int64_t ldb, int64_t columns, int64_t k, uint16_t *panel);
/// C[m, columns] = (or += with `accumulate`) A · Bᵀ over one panel, f32 accumulation: with
/// `vdpbf16ps` when `fast` and the CPU has it, else the same arithmetic in portable C (each pair's
/// products added one after the other, the odd input first, as the instruction does).
void tk_bf16_gemm_panel(const uint16_t *a, int64_t m, int64_t k, const uint16_t *panel, int64_t columns, float *c, int64_t ldc,
                        int accumulate, int fast);

#ifdef __cplusplus
}
#endif

#endif
