// Hopper's warpgroup matrix multiply (wgmma, sm_90a): the 4 warps of a warpgroup (128 threads)
// issue one asynchronous product D (64 × N, f32, in their registers) += A (64 × 16) · Bᵀ (16 × N),
// both operands read by the tensor cores straight from shared memory, described by 64-bit
// descriptors. Prepended to gemm.cu after async_copy.cuh. The CPU emulator
// (kernels/emulator/cpp/cuda_emulator.hpp) defines these functions itself, with the same layouts.
//
// Operand layout ("K-major, 128-byte swizzle"): a tile of rows of 64 bf16 (128 bytes) each, rows
// 128 bytes apart, groups of 8 rows 1024 bytes apart, the tile 1024-byte aligned; within each
// 8-row group the 16-byte chunk c of row r is stored at chunk c ^ (r % 8) (so the 8 rows' chunk c
// fall in 8 different banks). A descriptor names the start of a 16-wide slice of such a tile:
// the tile's address plus 32 bytes per slice; the hardware applies the swizzle to the address.
// wgmma exists only on sm_90a (the H100's architecture-specific target): elsewhere the kernels that
// use it compile to nothing (`HAS_WGMMA` unset) and the launcher refuses them.
#if defined(__CUDA_ARCH_FEAT_SM90_ALL) || defined(CUDA_EMULATOR)
#define HAS_WGMMA 1
#endif
#ifdef HAS_WGMMA
// The shared-memory descriptor of a K-major, 128-byte-swizzled bf16 operand starting at `slice`:
// bits 0–13 its shared address / 16, 16–29 the leading byte offset / 16 (unused by this layout:
// 1), 32–45 the stride between 8-row groups / 16 (1024 bytes: 64), 62–63 the swizzle (1: 128 B).
__device__ unsigned long long wgmma_descriptor(const void* slice) {
    unsigned long long address = (unsigned)__cvta_generic_to_shared(slice);
    return ((address & 0x3FFFF) >> 4) | (1ull << 16) | (64ull << 32) | (1ull << 62);
}
#endif

#if defined(__CUDA_ARCH_FEAT_SM90_ALL) && !defined(CUDA_EMULATOR)

// Orders this thread's register and shared-memory accesses before the products issued next.
__device__ void wgmma_fence() { asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory"); }

// Makes the shared-memory writes of this thread's ordinary stores and cp.async copies visible to
// the tensor cores' reads (the async proxy).
__device__ void fence_shared_for_wgmma() { asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory"); }

// Closes the group of products issued so far.
__device__ void wgmma_commit() { asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory"); }

// Waits until at most N groups of products are still running; until then their accumulators may
// not be touched and their operands not overwritten.
template <int N>
__device__ void wgmma_wait() {
    asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(N) : "memory");
}

// d (64 × 256 per warpgroup, 128 floats per thread) += A (64 × 16) · Bᵀ (256 × 16), bf16 operands
// at descriptors a and b; with `accumulate` 0, d = A·Bᵀ (d need not be set before: zeroing it first
// would be instructions writing the accumulators between products, which ptxas answers by
// serializing them). Thread t of the warpgroup holds, for each 8 columns j = 0…31, the
// elements (16·(t / 32) + t % 32 / 4 + 8·h, 8j + 2·(t % 4) + e) as d[4j + 2h + e], h, e ∈ {0, 1}.
__device__ void wgmma_m64n256k16(float (&d)[128], unsigned long long a, unsigned long long b, int accumulate) {
    asm volatile(
        "{\n"
        ".reg .pred accumulate;\n"
        "setp.ne.b32 accumulate, %130, 0;\n"
        "wgmma.mma_async.sync.aligned.m64n256k16.f32.bf16.bf16 "
        "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, "
        "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, "
        "%32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, "
        "%48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63, "
        "%64, %65, %66, %67, %68, %69, %70, %71, %72, %73, %74, %75, %76, %77, %78, %79, "
        "%80, %81, %82, %83, %84, %85, %86, %87, %88, %89, %90, %91, %92, %93, %94, %95, "
        "%96, %97, %98, %99, %100, %101, %102, %103, %104, %105, %106, %107, %108, %109, %110, %111, "
        "%112, %113, %114, %115, %116, %117, %118, %119, %120, %121, %122, %123, %124, %125, %126, %127}, "
        "%128, %129, accumulate, 1, 1, 0, 0;\n"
        "}\n"
#define D8(i) "+f"(d[i]), "+f"(d[i + 1]), "+f"(d[i + 2]), "+f"(d[i + 3]), "+f"(d[i + 4]), "+f"(d[i + 5]), \
              "+f"(d[i + 6]), "+f"(d[i + 7])
        : D8(0), D8(8), D8(16), D8(24), D8(32), D8(40), D8(48), D8(56), D8(64), D8(72), D8(80), D8(88), D8(96),
          D8(104), D8(112), D8(120)
#undef D8
        : "l"(a), "l"(b), "r"(accumulate));
}

#endif
