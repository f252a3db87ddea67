// C = A·B for row-major A (M, K), B (K, N), C (M, N), in ten versions for study, from the
// textbook loop to Hopper's warpgroup MMA fed by its tensor memory accelerator (versions 8–10 take
// B transposed).

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

// 5. Tensor cores with shared-memory tiles: a block of 8 warps (2 × 4) computes a ROWS×COLS tile of
// C (128×128 here), each warp a (ROWS/2)×(COLS/4) block of it (FM×FN fragments of 16×16, held in
// registers across all of K). Tiles of A (ROWS×32) and B (32×COLS) are staged in shared memory with 16-byte loads, so each
// element read from global memory feeds FM (A) or FN (B) fragments of every warp that needs it.
// Rows are padded by 8 elements (16 bytes) against bank conflicts. M, N, K must be multiples of 16.
#define WM_BK 32
#define WM_PAD 8

// The shape of a block's work (versions 5–7).
template <int ROWS, int COLS>
struct Tiles {
    static constexpr int BLOCK_M = ROWS, BLOCK_N = COLS;
    static constexpr int FM = ROWS / 2 / 16, FN = COLS / 4 / 16;          // a warp's fragments
    static constexpr int A_LD = WM_BK + WM_PAD, B_LD = COLS + WM_PAD;  // staged row strides
    static constexpr int A_ELEMS = ROWS * A_LD, STAGE_ELEMS = A_ELEMS + WM_BK * B_LD;  // one stage: A, then B
};
typedef Tiles<128, 128> Tiles128;  // versions 5 and 6: warps of 64×32
typedef Tiles<128, 256> Tiles256;  // version 7: warps of 64×64

// A warp's block of C: FM×FN accumulator fragments of 16×16, kept in registers across K.
template <class T>
struct WarpTile {
    nvcuda::wmma::fragment<nvcuda::wmma::accumulator, 16, 16, 16, float> acc[T::FM][T::FN];

    __device__ void zero() {
#pragma unroll
        for (int i = 0; i < T::FM; ++i)
#pragma unroll
            for (int j = 0; j < T::FN; ++j) nvcuda::wmma::fill_fragment(acc[i][j], 0.0f);
    }

    // acc += the warp's rows (wy) of the staged A tile × its columns (wx) of the B tile, 16 deep at
    // a time: FM + FN fragment loads feed FM·FN products.
    __device__ void multiply(const __nv_bfloat16* As, const __nv_bfloat16* Bs, int wy, int wx) {
        using namespace nvcuda;
#pragma unroll
        for (int kk = 0; kk < WM_BK; kk += 16) {
            wmma::fragment<wmma::matrix_a, 16, 16, 16, __nv_bfloat16, wmma::row_major> a[T::FM];
            wmma::fragment<wmma::matrix_b, 16, 16, 16, __nv_bfloat16, wmma::row_major> b[T::FN];
#pragma unroll
            for (int i = 0; i < T::FM; ++i)
                wmma::load_matrix_sync(a[i], As + (wy * T::FM * 16 + i * 16) * T::A_LD + kk, T::A_LD);
#pragma unroll
            for (int j = 0; j < T::FN; ++j)
                wmma::load_matrix_sync(b[j], Bs + kk * T::B_LD + wx * T::FN * 16 + j * 16, T::B_LD);
#pragma unroll
            for (int i = 0; i < T::FM; ++i)
#pragma unroll
                for (int j = 0; j < T::FN; ++j) wmma::mma_sync(acc[i][j], a[i], b[j], acc[i][j]);
        }
    }

    // Writes the block of C whose top-left element is (row0, col0); fragments past M or N (whole
    // fragments: M and N are multiples of 16) are skipped.
    __device__ void store(float* C, int M, int N, int row0, int col0) {
#pragma unroll
        for (int i = 0; i < T::FM; ++i)
#pragma unroll
            for (int j = 0; j < T::FN; ++j) {
                int row = row0 + i * 16, col = col0 + j * 16;
                if (row < M && col < N)
                    nvcuda::wmma::store_matrix_sync(C + (long long)row * N + col, acc[i][j], N,
                                                    nvcuda::wmma::mem_row_major);
            }
    }
};

