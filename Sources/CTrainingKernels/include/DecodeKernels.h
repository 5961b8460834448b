// Matrix-vector products for decoding: a few input rows (one per sequence being decoded) against a
// weight read straight from its stored form, 4-bit packed or bf16, never widened to f32 in memory.
// Each call covers output features [first, end); callers split that range across threads.
#ifndef TAILOR_DECODE_KERNELS_H
#define TAILOR_DECODE_KERNELS_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// The most input rows one call takes (one accumulator register per row).
#define TK_DECODE_MAX_ROWS 8

/// y[r·ldy + o] (+)= Σ_i w[o, i] · x[r·in + i] for o in [first, end), r < rows ≤ TK_DECODE_MAX_ROWS, where
/// w is a bitsandbytes 4-bit weight [out, in] flattened row-major: element g = o·in + i is nibble g of
/// `packed` (high nibble first), worth code[nibble] · absmax[g / blocksize]. blocksize is a multiple of 16.
/// accumulate = 0 writes y, 1 adds to it (a bias already there).
void tk_matvec_4bit(const uint8_t *packed, int64_t blocksize, const float *code, const float *absmax, int64_t in,
                    int64_t first, int64_t end, const float *x, int64_t rows, float *y, int64_t ldy, int accumulate);

/// The instruction set the products use: 2 AVX-512, 1 AVX2 + FMA, 0 portable C.
int tk_decode_isa(void);
/// Uses at most `level` on the calling thread (tests run every path the CPU has); never more than
/// the CPU has.
void tk_decode_limit_isa(int level);

/// The same for a bf16 weight [out, in] (row-major, ldw elements per row).
void tk_matvec_bf16(const uint16_t *w, int64_t ldw, int64_t in, int64_t first, int64_t end, const float *x, int64_t rows,
                    float *y, int64_t ldy, int accumulate);

/// The same for an f32 weight [out, in] (a dense Linear, a tied f32 output head).
/// The same for an f16 weight (IEEE half).
void tk_matvec_f16(const uint16_t *w, int64_t ldw, int64_t in, int64_t first, int64_t end, const float *x, int64_t rows,
                   float *y, int64_t ldy, int accumulate);
/// f16 values widened to f32, exactly.
void tk_widen_f16(const uint16_t *h, float *out, int64_t n);
void tk_matvec_f32(const float *w, int64_t ldw, int64_t in, int64_t first, int64_t end, const float *x, int64_t rows,
                   float *y, int64_t ldy, int accumulate);

#ifdef __cplusplus
}
#endif

#endif
