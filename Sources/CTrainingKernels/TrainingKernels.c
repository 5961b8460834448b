#include "TrainingKernels.h"

#include <math.h>
#include <stdint.h>
#include <string.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
#define TK_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define TK_CLONES
#endif

// exp(x) for x in [-88, 88]: x = n ln2 + r, |r| ≤ ln2/2, degree-6 polynomial, 2^n by bits.
// Relative error ≈ 2e-7; branch-free so loops over it vectorise.
static inline float fast_exp(float x) {
    x = x < -87.3f ? -87.3f : (x > 88.3f ? 88.3f : x);
    float n = __builtin_rintf(x * 1.44269504088896341f);
    float r = x - n * 0.693145751953125f - n * 1.428606765330187045e-06f;
    float p = 1.0f + r * (1.0f + r * (0.5f + r * (0.16666667163372039795f + r * (0.041666645556688308716f
              + r * (0.0083333337679505348206f + r * 0.0013887316454201936722f)))));
    int32_t bits = ((int32_t)n + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

// erf(x) = 1 − erfc(x) with Numerical Recipes' Chebyshev erfc (fractional error < 1.2e-7).
static inline float fast_erf(float x) {
    float z = fabsf(x);
    float t = 1.0f / (1.0f + 0.5f * z);
    float poly = -z * z - 1.26551223f + t * (1.00002368f + t * (0.37409196f + t * (0.09678418f + t * (-0.18628806f
                 + t * (0.27886807f + t * (-1.13520398f + t * (1.48851587f + t * (-0.82215223f + t * 0.17087277f))))))));
    float erfc = t * fast_exp(poly);
    float r = 1.0f - erfc;
    return x >= 0.0f ? r : -r;
}

static inline float fast_tanh(float x) {
    float c = x > 9.0f ? 9.0f : (x < -9.0f ? -9.0f : x);
    float e = fast_exp(2.0f * c);
    return (e - 1.0f) / (e + 1.0f);
}


// Reductions with 16 independent lanes: each lane is an ordinary loop-carried sum, so the compiler
// vectorises them without being allowed to reassociate floating point (no -ffast-math needed).
#define LANES 16

static inline float lane_sum(const float *x, int64_t n) {
    float acc[LANES] = {0};
    int64_t i = 0;
    for (; i + LANES <= n; i += LANES)
        for (int l = 0; l < LANES; l++) acc[l] += x[i + l];
    float total = 0.0f;
    for (int l = 0; l < LANES; l++) total += acc[l];
    for (; i < n; i++) total += x[i];
    return total;
}

static inline float lane_max(const float *x, int64_t n) {
    float acc[LANES];
    for (int l = 0; l < LANES; l++) acc[l] = -INFINITY;
    int64_t i = 0;
    for (; i + LANES <= n; i += LANES)
        for (int l = 0; l < LANES; l++) acc[l] = x[i + l] > acc[l] ? x[i + l] : acc[l];
    float best = -INFINITY;
    for (int l = 0; l < LANES; l++) best = acc[l] > best ? acc[l] : best;
    for (; i < n; i++) best = x[i] > best ? x[i] : best;
    return best;
}

// Σ (x − m)² and Σ a·b, lane-wise.
static inline float lane_centered_squares(const float *x, float m, int64_t n) {
    float acc[LANES] = {0};
    int64_t i = 0;
    for (; i + LANES <= n; i += LANES)
        for (int l = 0; l < LANES; l++) {
            float d = x[i + l] - m;
            acc[l] += d * d;
        }
    float total = 0.0f;
    for (int l = 0; l < LANES; l++) total += acc[l];
    for (; i < n; i++) total += (x[i] - m) * (x[i] - m);
    return total;
}

static inline float lane_dot(const float *a, const float *b, int64_t n) {
    float acc[LANES] = {0};
    int64_t i = 0;
    for (; i + LANES <= n; i += LANES)
        for (int l = 0; l < LANES; l++) acc[l] += a[i + l] * b[i + l];
    float total = 0.0f;
    for (int l = 0; l < LANES; l++) total += acc[l];
    for (; i < n; i++) total += a[i] * b[i];
    return total;
}

TK_CLONES
void tk_gelu_forward(const float *x, float *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] = 0.5f * x[i] * (1.0f + fast_erf(x[i] * 0.70710678118654752f));
}

TK_CLONES
void tk_gelu_backward(const float *x, const float *y, const float *dy, float *dx, int64_t n, int accumulate) {
    for (int64_t i = 0; i < n; i++) {
        float v = x[i];
        // Φ(x) = y / x from the forward output (y = x·Φ(x) to f32 rounding, so the quotient keeps
        // that precision) saves recomputing erf; at 0 and for denormals, where y underflows, Φ = ½.
        // Both sides are cheap, so the select still vectorises.
        float cdf = fabsf(v) > 1e-30f ? y[i] / v : 0.5f;
        float pdf = 0.39894228040143268f * fast_exp(-0.5f * v * v);
        float g = dy[i] * (cdf + v * pdf);
        dx[i] = accumulate ? dx[i] + g : g;
    }
}

TK_CLONES
void tk_gelu_tanh_forward(const float *x, float *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        float v = x[i];
        y[i] = 0.5f * v * (1.0f + fast_tanh(0.79788456080286536f * (v + 0.044715f * v * v * v)));
    }
}

