// C = A·B for row-major A (M, K), B (K, N), C (M, N), in four versions for study, from the
// textbook loop to tensor cores.

#include <cuda_bf16.h>
#include <mma.h>

// 1. Naive: one thread per element of C, reading a row of A and a column of B from global memory.
extern "C" __global__ void gemm_naive(int M, int N, int K, const float* A, const float* B, float* C) {
    int row = blockIdx.y * blockDim.y + threadIdx.y, col = blockIdx.x * blockDim.x + threadIdx.x;
    if (row >= M || col >= N) return;
    float acc = 0.0f;
    for (int k = 0; k < K; ++k) acc += A[(long long)row * K + k] * B[(long long)k * N + col];
    C[(long long)row * N + col] = acc;
}

// 2. Shared-memory tiles: a 32×32 block of threads loads 32×32 tiles of A and B once into shared
// memory and every thread reuses them 32 times (launch with blockDim 32×32).
#define TILE 32
extern "C" __global__ void gemm_tiled(int M, int N, int K, const float* A, const float* B, float* C) {
    __shared__ float As[TILE][TILE];
    __shared__ float Bs[TILE][TILE + 1];
    int row = blockIdx.y * TILE + threadIdx.y, col = blockIdx.x * TILE + threadIdx.x;
    float acc = 0.0f;
    for (int k0 = 0; k0 < K; k0 += TILE) {
        As[threadIdx.y][threadIdx.x] = (row < M && k0 + threadIdx.x < K) ? A[(long long)row * K + k0 + threadIdx.x] : 0.0f;
        Bs[threadIdx.y][threadIdx.x] = (k0 + threadIdx.y < K && col < N) ? B[(long long)(k0 + threadIdx.y) * N + col] : 0.0f;
        __syncthreads();
        for (int k = 0; k < TILE; ++k) acc += As[threadIdx.y][k] * Bs[k][threadIdx.x];
        __syncthreads();
    }
    if (row < M && col < N) C[(long long)row * N + col] = acc;
}

// 3. 2-D register blocking: a block of 16×16 threads computes a 128×128 tile of C, each thread an
// 8×8 sub-tile held in registers; tiles of A (128×8) and B (8×128) are staged in shared memory with
// float4 loads (requires K and N multiples of 4 and 16-byte aligned rows; edges are guarded).
#define BM 128
#define BN 128
#define BK 8
#define TM 8
#define TN 8
extern "C" __global__ void gemm_register_blocked(int M, int N, int K, const float* A, const float* B, float* C) {
    __shared__ float As[BK][BM];  // A tile stored transposed: As[k][m]
    __shared__ float Bs[BK][BN];
    int tid = threadIdx.y * 16 + threadIdx.x;
    int block_row = blockIdx.y * BM, block_col = blockIdx.x * BN;
    float acc[TM][TN] = {0.0f};
    float a_frag[TM], b_frag[TN];
    for (int k0 = 0; k0 < K; k0 += BK) {
        // 256 threads load 128×8 of A and 8×128 of B: one float4 each.
        int a_row = tid / 2, a_col = (tid % 2) * 4;
        int gr = block_row + a_row;
        for (int j = 0; j < 4; ++j) {
            int gk = k0 + a_col + j;
            As[a_col + j][a_row] = (gr < M && gk < K) ? A[(long long)gr * K + gk] : 0.0f;
        }
        int b_row = tid / 32, b_col = (tid % 32) * 4;
        int gk = k0 + b_row, gc = block_col + b_col;
        if (gk < K && gc + 3 < N) {
            float4 v = *reinterpret_cast<const float4*>(&B[(long long)gk * N + gc]);
            Bs[b_row][b_col] = v.x;
            Bs[b_row][b_col + 1] = v.y;
            Bs[b_row][b_col + 2] = v.z;
            Bs[b_row][b_col + 3] = v.w;
        } else {
            for (int j = 0; j < 4; ++j) Bs[b_row][b_col + j] = (gk < K && gc + j < N) ? B[(long long)gk * N + gc + j] : 0.0f;
        }
        __syncthreads();
        for (int k = 0; k < BK; ++k) {
            for (int i = 0; i < TM; ++i) a_frag[i] = As[k][threadIdx.y * TM + i];
            for (int j = 0; j < TN; ++j) b_frag[j] = Bs[k][threadIdx.x * TN + j];
            for (int i = 0; i < TM; ++i)
                for (int j = 0; j < TN; ++j) acc[i][j] += a_frag[i] * b_frag[j];
        }
        __syncthreads();
    }
    for (int i = 0; i < TM; ++i) {
        int r = block_row + threadIdx.y * TM + i;
        for (int j = 0; j < TN; ++j) {
            int c = block_col + threadIdx.x * TN + j;
            if (r < M && c < N) C[(long long)r * N + c] = acc[i][j];
        }
    }
}

