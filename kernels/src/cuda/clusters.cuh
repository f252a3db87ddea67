// Hopper's thread-block clusters (sm_90 and later): the blocks of a cluster are scheduled together
// on neighbouring SMs of one GPC, may read and write one another's shared memory (distributed
// shared memory, DSMEM, through ordinary loads and stores at a mapped address) and wait for one
// another at a cluster barrier. The launch asks for them (launch::run_in_clusters: the cluster
// dimension of cuLaunchKernelEx); a cluster of n blocks is n consecutive blocks along x. A kernel
// launched in clusters keeps its shared memory dynamic: the CPU emulator, which defines these
// functions itself (kernels/emulator/cpp/cuda_emulator.hpp), gives each block of a cluster its own dynamic
// shared memory but one copy of the static `__shared__` variables.
#if (defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900) || defined(CUDA_EMULATOR)
#define HAS_CLUSTERS 1
#endif

#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900 && !defined(CUDA_EMULATOR)

// This block's place in its cluster, 0 … cluster_blocks() − 1.
__device__ unsigned cluster_block_rank() {
    unsigned rank;
    asm volatile("mov.u32 %0, %%cluster_ctarank;\n" : "=r"(rank));
    return rank;
}

// The number of blocks in this block's cluster.
__device__ unsigned cluster_blocks() {
    unsigned blocks;
    asm volatile("mov.u32 %0, %%cluster_nctarank;\n" : "=r"(blocks));
    return blocks;
}

// Waits until every thread of every block of the cluster has arrived. The memory writes before it
// (release) are visible to every thread of the cluster after it (acquire); passed once, it also
// means every block has started, so its shared memory may be written by the others.
__device__ void cluster_sync() {
    asm volatile(
        "barrier.cluster.arrive.release.aligned;\n"
        "barrier.cluster.wait.acquire.aligned;\n" ::
            : "memory");
}

// The address of `p` (in this block's shared memory) at the same place in the shared memory of
// block `rank` of the cluster: a generic address, read and written with ordinary loads and stores.
template <class T>
__device__ T* peer_shared(T* p, unsigned rank) {
    unsigned long long peer;
    asm volatile("mapa.u64 %0, %1, %2;\n" : "=l"(peer) : "l"(p), "r"(rank));
    return reinterpret_cast<T*>(peer);
}

#endif