TK_CLONES
void tk_gelu_tanh_backward(const float *x, const float *dy, float *dx, int64_t n, int accumulate) {
    for (int64_t i = 0; i < n; i++) {
        float v = x[i];
        float t = fast_tanh(0.79788456080286536f * (v + 0.044715f * v * v * v));
        // d/dx ½x(1 + t) = ½(1 + t) + ½x(1 − t²)·√(2/π)(1 + 3·0.044715·x²)
        float g = dy[i] * (0.5f * (1.0f + t) + 0.5f * v * (1.0f - t * t) * 0.79788456080286536f * (1.0f + 0.134145f * v * v));
        dx[i] = accumulate ? dx[i] + g : g;
    }
}

TK_CLONES
void tk_tanh_forward(const float *x, float *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] = fast_tanh(x[i]);
}

TK_CLONES
void tk_tanh_backward(const float *y, const float *dy, float *dx, int64_t n) {
    for (int64_t i = 0; i < n; i++) dx[i] += dy[i] * (1.0f - y[i] * y[i]);
}

TK_CLONES
void tk_silu_mul_forward(const float *gate, const float *up, float *out, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        float g = gate[i];
        out[i] = g / (1.0f + fast_exp(-g)) * up[i];
    }
}

TK_CLONES
void tk_silu_mul_backward(const float *gate, const float *up, const float *dout, float *dgate, float *dup, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        float g = gate[i];
        float s = 1.0f / (1.0f + fast_exp(-g));
        float silu = g * s;
        if (dgate) dgate[i] += dout[i] * up[i] * s * (1.0f + g * (1.0f - s));
        if (dup) dup[i] += dout[i] * silu;
    }
}

TK_CLONES
void tk_softmax_rows(float *x, int64_t rows, int64_t cols) {
    for (int64_t r = 0; r < rows; r++) {
        float *row = x + r * cols;
        float max = lane_max(row, cols);
        if (max == -INFINITY) {
            for (int64_t c = 0; c < cols; c++) row[c] = 1.0f / (float)cols;
            continue;
        }
        for (int64_t c = 0; c < cols; c++) row[c] = row[c] == -INFINITY ? 0.0f : fast_exp(row[c] - max);
        float inv = 1.0f / lane_sum(row, cols);
        for (int64_t c = 0; c < cols; c++) row[c] *= inv;
    }
}

TK_CLONES
void tk_softmax_backward_rows(const float *p, float *dp, int64_t rows, int64_t cols, float scale) {
    for (int64_t r = 0; r < rows; r++) {
        const float *pr = p + r * cols;
        float *dr = dp + r * cols;
        float dot = lane_dot(pr, dr, cols);
        for (int64_t c = 0; c < cols; c++) dr[c] = pr[c] * (dr[c] - dot) * scale;
    }
}

TK_CLONES
void tk_layernorm_forward(const float *x, const float *w, const float *b, float *y, float *mean, float *rstd,
                          int64_t rows, int64_t cols, float eps) {
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * cols;
        float *yr = y + r * cols;
        float m = lane_sum(xr, cols) / (float)cols;
        float var = lane_centered_squares(xr, m, cols);
        float s = 1.0f / sqrtf(var / (float)cols + eps);
        for (int64_t c = 0; c < cols; c++) yr[c] = (xr[c] - m) * s * w[c] + b[c];
        mean[r] = m;
        rstd[r] = s;
    }
}