extern "C" __global__ void gemm_wmma_bf16_tiled(int M, int N, int K, const __nv_bfloat16* A, const __nv_bfloat16* B,
                                                float* C) {
    typedef Tiles128 T;
    __shared__ __align__(32) __nv_bfloat16 stage[T::STAGE_ELEMS];
    __nv_bfloat16 *As = stage, *Bs = stage + T::A_ELEMS;
    int warp = threadIdx.x / 32, wy = warp / 4, wx = warp % 4;
    int block_row = blockIdx.y * T::BLOCK_M, block_col = blockIdx.x * T::BLOCK_N;
    WarpTile<T> tile;
    tile.zero();
    const uint4 zero = make_uint4(0, 0, 0, 0);
    for (int k0 = 0; k0 < K; k0 += WM_BK) {
        // 512 chunks of 8 bf16 in each tile, two per thread.
        for (int idx = threadIdx.x; idx < 512; idx += blockDim.x) {
            int r = idx / 4, c8 = (idx % 4) * 8, row = block_row + r;
            *reinterpret_cast<uint4*>(&As[r * T::A_LD + c8]) =
                row < M && k0 + c8 < K ? *reinterpret_cast<const uint4*>(&A[(long long)row * K + k0 + c8]) : zero;
            int kr = idx / 16, n8 = (idx % 16) * 8, col = block_col + n8;
            *reinterpret_cast<uint4*>(&Bs[kr * T::B_LD + n8]) =
                k0 + kr < K && col < N ? *reinterpret_cast<const uint4*>(&B[(long long)(k0 + kr) * N + col]) : zero;
        }
        __syncthreads();
        tile.multiply(As, Bs, wy, wx);
        __syncthreads();
    }
    tile.store(C, M, N, block_row + wy * T::FM * 16, block_col + wx * T::FN * 16);
}

// 6. Tensor cores with a pipeline: version 5's tiles and warp layout, but the next tiles of A and B
// are copied to shared memory with cp.async (global → shared without registers, Ampere and later,
// async_copy.cuh) while the warps multiply the current ones, so loads and math overlap. With
// STAGES buffers in dynamic shared memory, STAGES − 1 tiles are in flight while one is multiplied.
// 7. The same with 128×256 tiles (warps of 64×64: 8 fragment loads feed 16 products instead of 6
// feeding 8) and 4 stages (108 KB of shared memory, one block per SM).

// Copies the K-tile starting at k0 of A (ROWS×32) and B (32×COLS) into one stage and closes the group.
template <class T>
__device__ void load_stage(__nv_bfloat16* stage, int M, int N, int K, const __nv_bfloat16* A,
                           const __nv_bfloat16* B, int block_row, int block_col, int k0) {
    __nv_bfloat16 *As = stage, *Bs = stage + T::A_ELEMS;
    for (int idx = threadIdx.x; idx < T::BLOCK_M * WM_BK / 8; idx += blockDim.x) {
        int r = idx / (WM_BK / 8), c8 = idx % (WM_BK / 8) * 8, row = block_row + r;
        bool ok = row < M && k0 + c8 < K;
        cp_async16(&As[r * T::A_LD + c8], ok ? &A[(long long)row * K + k0 + c8] : A, ok);
    }
    for (int idx = threadIdx.x; idx < WM_BK * T::BLOCK_N / 8; idx += blockDim.x) {
        int kr = idx / (T::BLOCK_N / 8), n8 = idx % (T::BLOCK_N / 8) * 8, col = block_col + n8;
        bool ok = k0 + kr < K && col < N;
        cp_async16(&Bs[kr * T::B_LD + n8], ok ? &B[(long long)(k0 + kr) * N + col] : B, ok);
    }
    cp_async_commit();
}

