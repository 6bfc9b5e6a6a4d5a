// The forward loop of a low-rank SMC sweep, compiled (nwb_dyn.native.particle_loop).
//
// Python runs the same loop in nwb_dyn.inference.particle_chain with one torch call per operation. At spike-count
// model sizes (K·B·D ~ 10^4 values per step) those ~40 calls per step cost more in dispatch than in arithmetic, and
// the Poisson likelihood's softplus, log and sigmoid take three passes over memory; at large ones (K·B·N ~ 10^6)
// torch writes and rereads every (K·B, N) intermediate in memory, where a row of N currents here lives in L1 from
// its product to its activation to its readout. Every step is a handful of plain loops over contiguous arrays:
// resample (systematic, float64 cumulative weights), gather, transition F = a·z + n·φ(m·z + c; h), the proposal's
// affine move z = s ⊙ F + o (or z = F·S for an R×R matrix S) with its log-ratio, and either the Poisson
// log-likelihood with its slope in η or the optimal Gaussian proposal's predictive weight, a quadratic form in F.
// Single-threaded by design: the caller owns the thread budget.
//
// Its backward pass (nwb_dyn_particle_loop_backward) walks the steps in reverse, as _ParticleChain.backward does
// with torch: ∂L/∂z̃ scattered onto the resampled particles, and the gradients of m, n, h and the input currents
// accumulated in one pass over each step's (K·B, N) activations, kept by the forward loop or recomputed row by row.
//
// float32 uses the polynomial exp and log below (Cephes-style range reduction, ~1 ulp) because they inline and
// vectorise where libm calls do not; float64 uses libm, so that tests can compare with the torch loop to 1e-10.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

