// Hopper's tensor memory accelerator (TMA, sm_90a): one thread asks for a whole tile of a 2-D tensor
// (a "box", described on the host by a tensor map, cuTensorMapEncodeTiled), and the copy engine
// writes it into shared memory, already swizzled, zero-filling whatever lies past the tensor's
// edges. The copy reports its bytes to a shared-memory barrier (mbarrier), on which the threads
// that read the tile wait. Prepended to gemm.cu after warpgroup_mma.cuh (HAS_WGMMA). The CPU
// emulator (kernels/emulator/cpp/cuda_emulator.hpp) defines these functions itself, with the same semantics.

// A tensor map as the host encodes it: 128 opaque bytes, passed to the kernel by value
// (`const __grid_constant__`, so the copy engine may read it where it lies).
struct __align__(128) TensorMap {
    unsigned long long opaque[16];
};

#if defined(__CUDA_ARCH_FEAT_SM90_ALL) && !defined(CUDA_EMULATOR)

// Readies the barrier at `bar` (shared memory) for `arrivals` arrivals per phase; then
// fence_barrier_init and __syncthreads before anyone uses it.
__device__ void mbarrier_init(unsigned long long* bar, unsigned arrivals) {
    asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"((unsigned)__cvta_generic_to_shared(bar)),
                 "r"(arrivals));
}

// Makes the barriers' initialisation visible to the copy engine.
__device__ void fence_barrier_init() { asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory"); }

// Arrives at `bar` and tells it `bytes` more are on their way: the phase completes once every
// arrival is in and all those bytes have landed.
__device__ void mbarrier_expect_bytes(unsigned long long* bar, unsigned bytes) {
    asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" ::"r"(
                     (unsigned)__cvta_generic_to_shared(bar)),
                 "r"(bytes)
                 : "memory");
}

// Arrives at `bar` (no bytes): one of the arrivals its phase waits for.
__device__ void mbarrier_arrive(unsigned long long* bar) {
    asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];\n" ::"r"((unsigned)__cvta_generic_to_shared(bar)) : "memory");
}

// Waits until the phase of `bar` with this parity (0 for its 1st, 3rd, … completion) is complete.
__device__ void mbarrier_wait(unsigned long long* bar, unsigned parity) {
    asm volatile(
        "{\n"
        ".reg .pred done;\n"
        "WAIT:\n"
        "mbarrier.try_wait.parity.shared::cta.b64 done, [%0], %1;\n"
        "@done bra.uni DONE;\n"
        "bra.uni WAIT;\n"
        "DONE:\n"
        "}\n" ::"r"((unsigned)__cvta_generic_to_shared(bar)),
        "r"(parity)
        : "memory");
}

// Copies the box of `map` whose first element is (x, y) — x along the contiguous dim — into
// shared memory at `dst` (1024-byte aligned for the 128-byte swizzle), reporting its bytes to `bar`.
__device__ void tma_load_2d(void* dst, const TensorMap* map, int x, int y, unsigned long long* bar) {
    asm volatile(
        "cp.async.bulk.tensor.2d.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1, {%3, %4}], [%2];\n" ::"r"(
            (unsigned)__cvta_generic_to_shared(dst)),
        "l"(map), "r"((unsigned)__cvta_generic_to_shared(bar)), "r"(x), "r"(y)
        : "memory");
}

#endif
