// WMMA (nvcuda::wmma) for the CUDA emulator (cuda_emulator.hpp). On the GPU a fragment is spread
// over the 32 lanes of a warp in an unspecified order; here every lane holds the whole tile, which
// is all a kernel may assume (element-wise updates of `x[i]` over `num_elements` work the same).
// Loads and stores are warp-collective: the warp meets before and after, as on the hardware.
#pragma once
#include "cuda_bf16.h"

namespace nvcuda {
namespace wmma {

struct matrix_a {};
struct matrix_b {};
struct accumulator {};
struct row_major {};
struct col_major {};
enum layout_t { mem_row_major, mem_col_major };

// The contract of load_matrix_sync and store_matrix_sync: a 256-bit aligned pointer and a leading
// dimension of a multiple of 16 bytes.
template <class T> inline void check_matrix_pointer(const char* op, const T* p, unsigned ldm) {
    if (reinterpret_cast<uintptr_t>(p) % 32 != 0)
        emu::fault("%s: the pointer %p is not 32-byte aligned (thread %u of block %u)", op, (const void*)p,
                   threadIdx.x, blockIdx.x);
    if (ldm * sizeof(T) % 16 != 0)
        emu::fault("%s: the leading dimension %u is not a multiple of 16 bytes", op, ldm);
}

template <class Use, int M, int N, int K, class T, class Layout = void>
struct fragment {
    static constexpr int rows = std::is_same<Use, matrix_b>::value ? K : M;
    static constexpr int cols = std::is_same<Use, matrix_a>::value ? K : N;
    static constexpr int num_elements = rows * cols;
    T x[num_elements];
    T& at(int r, int c) { return x[r * cols + c]; }
    const T& at(int r, int c) const { return x[r * cols + c]; }
};

template <class Use, int M, int N, int K, class T, class L, class V>
inline void fill_fragment(fragment<Use, M, N, K, T, L>& f, const V& v) {
    for (int i = 0; i < f.num_elements; ++i) f.x[i] = T(v);
}

// A or B operand from memory, row- or column-major as the fragment's layout says.
template <class Use, int M, int N, int K, class T, class L>
inline void load_matrix_sync(fragment<Use, M, N, K, T, L>& f, const T* p, unsigned ldm) {
    check_matrix_pointer("load_matrix_sync", p, ldm);
    emu::sync_warp();
    constexpr bool col = std::is_same<L, col_major>::value;
    for (int r = 0; r < f.rows; ++r)
        for (int c = 0; c < f.cols; ++c) f.at(r, c) = col ? p[(long long)c * ldm + r] : p[(long long)r * ldm + c];
    emu::sync_warp();
}

template <int M, int N, int K, class T>
inline void load_matrix_sync(fragment<accumulator, M, N, K, T>& f, const T* p, unsigned ldm, layout_t layout) {
    check_matrix_pointer("load_matrix_sync", p, ldm);
    emu::sync_warp();
    for (int r = 0; r < M; ++r)
        for (int c = 0; c < N; ++c)
            f.at(r, c) = layout == mem_col_major ? p[(long long)c * ldm + r] : p[(long long)r * ldm + c];
    emu::sync_warp();
}

template <int M, int N, int K, class T>
inline void store_matrix_sync(T* p, const fragment<accumulator, M, N, K, T>& f, unsigned ldm, layout_t layout) {
    check_matrix_pointer("store_matrix_sync", p, ldm);
    emu::sync_warp();
    for (int r = 0; r < M; ++r)
        for (int c = 0; c < N; ++c) {
            T& out = layout == mem_col_major ? p[(long long)c * ldm + r] : p[(long long)r * ldm + c];
            out = f.at(r, c);
        }
    emu::sync_warp();
}

// d = a·b + c, products and sums in f32.
template <int M, int N, int K, class TA, class LA, class TB, class LB, class TC>
inline void mma_sync(fragment<accumulator, M, N, K, TC>& d, const fragment<matrix_a, M, N, K, TA, LA>& a,
                     const fragment<matrix_b, M, N, K, TB, LB>& b, const fragment<accumulator, M, N, K, TC>& c) {
    TC out[M * N];
    for (int i = 0; i < M; ++i)
        for (int j = 0; j < N; ++j) {
            float acc = c.at(i, j);
            for (int k = 0; k < K; ++k) acc += (float)a.at(i, k) * (float)b.at(k, j);
            out[i * N + j] = acc;
        }
    for (int i = 0; i < M * N; ++i) d.x[i] = out[i];
}

}  // namespace wmma
}  // namespace nvcuda