namespace {

// Everything one sweep needs, laid out as the Python side fills it (nwb_dyn/native/particle_loop.py, _SweepArgs).
// Shapes: T steps, K particles, B sequences, R latents, N units, D channels. Optional arrays are null.
struct SweepArgs {
    int64_t steps, particles, batch, rank, units, channels;
    int64_t activation;  // 0 relu, 1 clipped_relu, 2 tanh, 3 identity
    int64_t link;        // 0 softplus, 1 exp
    int64_t is_double;   // 0 float32, 1 float64 (every floating array below but `offsets`)
    int64_t matrix_share;  // 1: share is (T, B, R, R) S_t and z = F·S_t + o; 0: elementwise
    double decay;
    const void* first_mean;       // (B, R) prior mean of z_1
    const void* share;            // (T, B, R) s_t, (T, B, R, R) S_t with matrix_share, or null for s_t = 1
    const void* shift;            // (T, K, B, R) o_t
    const void* ratio_constant;   // (T, K, B) c_t of the proposal's log-ratio, or null (bootstrap: no ratio)
    const void* ratio_precision;  // (T, R) λ_t of the log-ratio c_t − ½ Σ_r λ_t,r (z − F)_r²
    const void* curvature;        // (T, B, R, R) C_t of a predictive weight −½ (F·(F·C_t) − F·l_t + e_t), or null
    const void* linear;           // (T, B, R) l_t, with curvature
    const void* predictive_constant;  // (T, B) e_t, with curvature
    const void* currents;         // (B, T, N) input currents, step t uses column t − 1, or null
    const void* m;                // (N, R)
    const void* n;                // (R, N)
    const void* h;                // (N,)
    const double* offsets;        // (T, B) resampling uniforms
    const void* observations;     // (T, B, D) counts, or null: no likelihood term (the five arrays below unused)
    const void* readout;          // (R, D) W
    const void* readout_offsets;  // (T, B, D) c
    const void* mask;             // (T, B, D), or null when every channel is observed
    const void* log_factorial;    // (T, B) Σ_d mask·log y!
    void* priors;                 // out (T, K, B, R) F_t
    void* particles_out;          // out (T, K, B, R) z_t
    void* log_weights;            // out (T, K, B)
    int64_t* ancestors;           // out (T − 1, K, B)
    void* likelihoods;            // out (T, K, B) log p(y_t | z_t), or null without observations
    void* slopes;                 // out (T, K, B, D) ∂ log p/∂η, or null
    void* rates;                  // out (T − 1, K·B, N) φ kept for the backward pass, or null
    void* slope_x;                // out (T − 1, K·B, N) ∂φ/∂x, with rates
    void* slope_h;                // out (T − 1, K·B, N) ∂φ/∂h (clipped ReLU only), or null
};

template <typename T>
struct Math;

template <>
struct Math<float> {
    static float from_bits(int32_t i) { float f; std::memcpy(&f, &i, 4); return f; }
    static int32_t to_bits(float f) { int32_t i; std::memcpy(&i, &f, 4); return i; }
    // e^x for x in [−87, 88] (clamped): x = k·ln2 + r, e^r by a degree-7 polynomial, 2^k through the exponent bits.
    static float exp(float x) {
        x = std::min(std::max(x, -87.0f), 88.0f);
        const float k = std::nearbyint(x * 1.44269504088896341f);
        const float r = x - k * 0.693359375f + k * 2.12194440e-4f;
        float p = 1.9875691500e-4f;
        p = p * r + 1.3981999507e-3f;
        p = p * r + 8.3334519073e-3f;
        p = p * r + 4.1665795894e-2f;
        p = p * r + 1.6666665459e-1f;
        p = p * r + 5.0000001201e-1f;
        p = p * r * r + r + 1.0f;
        return p * from_bits((static_cast<int32_t>(k) + 127) << 23);
    }
    // log x for normal x > 0: x = m·2^e with m in [√½, √2), log m = t − t²/2 + t³·P(t) for t = m − 1.
    static float log(float x) {
        const int32_t bits = to_bits(x);
        int32_t e = ((bits >> 23) & 0xff) - 126;
        const float mantissa = from_bits((bits & 0x007fffff) | 0x3f000000);  // in [½, 1)
        const bool low = mantissa < 0.707106781186547524f;
        e = low ? e - 1 : e;
        const float t = low ? mantissa + mantissa - 1.0f : mantissa - 1.0f;
        const float t2 = t * t;
        float p = 7.0376836292e-2f;
        p = p * t - 1.1514610310e-1f;
        p = p * t + 1.1676998740e-1f;
        p = p * t - 1.2420140846e-1f;
        p = p * t + 1.4249322787e-1f;
        p = p * t - 1.6668057665e-1f;
        p = p * t + 2.0000714765e-1f;
        p = p * t - 2.4999993993e-1f;
        p = p * t + 3.3333331174e-1f;
        const float fe = static_cast<float>(e);
        return t + (p * t * t2 + fe * -2.12194440e-4f - 0.5f * t2) + fe * 0.693359375f;
    }
    // log(1 + u) for u in [0, 1], with the rounding of 1 + u corrected to first order.
    static float log1p(float u) {
        const float one_plus = 1.0f + u;
        return log(one_plus) - ((one_plus - 1.0f) - u) / one_plus;
    }
    static float tanh(float x) { return std::tanh(x); }
};

template <>
struct Math<double> {
    static double exp(double x) { return std::exp(x); }
    static double log(double x) { return std::log(x); }
    static double log1p(double u) { return std::log1p(u); }
    static double tanh(double x) { return std::tanh(x); }
};

// φ(x; h) and its slopes for one row of N currents, in place: x becomes φ; slope_x is written when not null, slope_h
// too (the clipped ReLU's ∂φ/∂h; for the others it is −∂φ/∂x and never stored). One loop per activation, so that
// each vectorises.
template <typename T>
void activate(int64_t activation, T* x, const T* h, int64_t units, T* slope_x, T* slope_h) {
    const bool slopes = slope_x != nullptr;
    if (activation == 0) {  // max(x − h, 0)
        if (slopes) {
#pragma omp simd
            for (int64_t i = 0; i < units; ++i) slope_x[i] = x[i] - h[i] > T(0) ? T(1) : T(0);
        }
#pragma omp simd
        for (int64_t i = 0; i < units; ++i) x[i] = std::max(x[i] - h[i], T(0));
    } else if (activation == 1) {  // max(x + h, 0) − max(x, 0)
        if (slopes) {
#pragma omp simd
            for (int64_t i = 0; i < units; ++i) {
                const T upper = x[i] + h[i] > T(0) ? T(1) : T(0);
                slope_x[i] = upper - (x[i] > T(0) ? T(1) : T(0));
                if (slope_h != nullptr) slope_h[i] = upper;
            }
        }
#pragma omp simd
        for (int64_t i = 0; i < units; ++i) x[i] = std::max(x[i] + h[i], T(0)) - std::max(x[i], T(0));
    } else if (activation == 2) {  // tanh(x − h)
        for (int64_t i = 0; i < units; ++i) {
            x[i] = Math<T>::tanh(x[i] - h[i]);
            if (slopes) slope_x[i] = T(1) - x[i] * x[i];
        }
    } else {  // x − h
#pragma omp simd
        for (int64_t i = 0; i < units; ++i) x[i] -= h[i];
        if (slopes) std::fill(slope_x, slope_x + units, T(1));
    }
}

// The currents x = z·mᵀ (+ input) of one particle into `row` (N): m_columns is mᵀ (R, N), input null or (N,).
template <typename T>
void currents_row(const T* z, const T* input, const T* m_columns, int64_t rank, int64_t units, T* row) {
    if (input == nullptr)
        std::fill(row, row + units, T(0));
    else
        std::copy(input, input + units, row);
    for (int64_t r = 0; r < rank; ++r) {
        const T zr = z[r];
        const T* column = m_columns + r * units;
#pragma omp simd
        for (int64_t i = 0; i < units; ++i) row[i] += zr * column[i];
    }
}

// The fused row kernels below do in one vectorised pass over the N units what currents_row, activate and the
// readout products do in 2R + 2 passes, for R ≤ 8 and the piecewise-linear activations (the sizes where a step's
// (K·B, N) work sets the cost). The R sums over the units are named scalars sum0..sum7, not an array: gcc
// vectorises reductions over named scalars, not over an array section.

// φ(x; h), ∂φ/∂x and ∂φ/∂h for ACT 0 relu max(x − h, 0), 1 clipped ReLU max(x + h, 0) − max(x, 0), 3 identity x − h.
// Returned by value: out-parameters inside an `omp simd` loop keep gcc from vectorising it; so do the conditionals
// unless FP comparisons may be executed speculatively (-fno-trapping-math, nwb_dyn.native.build).
template <typename T>
struct Piece {
    T phi, slope_x, slope_h;
};

// max(a, 0) by value (std::max takes references, which an `omp simd` loop body keeps in memory).
template <typename T>
inline T positive_part(T a) {
    return a > T(0) ? a : T(0);
}

template <typename T, int ACT>
inline Piece<T> piecewise(T x, T bias) {
    if constexpr (ACT == 0) {
        const T slope = x - bias > T(0) ? T(1) : T(0);
        return {positive_part(x - bias), slope, -slope};
    } else if constexpr (ACT == 1) {
        const T upper = x + bias > T(0) ? T(1) : T(0);
        return {positive_part(x + bias) - positive_part(x), upper - (x > T(0) ? T(1) : T(0)), upper};
    } else {
        return {x - bias, T(1), T(-1)};
    }
}

// The statement for each lane r < RANK of sum##r, unrolled at compile time (lanes ≥ RANK compile to nothing).
#define NWB_DYN_LANES(STATEMENT)              \
    STATEMENT(0)                              \
    if constexpr (RANK > 1) { STATEMENT(1) } \
    if constexpr (RANK > 2) { STATEMENT(2) } \
    if constexpr (RANK > 3) { STATEMENT(3) } \
    if constexpr (RANK > 4) { STATEMENT(4) } \
    if constexpr (RANK > 5) { STATEMENT(5) } \
    if constexpr (RANK > 6) { STATEMENT(6) } \
    if constexpr (RANK > 7) { STATEMENT(7) }

// F = a·z + n·φ(z·mᵀ + input; h) for one particle: z (R), input (N) (zeros without inputs), m_columns mᵀ (R, N).
template <typename T, int RANK, int ACT>
void fused_transition(const T* z, const T* input, const T* m_columns, const T* n, const T* h, int64_t N, T decay,
                      T* prior) {
    T zr[RANK];
    const T* m[RANK];
    const T* w[RANK];
    for (int r = 0; r < RANK; ++r) {
        zr[r] = z[r];
        m[r] = m_columns + r * N;
        w[r] = n + r * N;
    }
    T sum0 = T(0), sum1 = T(0), sum2 = T(0), sum3 = T(0), sum4 = T(0), sum5 = T(0), sum6 = T(0), sum7 = T(0);
#pragma omp simd reduction(+ : sum0, sum1, sum2, sum3, sum4, sum5, sum6, sum7)
    for (int64_t i = 0; i < N; ++i) {
        T x = input[i];
        for (int r = 0; r < RANK; ++r) x += zr[r] * m[r][i];
        const T phi = piecewise<T, ACT>(x, h[i]).phi;
#define NWB_DYN_READOUT(r) sum##r += w[r][i] * phi;
        NWB_DYN_LANES(NWB_DYN_READOUT)
#undef NWB_DYN_READOUT
    }
    const T sums[8] = {sum0, sum1, sum2, sum3, sum4, sum5, sum6, sum7};
    for (int r = 0; r < RANK; ++r) prior[r] = decay * zr[r] + sums[r];
}

// The backward pass of fused_transition for one particle given g = ∂L/∂F (R), recomputing its activations:
// ∂L/∂n += g ⊗ φ, ∂L/∂h += (gᵀn) ⊙ ∂φ/∂h, ∂L/∂mᵀ += z ⊗ δ with δ = (gᵀn) ⊙ ∂φ/∂x written to `delta` (N),
// and ∂L/∂z̃ += a·g + mᵀδ into grad_source (R).
template <typename T, int RANK, int ACT>
void fused_transition_backward(const T* z, const T* g, const T* input, const T* m_columns, const T* n, const T* h,
                               int64_t N, T decay, T* grad_n, T* grad_m_columns, T* grad_h, T* delta,
                               T* grad_source) {
    T zr[RANK], gr[RANK];
    const T* m[RANK];
    const T* w[RANK];
    T* gn[RANK];
    T* gm[RANK];
    for (int r = 0; r < RANK; ++r) {
        zr[r] = z[r];
        gr[r] = g[r];
        m[r] = m_columns + r * N;
        w[r] = n + r * N;
        gn[r] = grad_n + r * N;
        gm[r] = grad_m_columns + r * N;
    }
    T sum0 = T(0), sum1 = T(0), sum2 = T(0), sum3 = T(0), sum4 = T(0), sum5 = T(0), sum6 = T(0), sum7 = T(0);
#pragma omp simd reduction(+ : sum0, sum1, sum2, sum3, sum4, sum5, sum6, sum7)
    for (int64_t i = 0; i < N; ++i) {
        T x = input[i];
        for (int r = 0; r < RANK; ++r) x += zr[r] * m[r][i];
        const Piece<T> piece = piecewise<T, ACT>(x, h[i]);
        T back = T(0);
        for (int r = 0; r < RANK; ++r) {
            back += gr[r] * w[r][i];
            gn[r][i] += gr[r] * piece.phi;
        }
        const T d = back * piece.slope_x;
        delta[i] = d;
        grad_h[i] += back * piece.slope_h;
        for (int r = 0; r < RANK; ++r) gm[r][i] += zr[r] * d;
#define NWB_DYN_PROJECT(r) sum##r += m[r][i] * d;
        NWB_DYN_LANES(NWB_DYN_PROJECT)
#undef NWB_DYN_PROJECT
    }
    const T sums[8] = {sum0, sum1, sum2, sum3, sum4, sum5, sum6, sum7};
    for (int r = 0; r < RANK; ++r) grad_source[r] += decay * gr[r] + sums[r];
}

#undef NWB_DYN_LANES

template <typename T>
using FusedTransition = void (*)(const T*, const T*, const T*, const T*, const T*, int64_t, T, T*);
template <typename T>
using FusedBackward = void (*)(const T*, const T*, const T*, const T*, const T*, const T*, int64_t, T, T*, T*, T*,
                               T*, T*);

template <typename T, int ACT, int RANK = 1>
FusedTransition<T> fused_transition_for_rank(int64_t rank) {
    if constexpr (RANK > 8) {
        return nullptr;
    } else {
        return rank == RANK ? fused_transition<T, RANK, ACT> : fused_transition_for_rank<T, ACT, RANK + 1>(rank);
    }
}

template <typename T, int ACT, int RANK = 1>
FusedBackward<T> fused_backward_for_rank(int64_t rank) {
    if constexpr (RANK > 8) {
        return nullptr;
    } else {
        return rank == RANK ? fused_transition_backward<T, RANK, ACT> : fused_backward_for_rank<T, ACT, RANK + 1>(rank);
    }
}

// The fused kernels for this rank and activation, or null (rank > 8, tanh): the general loops run instead.
template <typename T>
FusedTransition<T> fused_transition_for(int64_t rank, int64_t activation) {
    if (activation == 0) return fused_transition_for_rank<T, 0>(rank);
    if (activation == 1) return fused_transition_for_rank<T, 1>(rank);
    if (activation == 3) return fused_transition_for_rank<T, 3>(rank);
    return nullptr;
}

template <typename T>
FusedBackward<T> fused_backward_for(int64_t rank, int64_t activation) {
    if (activation == 0) return fused_backward_for_rank<T, 0>(rank);
    if (activation == 1) return fused_backward_for_rank<T, 1>(rank);
    if (activation == 3) return fused_backward_for_rank<T, 3>(rank);
    return nullptr;
}

// Ancestors a_k (k = 0..K−1) of one sequence: where positions (u + k)/K fall in the cumulative normalised weights,
// searched from the right (searchsorted right=True) and clamped to K − 1. Weights are read with stride B.
template <typename T>
void resample(const T* log_weights, int64_t stride, int64_t count, double offset, double* cumulative,
              int64_t* out) {
    double top = -INFINITY;
    for (int64_t k = 0; k < count; ++k) top = std::max(top, static_cast<double>(log_weights[k * stride]));
    double total = 0.0;
    for (int64_t k = 0; k < count; ++k) {
        cumulative[k] = std::exp(static_cast<double>(log_weights[k * stride]) - top);
        total += cumulative[k];
    }
    double running = 0.0;
    for (int64_t k = 0; k < count; ++k) {
        running += cumulative[k] / total;
        cumulative[k] = running;
    }
    int64_t index = 0;
    for (int64_t k = 0; k < count; ++k) {
        const double position = (offset + static_cast<double>(k)) / static_cast<double>(count);
        while (index < count && cumulative[index] <= position) ++index;
        out[k * stride] = std::min(index, count - 1);
    }
}

template <typename T>
int run(const SweepArgs& a) {
    const int64_t steps = a.steps, K = a.particles, B = a.batch, R = a.rank, N = a.units, D = a.channels;
    const int64_t rows = K * B;
    const T decay = static_cast<T>(a.decay);
    const T* first_mean = static_cast<const T*>(a.first_mean);
    const T* share = static_cast<const T*>(a.share);
    const T* shift = static_cast<const T*>(a.shift);
    const T* ratio_constant = static_cast<const T*>(a.ratio_constant);
    const T* ratio_precision = static_cast<const T*>(a.ratio_precision);
    const T* curvature = static_cast<const T*>(a.curvature);
    const T* linear = static_cast<const T*>(a.linear);
    const T* predictive_constant = static_cast<const T*>(a.predictive_constant);
    const T* currents = static_cast<const T*>(a.currents);
    const T* m = static_cast<const T*>(a.m);
    const T* n = static_cast<const T*>(a.n);
    const T* h = static_cast<const T*>(a.h);
    const T* observations = static_cast<const T*>(a.observations);
    const T* readout = static_cast<const T*>(a.readout);
    const T* readout_offsets = static_cast<const T*>(a.readout_offsets);
    const T* mask = static_cast<const T*>(a.mask);
    const T* log_factorial = static_cast<const T*>(a.log_factorial);
    T* priors = static_cast<T*>(a.priors);
    T* particles = static_cast<T*>(a.particles_out);
    T* log_weights = static_cast<T*>(a.log_weights);
    T* likelihoods = static_cast<T*>(a.likelihoods);
    T* slopes = static_cast<T*>(a.slopes);
    T* rates = static_cast<T*>(a.rates);
    T* slope_x = static_cast<T*>(a.slope_x);
    T* slope_h = static_cast<T*>(a.slope_h);

    std::vector<T> m_columns(R * N);  // mᵀ (R, N): the currents x = Σ_r z_r·mᵀ_r run along contiguous rows
    for (int64_t i = 0; i < N; ++i)
        for (int64_t r = 0; r < R; ++r) m_columns[r * N + i] = m[i * R + r];
    // No null pointer reaches the vectorised Poisson loops: a masked vector load or store from a null base, which
    // compilers emit for `p == nullptr ? 1 : p[j]`, takes a microcode assist per vector (measured 4× slower).
    std::vector<T> x(N), predictor(B * D), terms(B * D), all_observed(B * D, T(1)), unused_slope(B * D);
    std::vector<double> cumulative(K);
    std::vector<T> zeros(N, T(0));  // the input currents of a model without inputs, for the fused kernel
    const FusedTransition<T> fused = fused_transition_for<T>(R, a.activation);
    const int64_t step_size = rows * R;

    for (int64_t t = 0; t < steps; ++t) {
        T* prior = priors + t * step_size;
        T* moved = particles + t * step_size;
        if (t == 0) {
            for (int64_t row = 0; row < rows; ++row)
                for (int64_t r = 0; r < R; ++r) prior[row * R + r] = first_mean[(row % B) * R + r];
        } else {
            const T* previous = particles + (t - 1) * step_size;
            int64_t* ancestry = a.ancestors + (t - 1) * rows;
            for (int64_t b = 0; b < B; ++b)
                resample(log_weights + (t - 1) * rows + b, B, K, a.offsets[t * B + b], cumulative.data(),
                         ancestry + b);
            const bool keep = rates != nullptr;
            for (int64_t row = 0; row < rows; ++row) {
                const int64_t b = row % B;
                const T* z = previous + (ancestry[row] * B + b) * R;  // z_{t−1}[a_t]
                const T* input = currents == nullptr ? nullptr : currents + (b * steps + (t - 1)) * N;
                if (fused != nullptr && !keep) {
                    fused(z, input == nullptr ? zeros.data() : input, m_columns.data(), n, h, N, decay,
                          prior + row * R);
                    continue;
                }
                T* current = keep ? rates + ((t - 1) * rows + row) * N : x.data();
                currents_row(z, input, m_columns.data(), R, N, current);
                activate<T>(a.activation, current, h, N, keep ? slope_x + ((t - 1) * rows + row) * N : nullptr,
                            keep && slope_h != nullptr ? slope_h + ((t - 1) * rows + row) * N : nullptr);
                for (int64_t r = 0; r < R; ++r) {
                    const T* weights = n + r * N;
                    T sum = T(0);
#pragma omp simd reduction(+ : sum)
                    for (int64_t i = 0; i < N; ++i) sum += weights[i] * current[i];
                    prior[row * R + r] = decay * z[r] + sum;
                }
            }
        }
        // The move z = s ⊙ F + o (or F·S + o) and the proposal's log-ratio or predictive weight.
        const T* step_shift = shift + t * step_size;
        T* step_weights = log_weights + t * rows;
        for (int64_t row = 0; row < rows; ++row) {
            const int64_t b = row % B;
            const T* F = prior + row * R;
            T* z = moved + row * R;
            const T* o = step_shift + row * R;
            if (a.matrix_share) {
                const T* S = share + (t * B + b) * R * R;
                for (int64_t s = 0; s < R; ++s) {
                    T sum = T(0);
                    for (int64_t r = 0; r < R; ++r) sum += F[r] * S[r * R + s];
                    z[s] = sum + o[s];
                }
            } else {
                for (int64_t r = 0; r < R; ++r)
                    z[r] = (share == nullptr ? F[r] : share[(t * B + b) * R + r] * F[r]) + o[r];
            }
            T weight = T(0);
            if (ratio_constant != nullptr) {
                T deviation_energy = T(0);
                for (int64_t r = 0; r < R; ++r)
                    deviation_energy += ratio_precision[t * R + r] * (z[r] - F[r]) * (z[r] - F[r]);
                weight = ratio_constant[t * rows + row] - T(0.5) * deviation_energy;
            }
            if (curvature != nullptr) {  // −½ (F·(F·C − l) + e)
                const T* C = curvature + (t * B + b) * R * R;
                const T* l = linear + (t * B + b) * R;
                T quadratic = T(0);
                for (int64_t s = 0; s < R; ++s) {
                    T sum = T(0);
                    for (int64_t r = 0; r < R; ++r) sum += F[r] * C[r * R + s];
                    quadratic += F[s] * (sum - l[s]);
                }
                weight -= T(0.5) * (quadratic + predictive_constant[t * B + b]);
            }
            step_weights[row] = weight;
        }
        if (observations == nullptr) continue;
        // Poisson log-likelihood of each particle: η = z·W + c over the B·D values of one particle at a time.
        const T* y = observations + t * B * D;
        const T* offset = readout_offsets + t * B * D;
        const T* observed = mask == nullptr ? all_observed.data() : mask + t * B * D;
        for (int64_t k = 0; k < K; ++k) {
            for (int64_t b = 0; b < B; ++b) {
                const T* z = moved + (k * B + b) * R;
                T* eta = predictor.data() + b * D;
                for (int64_t d = 0; d < D; ++d) eta[d] = offset[b * D + d];
                for (int64_t r = 0; r < R; ++r) {
                    const T zr = z[r];
                    const T* w = readout + r * D;
                    for (int64_t d = 0; d < D; ++d) eta[d] += zr * w[d];
                }
            }
            T* slope = slopes == nullptr ? unused_slope.data() : slopes + (t * rows + k * B) * D;
            const int64_t width = B * D;
            if (a.link == 0) {  // λ = softplus(η) + 1e-6 = max(η, 0) + log(1 + e^−|η|) + 1e-6; σ(η) from e^−|η|
#pragma omp simd
                for (int64_t j = 0; j < width; ++j) {
                    const T eta = predictor[j];
                    const T decayed = Math<T>::exp(-std::fabs(eta));
                    const T rate = std::max(eta, T(0)) + Math<T>::log1p(decayed) + T(1e-6);
                    const T sigmoid = (eta >= T(0) ? T(1) : decayed) / (T(1) + decayed);
                    terms[j] = observed[j] * (y[j] * Math<T>::log(rate) - rate);
                    slope[j] = observed[j] * ((y[j] / rate - T(1)) * sigmoid);
                }
            } else {  // λ = e^η + 1e-10
#pragma omp simd
                for (int64_t j = 0; j < width; ++j) {
                    const T eta = predictor[j];
                    const T rate = Math<T>::exp(eta) + T(1e-10);
                    terms[j] = observed[j] * (y[j] * eta - rate);
                    slope[j] = observed[j] * (y[j] - rate + T(1e-10));
                }
            }
            for (int64_t b = 0; b < B; ++b) {
                T sum = T(0);
                const T* row_terms = terms.data() + b * D;
#pragma omp simd reduction(+ : sum)
                for (int64_t d = 0; d < D; ++d) sum += row_terms[d];
                const T value = sum - log_factorial[t * B + b];
                likelihoods[t * rows + k * B + b] = value;
                step_weights[k * B + b] += value;
            }
        }
    }
    return 0;
}

// What the backward pass needs: the forward loop's particles and ancestors, its kept activations or what
// recomputes them, the move's scale, and the incoming ∂L/∂F. Shapes as in SweepArgs; rows = K·B.
struct BackwardArgs {
    int64_t steps, particles, batch, rank, units;
    int64_t activation;    // as in SweepArgs, for recomputing the activations
    int64_t matrix_share;  // as in SweepArgs
    int64_t is_double;
    double decay;
    const void* particles_in;  // (T, K, B, R) z_t
    const int64_t* ancestors;  // (T − 1, K, B)
    const void* share;         // (T, B, R) s_t, (T, B, R, R) S_t with matrix_share, or null for s_t = 1
    const void* m;             // (N, R)
    const void* n;             // (R, N)
    const void* h;             // (N,)
    const void* currents;      // (B, T, N) input currents, or null
    const void* rates;         // (T − 1, K·B, N) φ kept by the forward loop, or null: recomputed row by row
    const void* slope_x;       // (T − 1, K·B, N) ∂φ/∂x, with rates
    const void* slope_h;       // (T − 1, K·B, N) ∂φ/∂h (clipped ReLU) with rates, or null where it is −∂φ/∂x
    void* grad_priors;         // in: ∂L/∂F (T, K, B, R) from the batched pass; out: plus what flows back through z
    void* grad_particles;      // out (T, K, B, R) ∂L/∂z_t through later steps only; zeroed by the caller
    void* grad_m;              // out (N, R), zeroed by the caller
    void* grad_n;              // out (R, N), zeroed by the caller
    void* grad_h;              // out (N,), zeroed by the caller
    void* grad_currents;       // out (B, T, N) or null, zeroed by the caller
};

// ∂L/∂F_t += s_t ⊙ ∂L/∂z_t (s_t = 1 when share is null), or S_t·∂L/∂z_t for z = F·S_t; share points at step t.
template <typename T>
void add_move_transposed(T* grad_prior, const T* grad_particle, const T* share, bool matrix, int64_t rows,
                         int64_t batch, int64_t rank) {
    for (int64_t row = 0; row < rows; ++row) {
        const int64_t b = row % batch;
        const T* g = grad_particle + row * rank;
        for (int64_t r = 0; r < rank; ++r) {
            T sum;
            if (matrix) {
                const T* S = share + (b * rank + r) * rank;
                sum = T(0);
                for (int64_t s = 0; s < rank; ++s) sum += S[s] * g[s];
            } else {
                sum = (share == nullptr ? T(1) : share[b * rank + r]) * g[r];
            }
            grad_prior[row * rank + r] += sum;
        }
    }
}

template <typename T>
int run_backward(const BackwardArgs& a) {
    const int64_t steps = a.steps, K = a.particles, B = a.batch, R = a.rank, N = a.units, rows = K * B;
    const T decay = static_cast<T>(a.decay);
    const T* particles = static_cast<const T*>(a.particles_in);
    const T* share = static_cast<const T*>(a.share);
    const T* m = static_cast<const T*>(a.m);
    const T* n = static_cast<const T*>(a.n);
    const T* h = static_cast<const T*>(a.h);
    const T* currents = static_cast<const T*>(a.currents);
    const T* rates = static_cast<const T*>(a.rates);
    const T* slope_x = static_cast<const T*>(a.slope_x);
    const T* slope_h = static_cast<const T*>(a.slope_h);
    T* grad_priors = static_cast<T*>(a.grad_priors);
    T* grad_particles = static_cast<T*>(a.grad_particles);
    T* grad_m = static_cast<T*>(a.grad_m);
    T* grad_n = static_cast<T*>(a.grad_n);
    T* grad_h = static_cast<T*>(a.grad_h);
    T* grad_currents = static_cast<T*>(a.grad_currents);
    const bool matrix = a.matrix_share != 0;
    const int64_t share_step = matrix ? B * R * R : B * R;

    std::vector<T> m_columns(R * N), grad_m_columns(R * N, T(0));  // mᵀ and ∂L/∂mᵀ (R, N): rows run along N
    for (int64_t i = 0; i < N; ++i)
        for (int64_t r = 0; r < R; ++r) m_columns[r * N + i] = m[i * R + r];
    // One row's activations when they are recomputed: φ, ∂φ/∂x and the clipped ReLU's ∂φ/∂h.
    std::vector<T> back(N), delta(N), row_rates(N), row_slope_x(N), row_slope_h(N);
    const bool recompute = rates == nullptr;
    std::vector<T> zeros(N, T(0));  // the input currents of a model without inputs, for the fused kernel
    const FusedBackward<T> fused = fused_backward_for<T>(R, a.activation);
    const bool separate_h = recompute ? a.activation == 1 : slope_h != nullptr;
    const int64_t step_size = rows * R;
    for (int64_t t = steps - 1; t >= 1; --t) {
        T* grad_prior = grad_priors + t * step_size;
        if (t < steps - 1)
            add_move_transposed(grad_prior, grad_particles + t * step_size,
                                share == nullptr ? nullptr : share + t * share_step, matrix, rows, B, R);
        const int64_t* ancestry = a.ancestors + (t - 1) * rows;
        for (int64_t row = 0; row < rows; ++row) {
            const int64_t b = row % B;
            const int64_t source = (ancestry[row] * B + b) * R;  // z̃ = z_{t−1}[a_t]
            const T* z = particles + (t - 1) * step_size + source;
            const T* g = grad_prior + row * R;
            T* grad_source = grad_particles + (t - 1) * step_size + source;
            const T* input = currents == nullptr ? nullptr : currents + (b * steps + (t - 1)) * N;
            if (recompute && fused != nullptr) {
                fused(z, g, input == nullptr ? zeros.data() : input, m_columns.data(), n, h, N, decay, grad_n,
                      grad_m_columns.data(), grad_h, delta.data(), grad_source);
                if (grad_currents != nullptr) {
                    T* grad_input = grad_currents + (b * steps + (t - 1)) * N;
#pragma omp simd
                    for (int64_t i = 0; i < N; ++i) grad_input[i] += delta[i];
                }
                continue;
            }
            const T *phi, *dphi, *dphi_h;
            if (recompute) {
                currents_row(z, input, m_columns.data(), R, N, row_rates.data());
                activate<T>(a.activation, row_rates.data(), h, N, row_slope_x.data(),
                            separate_h ? row_slope_h.data() : nullptr);
                phi = row_rates.data();
                dphi = row_slope_x.data();
                dphi_h = row_slope_h.data();
            } else {
                const int64_t at = ((t - 1) * rows + row) * N;
                phi = rates + at;
                dphi = slope_x + at;
                dphi_h = separate_h ? slope_h + at : nullptr;
            }
            std::fill(back.begin(), back.end(), T(0));
            for (int64_t r = 0; r < R; ++r) {  // ∂L/∂φ = gᵀn, and ∂L/∂n += g ⊗ φ
                const T gr = g[r];
                const T* weights = n + r * N;
                T* grad_weights = grad_n + r * N;
#pragma omp simd
                for (int64_t i = 0; i < N; ++i) {
                    back[i] += gr * weights[i];
                    grad_weights[i] += gr * phi[i];
                }
            }
#pragma omp simd
            for (int64_t i = 0; i < N; ++i) delta[i] = back[i] * dphi[i];  // ∂L/∂x
            if (separate_h) {
#pragma omp simd
                for (int64_t i = 0; i < N; ++i) grad_h[i] += back[i] * dphi_h[i];
            } else {
#pragma omp simd
                for (int64_t i = 0; i < N; ++i) grad_h[i] -= delta[i];
            }
            if (grad_currents != nullptr) {
                T* grad_input = grad_currents + (b * steps + (t - 1)) * N;
#pragma omp simd
                for (int64_t i = 0; i < N; ++i) grad_input[i] += delta[i];
            }
            for (int64_t r = 0; r < R; ++r) {  // ∂L/∂z̃ = a·g + mᵀδ, and ∂L/∂mᵀ += z̃ ⊗ δ
                const T zr = z[r];
                const T* column = m_columns.data() + r * N;
                T* grad_column = grad_m_columns.data() + r * N;
                T sum = T(0);
#pragma omp simd reduction(+ : sum)
                for (int64_t i = 0; i < N; ++i) {
                    sum += column[i] * delta[i];
                    grad_column[i] += zr * delta[i];
                }
                grad_source[r] += decay * g[r] + sum;
            }
        }
    }
    if (steps > 1)
        add_move_transposed(grad_priors, grad_particles, share, matrix, rows, B, R);
    for (int64_t i = 0; i < N; ++i)
        for (int64_t r = 0; r < R; ++r) grad_m[i * R + r] += grad_m_columns[r * N + i];
    return 0;
}

}  // namespace

extern "C" int nwb_dyn_particle_loop_backward(const BackwardArgs* args) {
    if (args->rank < 1 || args->particles < 1 || args->batch < 1 || args->steps < 1) return 1;
    return args->is_double ? run_backward<double>(*args) : run_backward<float>(*args);
}

extern "C" int nwb_dyn_particle_loop(const SweepArgs* args) {
    if (args->rank < 1 || args->particles < 1 || args->batch < 1 || args->steps < 1) return 1;
    return args->is_double ? run<double>(*args) : run<float>(*args);
}

// Sizes of both argument structs, checked against their ctypes mirrors when the library is loaded.
extern "C" int64_t nwb_dyn_particle_loop_abi() {
    return static_cast<int64_t>(sizeof(SweepArgs)) * 1000 + static_cast<int64_t>(sizeof(BackwardArgs));
}