TK_CLONES
void tk_layernorm_backward(const float *dy, const float *x, const float *w, const float *mean, const float *rstd,
                           float *dx, float *dw, float *db, int64_t rows, int64_t cols, int accumulate) {
    for (int64_t r = 0; r < rows; r++) {
        // restrict-qualified row pointers: without them the stores to dx might alias dy, x or w
        // and the loops stay scalar.
        const float *restrict dyr = dy + r * cols;
        const float *restrict xr = x + r * cols;
        const float *restrict wr = w;
        float m = mean[r], s = rstd[r];
        // Σ w·dy and Σ w·dy·norm with lane accumulators, so the reduction vectorises.
        float sum_acc[LANES] = {0}, norm_acc[LANES] = {0};
        int64_t c = 0;
        for (; c + LANES <= cols; c += LANES)
            for (int l = 0; l < LANES; l++) {
                float dnorm = wr[c + l] * dyr[c + l];
                sum_acc[l] += dnorm;
                norm_acc[l] += dnorm * ((xr[c + l] - m) * s);
            }
        float dnorm_mean = 0.0f, dnorm_norm_mean = 0.0f;
        for (int l = 0; l < LANES; l++) {
            dnorm_mean += sum_acc[l];
            dnorm_norm_mean += norm_acc[l];
        }
        for (; c < cols; c++) {
            float dnorm = wr[c] * dyr[c];
            dnorm_mean += dnorm;
            dnorm_norm_mean += dnorm * ((xr[c] - m) * s);
        }
        dnorm_mean /= (float)cols;
        dnorm_norm_mean /= (float)cols;
        if (dx) {
            float *restrict dxr = dx + r * cols;
            if (accumulate) {
                for (int64_t c = 0; c < cols; c++) dxr[c] += (wr[c] * dyr[c] - dnorm_mean - (xr[c] - m) * s * dnorm_norm_mean) * s;
            } else {
                for (int64_t c = 0; c < cols; c++) dxr[c] = (wr[c] * dyr[c] - dnorm_mean - (xr[c] - m) * s * dnorm_norm_mean) * s;
            }
        }
        if (dw) {
            float *restrict dwr = dw;
            for (int64_t c = 0; c < cols; c++) dwr[c] += dyr[c] * ((xr[c] - m) * s);
        }
        if (db) {
            float *restrict dbr = db;
            for (int64_t c = 0; c < cols; c++) dbr[c] += dyr[c];
        }
    }
}

TK_CLONES
void tk_rmsnorm_forward(const float *x, const float *w, float *y, float *rstd, int64_t rows, int64_t cols, float eps) {
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * cols;
        float s = 1.0f / sqrtf(lane_dot(xr, xr, cols) / (float)cols + eps);
        for (int64_t c = 0; c < cols; c++) y[r * cols + c] = w[c] * (xr[c] * s);
        rstd[r] = s;
    }
}

TK_CLONES
void tk_rmsnorm_backward(const float *dy, const float *x, const float *w, const float *rstd, float *dx, float *dw,
                         int64_t rows, int64_t cols) {
    for (int64_t r = 0; r < rows; r++) {
        const float *dyr = dy + r * cols;
        const float *xr = x + r * cols;
        float s = rstd[r];
        float dot = 0.0f;  // Σ dy·w·x
        for (int64_t c = 0; c < cols; c++) dot += dyr[c] * w[c] * xr[c];
        float k = dot * s * s * s / (float)cols;
        for (int64_t c = 0; c < cols; c++) {
            if (dx) dx[r * cols + c] += dyr[c] * w[c] * s - xr[c] * k;
            if (dw) dw[c] += dyr[c] * xr[c] * s;
        }
    }
}

TK_CLONES
void tk_cross_entropy(const float *logits, const int64_t *targets, float *losses, float *dlogits, float scale,
                      int64_t rows, int64_t cols) {
    for (int64_t r = 0; r < rows; r++) {
        const float *row = logits + r * cols;
        int64_t target = targets[r];
        if (target < 0 || target >= cols) {
            losses[r] = 0.0f;
            if (dlogits) memset(dlogits + r * cols, 0, sizeof(float) * (size_t)cols);
            continue;
        }
        float max = lane_max(row, cols);
        float sum = 0.0f;
        for (int64_t c = 0; c < cols; c++) sum += fast_exp(row[c] - max);
        float log_sum = logf(sum) + max;
        losses[r] = log_sum - row[target];
        if (dlogits) {
            float *d = dlogits + r * cols;
            float inv = 1.0f / sum;
            for (int64_t c = 0; c < cols; c++) d[c] = fast_exp(row[c] - max) * inv * scale;
            d[target] -= scale;
        }
    }
}