// 4. Tensor cores (WMMA): bf16 inputs, f32 accumulation. A block of 4 warps (128 threads) computes a
// 32×32 tile of C, each warp one 16×16 fragment, stepping K by 16. M, N, K must be multiples of 16.
extern "C" __global__ void gemm_wmma_bf16(int M, int N, int K, const __nv_bfloat16* A, const __nv_bfloat16* B,
                                          float* C) {
    using namespace nvcuda;
    int warp = threadIdx.x / 32;
    int tile_row = blockIdx.y * 32 + (warp / 2) * 16, tile_col = blockIdx.x * 32 + (warp % 2) * 16;
    if (tile_row >= M || tile_col >= N) return;
    wmma::fragment<wmma::matrix_a, 16, 16, 16, __nv_bfloat16, wmma::row_major> a;
    wmma::fragment<wmma::matrix_b, 16, 16, 16, __nv_bfloat16, wmma::row_major> b;
    wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
    wmma::fill_fragment(acc, 0.0f);
    for (int k = 0; k < K; k += 16) {
        wmma::load_matrix_sync(a, A + (long long)tile_row * K + k, K);
        wmma::load_matrix_sync(b, B + (long long)k * N + tile_col, N);
        wmma::mma_sync(acc, a, b, acc);
    }
    wmma::store_matrix_sync(C + (long long)tile_row * N + tile_col, acc, N, wmma::mem_row_major);
}

// 5. Tensor cores with shared-memory tiles: a block of 8 warps computes a 128×128 tile of C, each
// warp a 64×32 block of it (4×2 fragments of 16×16, held in registers across all of K). Tiles of A
// (128×32) and B (32×128) are staged in shared memory with 16-byte loads, so each element read
// from global memory feeds 4 (A) or 2 (B) fragments of every warp that needs it. Rows are padded
// by 8 elements (16 bytes) against bank conflicts. M, N, K must be multiples of 16.
#define WM_BM 128
#define WM_BN 128
#define WM_BK 32
#define WM_PAD 8

// A warp's 64×32 block of C: 4×2 accumulator fragments of 16×16, kept in registers across K.
typedef nvcuda::wmma::fragment<nvcuda::wmma::accumulator, 16, 16, 16, float> WarpTile[4][2];

__device__ void zero_warp_tile(WarpTile& acc) {
#pragma unroll
    for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int j = 0; j < 2; ++j) nvcuda::wmma::fill_fragment(acc[i][j], 0.0f);
}

// acc += the warp's rows (wy) of the A tile × its columns (wx) of the B tile, one K-tile in shared
// memory, 16 deep at a time.
__device__ void mma_k_tile(WarpTile& acc, const __nv_bfloat16 (*As)[WM_BK + WM_PAD],
                           const __nv_bfloat16 (*Bs)[WM_BN + WM_PAD], int wy, int wx) {
    using namespace nvcuda;
#pragma unroll
    for (int kk = 0; kk < WM_BK; kk += 16) {
        wmma::fragment<wmma::matrix_a, 16, 16, 16, __nv_bfloat16, wmma::row_major> a[4];
        wmma::fragment<wmma::matrix_b, 16, 16, 16, __nv_bfloat16, wmma::row_major> b[2];
#pragma unroll
        for (int i = 0; i < 4; ++i) wmma::load_matrix_sync(a[i], &As[wy * 64 + i * 16][kk], WM_BK + WM_PAD);
#pragma unroll
        for (int j = 0; j < 2; ++j) wmma::load_matrix_sync(b[j], &Bs[kk][wx * 32 + j * 16], WM_BN + WM_PAD);
#pragma unroll
        for (int i = 0; i < 4; ++i)
#pragma unroll
            for (int j = 0; j < 2; ++j) wmma::mma_sync(acc[i][j], a[i], b[j], acc[i][j]);
    }
}