// The pipelined loop: before tile t is multiplied, tiles up to t + STAGES − 2 have been issued;
// once t has landed and every warp is done with t − 1, its stage takes tile t + STAGES − 1.
template <class T, int STAGES>
__device__ void gemm_wmma_pipelined(int M, int N, int K, const __nv_bfloat16* A, const __nv_bfloat16* B, float* C) {
    // STAGES stages of T::STAGE_ELEMS each.
    extern __shared__ __align__(128) __nv_bfloat16 stages[];
    int warp = threadIdx.x / 32, wy = warp / 4, wx = warp % 4;
    int block_row = blockIdx.y * T::BLOCK_M, block_col = blockIdx.x * T::BLOCK_N;
    WarpTile<T> tile;
    tile.zero();
    int tiles = (K + WM_BK - 1) / WM_BK;
    for (int t = 0; t < STAGES - 1; ++t) {
        if (t < tiles)
            load_stage<T>(stages + t * T::STAGE_ELEMS, M, N, K, A, B, block_row, block_col, t * WM_BK);
        else
            cp_async_commit();  // an empty group keeps the count
    }
    for (int t = 0; t < tiles; ++t) {
        cp_async_wait<STAGES - 2>();  // tile t has landed
        __syncthreads();              // for every thread's copies; and tile t − 1 is read by all
        int next = t + STAGES - 1;
        if (next < tiles)
            load_stage<T>(stages + next % STAGES * T::STAGE_ELEMS, M, N, K, A, B, block_row, block_col, next * WM_BK);
        else
            cp_async_commit();
        const __nv_bfloat16* stage = stages + t % STAGES * T::STAGE_ELEMS;
        tile.multiply(stage, stage + T::A_ELEMS, wy, wx);
    }
    tile.store(C, M, N, block_row + wy * T::FM * 16, block_col + wx * T::FN * 16);
}

extern "C" __global__ void __launch_bounds__(256) gemm_wmma_bf16_pipelined(int M, int N, int K, const __nv_bfloat16* A,
                                                                          const __nv_bfloat16* B, float* C) {
    gemm_wmma_pipelined<Tiles128, 2>(M, N, K, A, B, C);
}

extern "C" __global__ void __launch_bounds__(256, 1) gemm_wmma_bf16_wide(int M, int N, int K, const __nv_bfloat16* A,
                                                                         const __nv_bfloat16* B, float* C) {
    gemm_wmma_pipelined<Tiles256, 4>(M, N, K, A, B, C);
}

// 8. Hopper's warpgroup MMA (wgmma, sm_90a; warpgroup_mma.cuh): a block of 2 warpgroups computes a
// 128×256 tile of C, each warpgroup 64×256 with one asynchronous wgmma per 16-deep slice, reading
// both operands straight from shared memory (no fragment loads through registers). Versions 8
// and 9 take B transposed, as Bᵀ (N, K) row-major, so both operands are K-major: C = A·(Bᵀ)ᵀ.
// Tiles of 64 columns of K (128-byte rows, swizzled as wgmma reads them) arrive by cp.async in a
// 4-stage pipeline (192 KB of dynamic shared memory); while a warpgroup's products on one tile
// run, the next two tiles load. M, N, K must be multiples of 16.
#define WG_BM 128
#define WG_BN 256
#define WG_BK 64
#define WG_STAGES 4
#define WG_STAGE_ELEMS ((WG_BM + WG_BN) * WG_BK)  // A's tile, then Bᵀ's

// Rows [row0, row0 + rows) of a (height, K) row-major bf16 matrix, columns [k0, k0 + 64), into a
// swizzled tile (warpgroup_mma.cuh): the 16-byte chunk c of row r lands at chunk c ^ (r % 8).
// Rows past `height` and columns past K are zeros.
__device__ void load_swizzled_tile(__nv_bfloat16* tile, const __nv_bfloat16* src, int rows, int row0, int height,
                                   int K, int k0) {
    for (int idx = threadIdx.x; idx < rows * 8; idx += blockDim.x) {
        int r = idx / 8, c = idx % 8, row = row0 + r, k = k0 + c * 8;
        bool ok = row < height && k < K;
        cp_async16(tile + r * WG_BK + (c ^ (r % 8)) * 8, ok ? src + (long long)row * K + k : src, ok);
    }
}

#ifdef HAS_WGMMA
// The stages of versions 8 and 9: from the first 1024-byte boundary of dynamic shared memory (the
// swizzle's unit).
__device__ __nv_bfloat16* aligned_stages(unsigned char* shared_bytes) {
    unsigned misalignment = (unsigned)__cvta_generic_to_shared(shared_bytes) % 1024;
    return (__nv_bfloat16*)(shared_bytes + (1024 - misalignment) % 1024);
}

// Issues this warpgroup's products on one staged tile, as one group: d += its 64 rows of A times
// Bᵀ's 256 rows, 64 deep in four 16-deep slices (a slice is 32 bytes further along each row);
// `first`: d = that product (its first slice overwrites d).
__device__ void wgmma_tile(float (&d)[128], const __nv_bfloat16* stage, int warpgroup, bool first) {
    const __nv_bfloat16 *a = stage + warpgroup * 64 * WG_BK, *b = stage + WG_BM * WG_BK;
    wgmma_fence();
#pragma unroll
    for (int kk = 0; kk < WG_BK; kk += 16)
        wgmma_m64n256k16(d, wgmma_descriptor(a + kk), wgmma_descriptor(b + kk), !(first && kk == 0));
    wgmma_commit();
}