// Round to nearest even at bf16's 8-bit mantissa, as torch's f32 -> bf16 cast does; NaN stays NaN
// (quiet), infinities stay infinite, overflow rounds to infinity.
static inline float round_bf16(float x) {
    uint32_t bits;
    memcpy(&bits, &x, sizeof bits);
    uint32_t rounded = (bits & 0x7fffffffu) > 0x7f800000u ? (bits | 0x00400000u) & 0xffff0000u
                                                           : (bits + 0x7fffu + ((bits >> 16) & 1u)) & 0xffff0000u;
    memcpy(&x, &rounded, sizeof rounded);
    return x;
}

TK_CLONES
void tk_round_bf16(float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++) x[i] = round_bf16(x[i]);
}

void tk_silu_mul_forward_bf16(const float *gate, const float *up, float *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] = round_bf16(round_bf16(gate[i] / (1.0f + expf(-gate[i]))) * up[i]);
}

TK_CLONES
void tk_add_inplace(float *y, const float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] += x[i];
}

TK_CLONES
void tk_add(const float *a, const float *b, float *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] = a[i] + b[i];
}

TK_CLONES
void tk_sum_rows(const float *x, float *out, int64_t rows, int64_t cols) {
    for (int64_t r = 0; r < rows; r++) {
        const float *row = x + r * cols;
        for (int64_t c = 0; c < cols; c++) out[c] += row[c];
    }
}

void tk_configure_allocator(void) {
#if defined(__GLIBC__)
    // 32 MiB is the largest mmap threshold glibc accepts on 64-bit systems (a larger value is
    // refused and leaves the default); every per-step activation of MiniLM is below it.
    mallopt(M_MMAP_THRESHOLD, 32 * 1024 * 1024);
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
    mallopt(M_TOP_PAD, 64 * 1024 * 1024);
#endif
}

static uint64_t gemm_nanoseconds = 0;

void tk_gemm_time_add(uint64_t nanoseconds) { __atomic_fetch_add(&gemm_nanoseconds, nanoseconds, __ATOMIC_RELAXED); }

uint64_t tk_gemm_time_read(void) { return __atomic_load_n(&gemm_nanoseconds, __ATOMIC_RELAXED); }

static uint64_t dequantize_nanoseconds = 0;

void tk_dequantize_time_add(uint64_t nanoseconds) { __atomic_fetch_add(&dequantize_nanoseconds, nanoseconds, __ATOMIC_RELAXED); }

uint64_t tk_dequantize_time_read(void) { return __atomic_load_n(&dequantize_nanoseconds, __ATOMIC_RELAXED); }

TK_CLONES
void tk_adamw(float *p, const float *g, float *m, float *v, int64_t n, float decay, float beta1, float beta2,
              float stepSize, float bias2Root, float eps) {
    for (int64_t i = 0; i < n; i++) {
        float grad = g[i];
        float param = p[i] * decay;
        float moment = m[i] + (1.0f - beta1) * (grad - m[i]);
        float velocity = beta2 * v[i] + (1.0f - beta2) * grad * grad;
        m[i] = moment;
        v[i] = velocity;
        p[i] = param - stepSize * moment / (sqrtf(velocity) / bias2Root + eps);
    }
}

// A 32-bit mix of (seed, index) (from the "lowbias32" integer hash): cheap, vectorisable, and
// uniform enough for dropout masks.
static inline uint32_t dropout_hash(uint64_t seed, uint64_t index) {
    uint32_t x = (uint32_t)(index ^ (index >> 32)) * 0x9E3779B1u ^ (uint32_t)seed ^ (uint32_t)(seed >> 32);
    x ^= x >> 16;
    x *= 0x7feb352dU;
    x ^= x >> 15;
    x *= 0x846ca68bU;
    x ^= x >> 16;
    return x;
}

TK_CLONES
void tk_dropout_forward(const float *x, float *y, int64_t n, int64_t first, uint64_t seed, float p) {
    uint32_t threshold = (uint32_t)((double)p * 4294967296.0);
    float scale = 1.0f / (1.0f - p);
    for (int64_t i = 0; i < n; i++) y[i] = dropout_hash(seed, (uint64_t)(first + i)) >= threshold ? x[i] * scale : 0.0f;
}

TK_CLONES
void tk_dropout_backward(const float *dy, float *dx, int64_t n, int64_t first, uint64_t seed, float p, int accumulate) {
    uint32_t threshold = (uint32_t)((double)p * 4294967296.0);
    float scale = 1.0f / (1.0f - p);
    for (int64_t i = 0; i < n; i++) {
        float g = dropout_hash(seed, (uint64_t)(first + i)) >= threshold ? dy[i] * scale : 0.0f;
        dx[i] = accumulate ? dx[i] + g : g;
    }
}
