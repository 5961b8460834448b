// Hot element-wise and row-wise loops of the training core, in C so the compiler vectorises them
// (exp, erf and tanh are written as branch-free polynomials for that reason; libm calls are not
// vectorised). Each function is compiled for AVX-512, AVX2 and the baseline, picked at load time.
// Row functions work on `rows` rows of `cols` contiguous floats; callers split rows across threads.
#ifndef TAILOR_TRAINING_KERNELS_H
#define TAILOR_TRAINING_KERNELS_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// y = x · Φ(x) = 0.5 x (1 + erf(x / √2)), the exact GELU of BERT and torch.
void tk_gelu_forward(const float *x, float *y, int64_t n);
/// dx += dy · (Φ(x) + x φ(x)).
/// accumulate = 0: dx is written, not added to (a fresh gradient buffer).
void tk_gelu_backward(const float *x, const float *y, const float *dy, float *dx, int64_t n, int accumulate);
/// GELU's tanh approximation (transformers' gelu_new, GPT-2's and T5's gated-gelu).
void tk_gelu_tanh_forward(const float *x, float *y, int64_t n);
void tk_gelu_tanh_backward(const float *x, const float *dy, float *dx, int64_t n, int accumulate);

/// y = tanh(x).
void tk_tanh_forward(const float *x, float *y, int64_t n);
/// dx += dy · (1 − y²), from the forward output y.
void tk_tanh_backward(const float *y, const float *dy, float *dx, int64_t n);

/// out = silu(gate) · up, silu(g) = g · σ(g) (Llama's SwiGLU).
void tk_silu_mul_forward(const float *gate, const float *up, float *out, int64_t n);
/// dgate += dout · up · σ(g)(1 + g(1 − σ(g))); dup += dout · silu(g).
void tk_silu_mul_backward(const float *gate, const float *up, const float *dout, float *dgate, float *dup, int64_t n);

/// Row-wise softmax in place. Entries equal to -INFINITY get probability 0; a row of only
/// -INFINITY becomes uniform (as torch does after adding finfo.min to every masked score).
void tk_softmax_rows(float *x, int64_t rows, int64_t cols);

/// Softmax backward in place: dp = p ⊙ (dp − rowsum(dp ⊙ p)) · scale.
void tk_softmax_backward_rows(const float *p, float *dp, int64_t rows, int64_t cols, float scale);

/// LayerNorm over the last dimension: y = (x − mean) · rstd · w + b, saving mean and rstd.
void tk_layernorm_forward(const float *x, const float *w, const float *b, float *y, float *mean, float *rstd,
                          int64_t rows, int64_t cols, float eps);
/// dx += …; dw += Σ dy·x̂ and db += Σ dy over these rows (dw/db may be NULL when frozen).
void tk_layernorm_backward(const float *dy, const float *x, const float *w, const float *mean, const float *rstd,
                           float *dx, float *dw, float *db, int64_t rows, int64_t cols, int accumulate);

/// RMSNorm (Llama): y = x · rstd · w with rstd = 1/√(mean(x²) + eps), saving rstd.
void tk_rmsnorm_forward(const float *x, const float *w, float *y, float *rstd, int64_t rows, int64_t cols, float eps);
/// dx += …; dw += Σ dy·x·rstd (dw may be NULL).
void tk_rmsnorm_backward(const float *dy, const float *x, const float *w, const float *rstd, float *dx, float *dw,
                         int64_t rows, int64_t cols);

/// Cross-entropy per row against `targets` (rows with target < 0 are ignored): writes each row's
/// loss (0 when ignored) and, when dlogits is not NULL, (softmax − onehot) · scale into dlogits.
void tk_cross_entropy(const float *logits, const int64_t *targets, float *losses, float *dlogits, float scale,
                      int64_t rows, int64_t cols);

/// Keeps large freed buffers in the heap for reuse (glibc's mmap and trim thresholds raised), so
/// per-step activations do not cost page faults and kernel zeroing. No-op elsewhere.
void tk_configure_allocator(void);

/// Adds to / reads the process-wide count of nanoseconds spent in GEMM calls (thread-safe), for
/// reports of how a step divides between GEMM and everything else.
void tk_gemm_time_add(uint64_t nanoseconds);
uint64_t tk_gemm_time_read(void);
void tk_dequantize_time_add(uint64_t nanoseconds);
uint64_t tk_dequantize_time_read(void);

/// One AdamW update of n parameters, as torch.optim.AdamW computes it: p ← p·decay; m ← m +
/// (1−β1)(g − m); v ← β2·v + (1−β2)·g²; p ← p − stepSize · m / (√v / bias2Root + eps).
void tk_adamw(float *p, const float *g, float *m, float *v, int64_t n, float decay, float beta1, float beta2,
              float stepSize, float bias2Root, float eps);

/// Inverted dropout with a counter-based mask: element i (of the whole tensor, offset `first`)
/// is kept when hash(seed, i) ≥ p·2³², so backward recomputes the mask instead of storing it.
/// Forward: y = keep ? x/(1−p) : 0. Backward (accumulate): dx += keep ? dy/(1−p) : 0.
void tk_dropout_forward(const float *x, float *y, int64_t n, int64_t first, uint64_t seed, float p);
void tk_dropout_backward(const float *dy, float *dx, int64_t n, int64_t first, uint64_t seed, float p, int accumulate);

/// x rounded to bf16 precision in place (round to nearest even), kept as f32.
void tk_round_bf16(float *x, int64_t n);
/// bf16 SwiGLU as transformers computes it in bfloat16: round(round(silu(gate)) · up).
void tk_silu_mul_forward_bf16(const float *gate, const float *up, float *y, int64_t n);
/// y += x (n floats).
void tk_add_inplace(float *y, const float *x, int64_t n);
/// y = a + b.
void tk_add(const float *a, const float *b, float *y, int64_t n);
/// Sums rows into out: out[c] += Σ_r x[r, c].
void tk_sum_rows(const float *x, float *out, int64_t rows, int64_t cols);

/// The processors this process may run on (its CPU affinity mask), or 0 where that is unknown.
int tk_allowed_processors(void);

#ifdef __cplusplus
}
#endif

#endif