// Asks the copy engine for tile t (columns 64·t… of K) of A's and Bᵀ's rows at this block, into
// its stage, and tells the stage's barrier how many bytes are coming (versions 9 and 10).
__device__ void tma_load_tile(__nv_bfloat16* stages, unsigned long long* landed, const TensorMap* a_map,
                              const TensorMap* bt_map, int t, int block_row, int block_col) {
    __nv_bfloat16* stage = stages + t % WG_STAGES * WG_STAGE_ELEMS;
    unsigned long long* bar = &landed[t % WG_STAGES];
    mbarrier_expect_bytes(bar, WG_STAGE_ELEMS * 2);
    tma_load_2d(stage, a_map, t * WG_BK, block_row, bar);
    tma_load_2d(stage + WG_BM * WG_BK, bt_map, t * WG_BK, block_col, bar);
}

// Writes a warpgroup's 64×256 block of C, whose top-left element is (row0, col0): thread t holds
// rows r and r + 8 of its warp's 16, two columns of every 8 (warpgroup_mma.cuh).
__device__ void store_wgmma_tile(const float (&d)[128], float* C, int M, int N, int row0, int col0) {
    int lane = threadIdx.x % 32, warp = threadIdx.x % 128 / 32, row = row0 + warp * 16 + lane / 4;
#pragma unroll
    for (int j = 0; j < 32; ++j) {
        int col = col0 + j * 8 + lane % 4 * 2;
#pragma unroll
        for (int h = 0; h < 2; ++h)
            if (row + 8 * h < M && col < N)
                *reinterpret_cast<float2*>(&C[(long long)(row + 8 * h) * N + col]) =
                    make_float2(d[4 * j + 2 * h], d[4 * j + 2 * h + 1]);
    }
}
#endif

extern "C" __global__ void __launch_bounds__(256, 1)
    gemm_wgmma_bf16(int M, int N, int K, const __nv_bfloat16* A, const __nv_bfloat16* Bt, float* C) {
#ifdef HAS_WGMMA
    const int ahead = WG_STAGES - 2;  // tiles loading while one is multiplied and one finishes
    extern __shared__ __align__(1024) unsigned char shared_bytes[];
    __nv_bfloat16* stages = aligned_stages(shared_bytes);
    int warpgroup = threadIdx.x / 128, block_row = blockIdx.y * WG_BM, block_col = blockIdx.x * WG_BN;
    int tiles = (K + WG_BK - 1) / WG_BK;
    auto load = [&](int t) {
        if (t < tiles) {
            __nv_bfloat16* stage = stages + t % WG_STAGES * WG_STAGE_ELEMS;
            load_swizzled_tile(stage, A, WG_BM, block_row, M, K, t * WG_BK);
            load_swizzled_tile(stage + WG_BM * WG_BK, Bt, WG_BN, block_col, N, K, t * WG_BK);
        }
        cp_async_commit();  // empty past the last tile, so every iteration counts one group
    };
    float d[128];  // set by the first tile's products
    for (int t = 0; t < ahead; ++t) load(t);
    for (int t = 0; t < tiles; ++t) {
        cp_async_wait<ahead - 1>();  // tile t has landed
        fence_shared_for_wgmma();
        __syncthreads();  // every thread's copies of tile t are in; both warpgroups finished t − 2
        load(t + ahead);  // into the stage of tile t − 2
        wgmma_tile(d, stages + t % WG_STAGES * WG_STAGE_ELEMS, warpgroup, t == 0);
        wgmma_wait<1>();  // tile t − 1's products are done: its stage is free
    }
    wgmma_wait<0>();
    store_wgmma_tile(d, C, M, N, block_row + warpgroup * 64, block_col);
#endif
}

