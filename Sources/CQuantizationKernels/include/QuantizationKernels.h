// Hot loops of the Quantization module: 4-bit blockwise quantization and dequantization in the
// bitsandbytes layout. Plain C so the compiler vectorises them; an AVX-512 variant is chosen at
// run time when the CPU has it (no special build flags, so the package stays usable as a
// dependency). Callers split work by whole blocks / element ranges across threads.
#ifndef TAILOR_QUANTIZATION_KERNELS_H
#define TAILOR_QUANTIZATION_KERNELS_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Quantizes blocks [first_block, end_block) of `input` (n floats, flattened row-major) to 4-bit
/// codes, bitsandbytes' way: per block absmax = max|x|; a full block is scaled by
/// x * (1 / max(absmax, 1e-38)), the last partial block by x / max(absmax, 1e-38); clamped to
/// [-1, 1]; the code is order[number of midpoints strictly below the scaled value] (a value on a
/// midpoint takes the lower code). Two codes per byte, even element in the high nibble; an odd
/// final element is paired with the code of 0.
/// - midpoints: 15 sorted midpoints between the sorted codebook values.
/// - order: sorted position -> code index (the identity for NF4).
/// - packed: (n + 1) / 2 bytes; absmax: one float per block.
/// Returns the number of blocks that held a NaN or an infinity (their codes are meaningless).
int64_t tailor_quantize_4bit(const float *input, int64_t n, int64_t blocksize,
                             const float *midpoints, const uint8_t *order,
                             uint8_t *packed, float *absmax,
                             int64_t first_block, int64_t end_block);

/// Writes max|x| of blocks [first_block, end_block) into absmax (the statistic alone, for
/// planning a file before quantizing). Returns the number of blocks holding NaN or infinity.
int64_t tailor_block_absmax(const float *input, int64_t n, int64_t blocksize, float *absmax,
                            int64_t first_block, int64_t end_block);

/// Double quantization of absmax statistics: for each nested block of `blocksize` values,
/// nested_absmax[j] = max |absmax[i] - offset| and codes[i] = the number of `midpoints` (255
/// sorted midpoints between the 256 map values, exact in f64) strictly below
/// (absmax[i] - offset) / nested_absmax[j], computed in f32 — the nearest map code, ties to the
/// lower. A nested block whose values all equal the offset codes 0.0 (its scale is 0).
/// `ranges` (2 × 65,536 bytes) holds, for each value of an f32's top 16 bits, the counts of
/// midpoints below the smallest and the largest f32 with those bits, so only the one or two
/// midpoints in between are compared: exact, unlike a plain lookup table.
void tailor_nested_quantize(const float *absmax, int64_t n, float offset, int64_t blocksize,
                            const double *midpoints, const uint8_t *ranges, float *nested_absmax, uint8_t *codes);

/// Dequantizes elements [first, end) (first even): out[i - first] = code[nibble i] * absmax[i / blocksize].
void tailor_dequantize_4bit(const uint8_t *packed, int64_t blocksize, const float *code,
                            const float *absmax, float *out, int64_t first, int64_t end);

#ifdef __cplusplus
}
#endif

#endif