// Writes the warp's block of C, whose top-left element is (row0, col0); fragments past M or N (whole
// fragments: M and N are multiples of 16) are skipped.
__device__ void store_warp_tile(WarpTile& acc, float* C, int M, int N, int row0, int col0) {
#pragma unroll
    for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int j = 0; j < 2; ++j) {
            int row = row0 + i * 16, col = col0 + j * 16;
            if (row < M && col < N)
                nvcuda::wmma::store_matrix_sync(C + (long long)row * N + col, acc[i][j], N, nvcuda::wmma::mem_row_major);
        }
}
extern "C" __global__ void gemm_wmma_bf16_tiled(int M, int N, int K, const __nv_bfloat16* A, const __nv_bfloat16* B,
                                                float* C) {
    using namespace nvcuda;
    __shared__ __align__(32) __nv_bfloat16 As[WM_BM][WM_BK + WM_PAD];
    __shared__ __align__(32) __nv_bfloat16 Bs[WM_BK][WM_BN + WM_PAD];
    int warp = threadIdx.x / 32, wy = warp / 4, wx = warp % 4;
    int block_row = blockIdx.y * WM_BM, block_col = blockIdx.x * WM_BN;
    WarpTile acc;
    zero_warp_tile(acc);
    const uint4 zero = make_uint4(0, 0, 0, 0);
    for (int k0 = 0; k0 < K; k0 += WM_BK) {
        // 512 chunks of 8 bf16 in each tile, two per thread.
        for (int idx = threadIdx.x; idx < 512; idx += blockDim.x) {
            int r = idx / 4, c8 = (idx % 4) * 8, row = block_row + r;
            *reinterpret_cast<uint4*>(&As[r][c8]) =
                row < M && k0 + c8 < K ? *reinterpret_cast<const uint4*>(&A[(long long)row * K + k0 + c8]) : zero;
            int kr = idx / 16, n8 = (idx % 16) * 8, col = block_col + n8;
            *reinterpret_cast<uint4*>(&Bs[kr][n8]) =
                k0 + kr < K && col < N ? *reinterpret_cast<const uint4*>(&B[(long long)(k0 + kr) * N + col]) : zero;
        }
        __syncthreads();
        mma_k_tile(acc, As, Bs, wy, wx);
        __syncthreads();
    }
    store_warp_tile(acc, C, M, N, block_row + wy * 64, block_col + wx * 32);
}

// 6. Tensor cores with a two-stage pipeline: version 5's tiles and warp layout, but the next tiles of
// A and B are copied to shared memory with cp.async (global → shared without registers, Ampere and
// later, async_copy.cuh) while the warps multiply the current ones, so loads and math overlap.
// Copies the K-tile starting at k0 of A (128×32) and B (32×128) into one stage.
__device__ void load_stage(__nv_bfloat16 (*As)[WM_BK + WM_PAD], __nv_bfloat16 (*Bs)[WM_BN + WM_PAD], int M, int N,
                           int K, const __nv_bfloat16* A, const __nv_bfloat16* B, int block_row, int block_col,
                           int k0) {
    for (int idx = threadIdx.x; idx < 512; idx += blockDim.x) {
        int r = idx / 4, c8 = (idx % 4) * 8, row = block_row + r;
        bool a_ok = row < M && k0 + c8 < K;
        cp_async16(&As[r][c8], a_ok ? &A[(long long)row * K + k0 + c8] : A, a_ok);
        int kr = idx / 16, n8 = (idx % 16) * 8, col = block_col + n8;
        bool b_ok = k0 + kr < K && col < N;
        cp_async16(&Bs[kr][n8], b_ok ? &B[(long long)(k0 + kr) * N + col] : B, b_ok);
    }
    cp_async_commit();
}

extern "C" __global__ void gemm_wmma_bf16_pipelined(int M, int N, int K, const __nv_bfloat16* A,
                                                    const __nv_bfloat16* B, float* C) {
    using namespace nvcuda;
    __shared__ __align__(128) __nv_bfloat16 As[2][WM_BM][WM_BK + WM_PAD];
    __shared__ __align__(128) __nv_bfloat16 Bs[2][WM_BK][WM_BN + WM_PAD];
    int warp = threadIdx.x / 32, wy = warp / 4, wx = warp % 4;
    int block_row = blockIdx.y * WM_BM, block_col = blockIdx.x * WM_BN;
    WarpTile acc;
    zero_warp_tile(acc);
    int tiles = (K + WM_BK - 1) / WM_BK;
    load_stage(As[0], Bs[0], M, N, K, A, B, block_row, block_col, 0);
    for (int t = 0; t < tiles; ++t) {
        int stage = t % 2;
        if (t + 1 < tiles) {
            load_stage(As[1 - stage], Bs[1 - stage], M, N, K, A, B, block_row, block_col, (t + 1) * WM_BK);
            cp_async_wait<1>();  // tile t has landed; t + 1 may still fly
        } else {
            cp_async_wait<0>();
        }
        __syncthreads();
        mma_k_tile(acc, As[stage], Bs[stage], wy, wx);
        __syncthreads();  // this stage is refilled two tiles from now
    }
    store_warp_tile(acc, C, M, N, block_row + wy * 64, block_col + wx * 32);
}