// 9. Version 8 fed by the tensor memory accelerator (tensor_copy.cuh): one thread asks for each
// tile of A and Bᵀ with a single instruction, the copy engine writes it swizzled (and zero-fills
// past the edges), and each stage's barrier tells the warpgroups when its bytes have landed. No
// thread spends instructions on copies, and three tiles load while one is multiplied.
extern "C" __global__ void __launch_bounds__(256, 1)
    gemm_wgmma_tma_bf16(int M, int N, int K, const __grid_constant__ TensorMap a_map,
                        const __grid_constant__ TensorMap bt_map, float* C) {
#ifdef HAS_WGMMA
    extern __shared__ __align__(1024) unsigned char shared_bytes[];
    __nv_bfloat16* stages = aligned_stages(shared_bytes);
    unsigned long long* landed = (unsigned long long*)(stages + WG_STAGES * WG_STAGE_ELEMS);  // a barrier per stage
    int warpgroup = threadIdx.x / 128, block_row = blockIdx.y * WG_BM, block_col = blockIdx.x * WG_BN;
    int tiles = (K + WG_BK - 1) / WG_BK;
    if (threadIdx.x == 0) {
        for (int s = 0; s < WG_STAGES; ++s) mbarrier_init(&landed[s], 1);
        fence_barrier_init();
    }
    __syncthreads();
    auto load = [&](int t) {
        if (threadIdx.x == 0 && t < tiles) tma_load_tile(stages, landed, &a_map, &bt_map, t, block_row, block_col);
    };
    float d[128];  // set by the first tile's products
    for (int t = 0; t < WG_STAGES - 1; ++t) load(t);
    for (int t = 0; t < tiles; ++t) {
        mbarrier_wait(&landed[t % WG_STAGES], t / WG_STAGES % 2);  // the stage's (t / STAGES)-th fill
        wgmma_tile(d, stages + t % WG_STAGES * WG_STAGE_ELEMS, warpgroup, t == 0);
        wgmma_wait<1>();   // tile t − 1's products are done
        __syncthreads();   // in both warpgroups: its stage is free
        load(t - 1 + WG_STAGES);
    }
    wgmma_wait<0>();
    store_wgmma_tile(d, C, M, N, block_row + warpgroup * 64, block_col);
#endif
}

// 10. Version 9 with its warps specialised: a third warpgroup only loads (one of its threads issues
// the copies), the other two only multiply, and no barrier stops all three each tile. Each stage
// has two mbarriers: `landed` (its bytes are in; the multiplying warps wait on it) and `consumed`
// (every multiplying warp is done with it; the loader waits on it before it refills the stage).
extern "C" __global__ void __launch_bounds__(384, 1)
    gemm_wgmma_specialized_bf16(int M, int N, int K, const __grid_constant__ TensorMap a_map,
                                const __grid_constant__ TensorMap bt_map, float* C) {
#ifdef HAS_WGMMA
    extern __shared__ __align__(1024) unsigned char shared_bytes[];
    __nv_bfloat16* stages = aligned_stages(shared_bytes);
    unsigned long long* landed = (unsigned long long*)(stages + WG_STAGES * WG_STAGE_ELEMS);
    unsigned long long* consumed = landed + WG_STAGES;
    const int multiplying_warps = 8;
    int role = threadIdx.x / 128, block_row = blockIdx.y * WG_BM, block_col = blockIdx.x * WG_BN;
    int tiles = (K + WG_BK - 1) / WG_BK;
    if (threadIdx.x == 0) {
        for (int s = 0; s < WG_STAGES; ++s) {
            mbarrier_init(&landed[s], 1);
            mbarrier_init(&consumed[s], multiplying_warps);
        }
        fence_barrier_init();
    }
    __syncthreads();
    if (role == 2) {  // the loader
        if (threadIdx.x != 256) return;
        for (int t = 0; t < tiles; ++t) {
            // The stage's previous tile must be done with first.
            if (t >= WG_STAGES) mbarrier_wait(&consumed[t % WG_STAGES], (t / WG_STAGES - 1) % 2);
            tma_load_tile(stages, landed, &a_map, &bt_map, t, block_row, block_col);
        }
        return;
    }
    float d[128];  // warpgroups 0 and 1 multiply: rows 64·role… of the tile
    for (int t = 0; t < tiles; ++t) {
        mbarrier_wait(&landed[t % WG_STAGES], t / WG_STAGES % 2);
        wgmma_tile(d, stages + t % WG_STAGES * WG_STAGE_ELEMS, role, t == 0);
        wgmma_wait<1>();  // tile t − 1's products are done: this warp frees its stage
        if (t > 0 && threadIdx.x % 32 == 0) mbarrier_arrive(&consumed[(t - 1) % WG_STAGES]);
    }
    wgmma_wait<0>();
    store_wgmma_tile(d, C, M, N, block_row + role * 64, block_col);
#endif
}
