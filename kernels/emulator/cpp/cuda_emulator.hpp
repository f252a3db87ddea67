// A CUDA emulator for tests and study: the kernel sources compile unchanged as C++ (g++) and run on
// the CPU. Every thread of a block is a fiber with its own stack; the fibers of a block
// take turns and switch only at barriers (__syncthreads, warp shuffles, warp-collective WMMA
// loads and stores), so a block runs deterministically on one OS thread. `__shared__` variables
// are `static`: one copy, shared by the threads of the block that is running (blocks run one after
// another, except the blocks of a thread-block cluster, which run together, each with its own
// dynamic shared memory but sharing the static variables). Each round of the scheduler visits the
// fibers in a shuffled order, so a missing __syncthreads shows as a wrong result rather than
// hiding behind thread order.
//
// What it does not model: timing, the memory model beyond barriers, warp divergence costs,
// launch limits (registers, static shared memory). Intrinsics map to their exact C++ counterparts;
// warpgroup MMA and TMA copies follow the PTX ISA's layouts, and run when they are waited for.
#pragma once
#define CUDA_EMULATOR 1

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>

#include "tensor_map.h"

#include <map>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

// ---- Language extensions --------------------------------------------------------------------
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __align__(n) __attribute__((aligned(n)))
#define __shared__ static
#define __grid_constant__

// What the emulator's library exports (every other symbol is hidden: each library its own state).
#define EMU_EXPORT extern "C" __attribute__((visibility("default")))

struct uint3 { unsigned x, y, z; };
struct dim3 { unsigned x = 1, y = 1, z = 1; };

// CUDA's vector types. On the GPU a vector load or store must be aligned to the vector's size (a
// misaligned one faults: "misaligned address"); here reading one from, or writing one to, a
// misaligned address is a broken contract the launch reports, so a float4 path taken for a row
// that does not start 16-byte aligned fails in the emulator as it would on the GPU.
namespace emu {
inline void vector_access(const void* to, const void* from, size_t bytes);
}
#define EMU_VECTOR(name, bytes, T, ...)                                                  \
    struct alignas(bytes) name {                                                         \
        T __VA_ARGS__;                                                                   \
        name() = default;                                                                \
        name(const name& other) { *this = other; }                                       \
        name& operator=(const name& other) {                                             \
            emu::vector_access(this, &other, bytes);                                     \
            memcpy(static_cast<void*>(this), &other, bytes);                             \
            return *this;                                                                \
        }                                                                                \
    };
EMU_VECTOR(float4, 16, float, x, y, z, w)
EMU_VECTOR(float2, 8, float, x, y)
EMU_VECTOR(uint2, 8, unsigned, x, y)
EMU_VECTOR(uint4, 16, unsigned, x, y, z, w)
#undef EMU_VECTOR
inline float4 make_float4(float x, float y, float z, float w) { float4 v; v.x = x, v.y = y, v.z = z, v.w = w; return v; }
inline float2 make_float2(float x, float y) { float2 v; v.x = x, v.y = y; return v; }
inline uint2 make_uint2(unsigned x, unsigned y) { uint2 v; v.x = x, v.y = y; return v; }
inline uint4 make_uint4(unsigned x, unsigned y, unsigned z, unsigned w) { uint4 v; v.x = x, v.y = y, v.z = z, v.w = w; return v; }

// The running thread's coordinates, set by the scheduler before it resumes a fiber.
inline uint3 threadIdx, blockIdx;
inline dim3 blockDim, gridDim;
constexpr int warpSize = 32;

template <class A, class B> inline auto min(A a, B b) { return a < b ? a : b; }
template <class A, class B> inline auto max(A a, B b) { return a > b ? a : b; }

inline float __int_as_float(int i) { float f; memcpy(&f, &i, 4); return f; }
inline int __float_as_int(float f) { int i; memcpy(&i, &f, 4); return i; }
inline unsigned __float_as_uint(float f) { unsigned i; memcpy(&i, &f, 4); return i; }
inline float __uint_as_float(unsigned i) { float f; memcpy(&f, &i, 4); return f; }
inline float __expf(float x) { return expf(x); }
inline float __logf(float x) { return logf(x); }
inline float __fdividef(float a, float b) { return a / b; }
inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }
inline double rsqrt(double x) { return 1.0 / sqrt(x); }
template <class T> inline T __ldg(const T* p) { return *p; }

// ---- Context switches ------------------------------------------------------------------------
// On x86-64 a switch pushes the callee-saved registers and the FPU control words on the old stack
// and swaps stack pointers: no system call. Elsewhere ucontext's swapcontext, which saves the
// signal mask too (a system call per switch: several times slower).
extern "C" void emu_fiber_entry();

namespace emu {

#if defined(__x86_64__)
struct Context {
    void* sp = nullptr;
};

extern "C" void emu_switch_stacks(void** save_sp, void* load_sp);
asm(R"(
    .text
    .p2align 4
    .globl emu_switch_stacks
    .hidden emu_switch_stacks
    .type emu_switch_stacks, @function
emu_switch_stacks:
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    subq $16, %rsp
    fnstcw (%rsp)
    stmxcsr 8(%rsp)
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    fldcw (%rsp)
    ldmxcsr 8(%rsp)
    addq $16, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
    .size emu_switch_stacks, .-emu_switch_stacks
)");

// A new context that starts in emu_fiber_entry on `stack`: what emu_switch_stacks pops — the
// control words, six registers — and then the address it returns to.
inline void start_context(Context& c, char* stack, size_t bytes) {
    uintptr_t top = reinterpret_cast<uintptr_t>(stack + bytes) & ~uintptr_t(15);
    auto* sp = reinterpret_cast<uint64_t*>(top - 96);  // at the entry, sp + 72 ≡ 8 (mod 16), as after a call
    memset(sp, 0, 96);
    asm volatile("fnstcw (%0)\n\tstmxcsr 8(%0)" ::"r"(sp) : "memory");
    sp[8] = reinterpret_cast<uint64_t>(&emu_fiber_entry);
    c.sp = sp;
}

inline void switch_context(Context& from, Context& to) { emu_switch_stacks(&from.sp, to.sp); }
#else
struct Context {
    ucontext_t uc;
};

inline void start_context(Context& c, char* stack, size_t bytes) {
    getcontext(&c.uc);
    c.uc.uc_stack.ss_sp = stack;
    c.uc.uc_stack.ss_size = bytes;
    c.uc.uc_link = nullptr;  // emu_fiber_entry never returns
    makecontext(&c.uc, emu_fiber_entry, 0);
}

inline void switch_context(Context& from, Context& to) { swapcontext(&from.uc, &to.uc); }
#endif

// ---- Fibers and barriers ---------------------------------------------------------------------

struct Fiber {
    Context context;
    char* stack = nullptr;
    bool done = false;
    bool spinning = false;  // yielded while waiting on a barrier that had not moved
    uint3 thread;
    unsigned rank = 0;  // its block's place in the cluster
};

struct Barrier {
    int arrived = 0;
    unsigned long generation = 0;
};

constexpr size_t STACK_BYTES = 1024 * 1024;  // WMMA fragments hold whole tiles here

// A thread's warpgroup products (wgmma) not yet run: they run when a wait asks for them, reading
// shared memory then, so a kernel that overwrites an operand before its wait computes garbage
// here as it may on the GPU.
struct WgmmaProduct {
    float* d;
    uint64_t a, b;
    bool accumulate;  // d += A·Bᵀ, else d = A·Bᵀ
};
struct WgmmaQueue {
    std::vector<WgmmaProduct> open;                  // issued since the last commit
    std::vector<std::vector<WgmmaProduct>> committed;  // oldest first
};

// A TMA copy issued but not yet landed: it lands when a thread waits on its barrier (or at once:
// tma_load_2d).
struct TensorCopy {
    void* dst;
    EmulatedTensorMap map;
    int x, y;
};

// A shared-memory barrier (mbarrier): arrivals and bytes still expected in the current phase, and
// the copies that will bring those bytes.
struct Mbarrier {
    int arrivals = 0, arrived = 0;
    long long bytes = 0;
    unsigned phase = 0;  // completed phases, mod 2
    std::vector<TensorCopy> copies;
};

// A thread's cp.async copies not yet landed: 16 bytes each (read when issued, zeros when the copy
// reads nothing), landing in shared memory when their group is committed or when a cp_async_wait
// asks for it (cp_async_commit below).
struct AsyncCopy {
    void* dst;
    unsigned char bytes[16];
};
struct AsyncCopies {
    std::vector<AsyncCopy> open;                  // issued since the last commit
    std::vector<std::vector<AsyncCopy>> committed;  // oldest first
};

// A thread's operands of a warp's mma.sync, posted for the other lanes to read.
struct MmaOperands {
    unsigned a[4], b[2];
};

// The blocks that run together: a cluster of them when the launch asks for clusters (Hopper's
// thread-block clusters, clusters.cuh), else one. Fiber t is thread t % threads of block t / threads
// of the cluster; per-thread state is indexed by fiber.
struct Cluster {
    std::vector<Fiber> fibers;
    Context scheduler;
    int current = 0;  // the running fiber
    unsigned blocks = 1, first_block = 0;  // blockIdx.x of rank 0
    std::vector<Barrier> block_barriers;  // per block
    Barrier cluster_barrier;
    std::vector<Barrier> warp_barriers;
    std::vector<uint64_t> exchange;  // a slot per thread for shuffles
    void (*body)(void*) = nullptr;
    void* body_args = nullptr;
    bool deadlock = false;
    std::vector<char> dynamic_shared;  // every block's, one region each
    size_t dynamic_shared_bytes = 0, region_bytes = 0;
    std::vector<WgmmaQueue> wgmma;  // per thread
    std::vector<MmaOperands> mma;   // per thread
    std::vector<AsyncCopies> async_copies;  // per thread
    uint64_t landing_seed = 0;              // when each copy or group lands (xorshift)
    std::map<const void*, Mbarrier> mbarriers;  // by address
};

inline Cluster cluster;

// The first broken contract of the launch (a misaligned WMMA pointer, say): the kernel runs on,
// and the launch reports it.
inline char fault_message[256];
inline bool faulted = false;

template <class... A> inline void fault(const char* format, A... args) {
    if (faulted) return;
    faulted = true;
    snprintf(fault_message, sizeof fault_message, format, args...);
}

// The next number of a xorshift sequence (the launch's seeds: the visiting order, resting warps,
// when copies land).
inline uint64_t xorshift(uint64_t& seed) { return seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17; }

// A vector load or store (see the vector types above): both ends aligned to its size.
inline void vector_access(const void* to, const void* from, size_t bytes) {
    for (const void* p : {to, from})
        if (reinterpret_cast<uintptr_t>(p) % bytes != 0)
            return fault("a %zu-byte vector access at %p is not %zu-byte aligned (misaligned address)", bytes, p, bytes);
}

inline std::vector<char*> stacks;  // the fibers' stacks, reused across blocks and launches

inline int linear_thread() { return blockDim.x * (blockDim.y * threadIdx.z + threadIdx.y) + threadIdx.x; }

inline int threads_per_block() { return blockDim.x * blockDim.y * blockDim.z; }

// The running thread's fiber, and its first fiber of its block.
inline int fiber() { return cluster.current; }
inline int block_start() { return cluster.fibers[cluster.current].rank * threads_per_block(); }

inline void yield_to_scheduler() {
    Fiber& f = cluster.fibers[cluster.current];
    switch_context(f.context, cluster.scheduler);
}

// Waits until every live thread of `group` (the block, or one warp: threads [first, first + n))
// has arrived. Threads that have returned no longer count, as on the hardware.
inline void wait(Barrier& b, int first, int n) {
    auto live = [&] {
        int count = 0;
        for (int t = first; t < first + n; ++t) count += !cluster.fibers[t].done;
        return count;
    };
    unsigned long generation = b.generation;
    if (++b.arrived >= live()) {
        b.arrived = 0;
        ++b.generation;
        return;
    }
    cluster.fibers[cluster.current].spinning = false;
    yield_to_scheduler();
    while (b.generation == generation) {
        if (b.arrived >= live()) {  // the missing threads have returned
            b.arrived = 0;
            ++b.generation;
            break;
        }
        cluster.fibers[cluster.current].spinning = true;
        yield_to_scheduler();
    }
    cluster.fibers[cluster.current].spinning = false;
}

inline void sync_block() {
    wait(cluster.block_barriers[cluster.fibers[fiber()].rank], block_start(), threads_per_block());
}

inline void sync_cluster() { wait(cluster.cluster_barrier, 0, (int)cluster.fibers.size()); }

// The warp of the running thread: its barrier, its first fiber and how many threads it has (the
// last warp of a block may be partial).
inline std::tuple<Barrier&, int, int> running_warp() {
    int t = linear_thread(), first = t / 32 * 32, warps = (threads_per_block() + 31) / 32;
    Barrier& barrier = cluster.warp_barriers[cluster.fibers[fiber()].rank * warps + t / 32];
    return {barrier, block_start() + first, min(32, threads_per_block() - first)};
}

inline void sync_warp() {
    auto [barrier, first, n] = running_warp();
    wait(barrier, first, n);
}

// The value of `v` held by lane `source_lane(lane)` of this warp, for every lane.
template <class T, class F> inline T shuffle(T v, F source_lane) {
    static_assert(sizeof(T) <= 8, "shuffles move at most 8 bytes");
    auto [barrier, first, n] = running_warp();
    int lane = linear_thread() % 32;
    uint64_t bits = 0;
    memcpy(&bits, &v, sizeof(T));
    cluster.exchange[fiber()] = bits;
    sync_warp();
    int src = source_lane(lane);
    if (src >= 0 && src < n) bits = cluster.exchange[first + src];
    sync_warp();  // every lane has read before the slots are reused
    T out;
    memcpy(&out, &bits, sizeof(T));
    return out;
}

}  // namespace emu

// A fiber's life: the kernel body for its thread, then back to the scheduler for good.
extern "C" inline void emu_fiber_entry() {
    using namespace emu;
    Fiber& f = cluster.fibers[cluster.current];
    cluster.body(cluster.body_args);
    const WgmmaQueue& q = cluster.wgmma[cluster.current];
    if (!q.open.empty() || !q.committed.empty())
        fault("thread %d of block %u returned with warpgroup products never waited for", linear_thread(), blockIdx.x);
    f.done = true;
    switch_context(f.context, cluster.scheduler);
}

namespace emu {

// Runs the cluster of blocks from x = first_block (one block unless the launch asks for clusters):
// every thread from the kernel's start to its end, switching at barriers.
inline bool run_cluster(void (*body)(void*), void* args, unsigned first_block, uint64_t& seed) {
    int threads = threads_per_block(), n = (int)cluster.blocks * threads;
    while ((int)stacks.size() < n) {
        void* p = mmap(nullptr, STACK_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (p == MAP_FAILED) return false;
        stacks.push_back(static_cast<char*>(p));
    }
    cluster.fibers.assign(n, Fiber{});
    cluster.first_block = first_block;
    // A block's shared memory starts as garbage on the GPU: here as all-ones bytes (NaN as f32 and
    // as bf16), so a value read before it is written shows.
    memset(cluster.dynamic_shared.data(), 0xFF, cluster.dynamic_shared.size());
    cluster.block_barriers.assign(cluster.blocks, Barrier{});
    cluster.cluster_barrier = Barrier{};
    cluster.warp_barriers.assign(cluster.blocks * ((threads + 31) / 32), Barrier{});
    cluster.exchange.assign(n, 0);
    cluster.wgmma.assign(n, WgmmaQueue{});
    cluster.mma.assign(n, MmaOperands{});
    cluster.async_copies.assign(n, AsyncCopies{});
    cluster.landing_seed = seed | 1;
    cluster.mbarriers.clear();
    cluster.body = body;
    cluster.body_args = args;
    for (int t = 0; t < n; ++t) {
        Fiber& f = cluster.fibers[t];
        f.stack = stacks[t];
        int local = t % threads;
        f.thread = uint3{local % blockDim.x, local / blockDim.x % blockDim.y, local / (blockDim.x * blockDim.y)};
        f.rank = t / threads;
        start_context(f.context, f.stack, STACK_BYTES);
    }
    std::vector<int> order(n);
    for (int t = 0; t < n; ++t) order[t] = t;
    // Warps drift apart between barriers, as on the GPU: in each round a warp rests with
    // probability 1/4 (its lanes are not visited), so one warp may run several steps ahead of
    // another and a missing barrier between two of its phases shows. After a round without
    // progress every warp runs, so that a deadlock is told from a warp that rested.
    int warps_per_block = (threads + 31) / 32;
    auto warp_of = [&](int t) { return t / threads * warps_per_block + t % threads / 32; };
    std::vector<char> resting(cluster.blocks * warps_per_block, 0);
    bool may_rest = true;
    for (;;) {
        // A shuffled visiting order for this round (xorshift, seeded per launch).
        for (int i = n - 1; i > 0; --i) std::swap(order[i], order[xorshift(seed) % (i + 1)]);
        bool any_rested = false;
        for (char& r : resting) r = may_rest && xorshift(seed) % 4 == 0;
        bool any_live = false, progress = false;
        for (int t : order) {
            Fiber& f = cluster.fibers[t];
            if (f.done) continue;
            any_live = true;
            if (resting[warp_of(t)]) {
                any_rested = true;
                continue;
            }
            cluster.current = t;
            threadIdx = f.thread;
            blockIdx.x = first_block + f.rank;
            switch_context(cluster.scheduler, f.context);
            progress |= f.done || !f.spinning;
        }
        if (!any_live) return true;
        if (!progress && !any_rested) {
            cluster.deadlock = true;
            return false;
        }
        may_rest = progress;
    }
}

// `f(args...)` from the CUDA-style argument array: params[i] points at the i-th argument.
template <class... A, size_t... I>
void call(void (*f)(A...), void** params, std::index_sequence<I...>) {
    f(*static_cast<std::remove_cv_t<std::remove_reference_t<A>>*>(params[I])...);
}

template <class... A> struct Bound {
    void (*f)(A...);
    void** params;
};

template <class... A> void run_bound(void* p) {
    auto* b = static_cast<Bound<A...>*>(p);
    call(b->f, b->params, std::index_sequence_for<A...>{});
}

// Launches `f` over the grid in clusters of `blocks` blocks along x (1: no clusters). 0: done; 1: a
// barrier deadlock; 2: out of memory for stacks; 3: a broken contract (fault_message); 4: not as
// many arguments as the kernel takes (`count`, unless SIZE_MAX); 5: a grid that is not whole clusters.
template <class... A>
int launch(void (*f)(A...), const unsigned* grid, const unsigned* threads, size_t shared_bytes, unsigned blocks,
           void** params, size_t count) {
    faulted = false;
    if (count != SIZE_MAX && count != sizeof...(A)) {  // SIZE_MAX: the caller cannot tell
        fault("the kernel takes %zu arguments, not %zu", sizeof...(A), count);
        return 4;
    }
    if (blocks == 0 || grid[0] % blocks != 0) {
        fault("a grid of %u blocks along x is not made of clusters of %u", grid[0], blocks);
        return 5;
    }
    Bound<A...> bound{f, params};
    gridDim = dim3{grid[0], grid[1], grid[2]};
    blockDim = dim3{threads[0], threads[1], threads[2]};
    cluster.blocks = blocks;
    cluster.region_bytes = (shared_bytes + 1023) / 1024 * 1024;
    cluster.dynamic_shared.resize(blocks * cluster.region_bytes + 1024);
    cluster.dynamic_shared_bytes = shared_bytes;
    uint64_t seed = 0x9E3779B97F4A7C15ull;
    for (unsigned z = 0; z < grid[2]; ++z)
        for (unsigned y = 0; y < grid[1]; ++y)
            for (unsigned x = 0; x < grid[0]; x += blocks) {
                blockIdx = uint3{x, y, z};
                if (!run_cluster(run_bound<A...>, &bound, x, seed)) return cluster.deadlock ? 1 : 2;
            }
    return faulted ? 3 : 0;
}

// The dynamic shared memory of block `rank` of the cluster, aligned to 1024 bytes.
inline char* dynamic_shared_of(unsigned rank) {
    char* p = cluster.dynamic_shared.data();
    return p + (1024 - reinterpret_cast<uintptr_t>(p) % 1024) % 1024 + rank * cluster.region_bytes;
}

// The running block's dynamic shared memory (`extern __shared__ T name[]` is rewritten to this);
// its shared-window address (`__cvta_generic_to_shared`) is 0.
inline void* dynamic_shared() { return dynamic_shared_of(cluster.fibers[fiber()].rank); }

}  // namespace emu

// ---- Barriers, warp shuffles, atomics (fibers never run at the same time: plain updates) -------
inline void __syncthreads() { emu::sync_block(); }
inline void __syncwarp(unsigned = 0xffffffff) { emu::sync_warp(); }
template <class T> inline T __shfl_sync(unsigned, T v, int src, int width = 32) {
    return emu::shuffle(v, [&](int lane) { return lane / width * width + src % width; });
}
template <class T> inline T __shfl_xor_sync(unsigned, T v, int mask, int width = 32) {
    return emu::shuffle(v, [&](int lane) { return (lane ^ mask) / width == lane / width ? lane ^ mask : lane; });
}
template <class T> inline T __shfl_down_sync(unsigned, T v, unsigned delta, int width = 32) {
    return emu::shuffle(v, [&](int lane) { return (int)(lane % width + delta) < width ? lane + (int)delta : lane; });
}
template <class T> inline T __shfl_up_sync(unsigned, T v, unsigned delta, int width = 32) {
    return emu::shuffle(v, [&](int lane) { return lane % width >= (int)delta ? lane - (int)delta : lane; });
}
template <class T> inline T atomicAdd(T* p, T v) { T old = *p; *p = old + v; return old; }
// Hopper's 16-byte reduction: one float4 (aligned to 16 bytes, as on the GPU) added component-wise.
inline float4 atomicAdd(float4* p, float4 v) {
    float4 old = *p, sum;
    sum.x = old.x + v.x, sum.y = old.y + v.y, sum.z = old.z + v.z, sum.w = old.w + v.w;
    *p = sum;
    return old;
}
template <class T> inline T atomicMax(T* p, T v) { T old = *p; *p = old > v ? old : v; return old; }
template <class T> inline T atomicExch(T* p, T v) { T old = *p; *p = v; return old; }

// ---- Thread-block clusters (clusters.cuh on the GPU) ------------------------------------------
// A cluster's blocks run together here, as on the GPU, each with its own dynamic shared memory.
// Static `__shared__` variables stay one copy for the whole cluster: a kernel launched in clusters
// keeps its shared memory dynamic. Another block's shared memory may be used only once a cluster
// barrier has shown every block started, and not after that block has exited: either is an error.
inline unsigned cluster_block_rank() { return emu::cluster.fibers[emu::fiber()].rank; }
inline unsigned cluster_blocks() { return emu::cluster.blocks; }
inline void cluster_sync() { emu::sync_cluster(); }
// `p` (in the running block's dynamic shared memory) at the same place in block `rank`'s.
template <class T> inline T* peer_shared(T* p, unsigned rank) {
    using emu::cluster;
    const char *base = static_cast<const char*>(emu::dynamic_shared()), *q = reinterpret_cast<const char*>(p);
    if (q < base || q >= base + cluster.dynamic_shared_bytes || rank >= cluster.blocks) {
        emu::fault("peer_shared: %p is not in the block's dynamic shared memory, or block %u not in the cluster", p, rank);
        return p;
    }
    if (rank != cluster_block_rank()) {
        int threads = emu::threads_per_block();
        bool exited = true;
        for (int t = rank * threads; t < (int)(rank + 1) * threads; ++t) exited &= cluster.fibers[t].done;
        if (cluster.cluster_barrier.generation == 0)
            emu::fault("peer_shared: block %u's shared memory before a cluster barrier (it may not have started)", rank);
        else if (exited)
            emu::fault("peer_shared: block %u has exited, and its shared memory with it", rank);
    }
    return reinterpret_cast<T*>(emu::dynamic_shared_of(rank) + (q - base));
}

// ---- Asynchronous copies (async_copy.cuh on the GPU) -------------------------------------------
// On the GPU a group lands at some moment between its commit and the wait that asks for it. Here
// each group lands at one end or the other, drawn per group (deterministic per launch): late, so a
// kernel that reads a tile without that wait reads what was there before; or early, so a refill
// issued while other threads still read the buffer shows in what they read. (Only when they read
// it after the commit in the emulator's order: threads switch at barriers and warp collectives.)
inline void cp_async16(void* shared, const void* global, bool valid) {
    emu::AsyncCopy copy{shared, {}};
    if (valid) memcpy(copy.bytes, global, 16);
    emu::cluster.async_copies[emu::fiber()].open.push_back(copy);
}
namespace emu {
// Whether the copy being issued lands at once (else at its wait): a coin from the launch's seed.
inline bool lands_early() {
    return xorshift(cluster.landing_seed) % 2;
}
}  // namespace emu

inline void cp_async_commit() {
    emu::AsyncCopies& copies = emu::cluster.async_copies[emu::fiber()];
    if (emu::lands_early()) {  // the group lands now, and its wait finds it done
        for (const emu::AsyncCopy& copy : copies.open) memcpy(copy.dst, copy.bytes, 16);
        copies.open.clear();
    }
    copies.committed.push_back(std::move(copies.open));
    copies.open.clear();
}
template <int N> inline void cp_async_wait() {
    emu::AsyncCopies& copies = emu::cluster.async_copies[emu::fiber()];
    while ((int)copies.committed.size() > N) {
        for (const emu::AsyncCopy& copy : copies.committed.front()) memcpy(copy.dst, copy.bytes, 16);
        copies.committed.erase(copies.committed.begin());
    }
}

// ---- Shared-window addresses: offsets into the block's dynamic shared memory -------------------
inline unsigned __cvta_generic_to_shared(const void* p) {
    const char *base = static_cast<const char*>(emu::dynamic_shared()), *q = static_cast<const char*>(p);
    if (q < base || q > base + emu::cluster.dynamic_shared_bytes) {
        emu::fault("__cvta_generic_to_shared: %p is not in the block's dynamic shared memory", p);
        return 0;
    }
    return static_cast<unsigned>(q - base);
}

// ---- Warpgroup MMA (warpgroup_mma.cuh on the GPU, which also makes the descriptors) ----------
namespace emu {

// Element (r, k) of the K-major, 128-byte-swizzled bf16 operand whose 16-wide slice descriptor
// `desc` names: the address of row r, element k before the swizzle, then the swizzle applied to
// that address as the hardware does (bits 4–6 ^= bits 7–9).
inline float wgmma_operand(uint64_t desc, int r, int k) {
    unsigned start = (desc & 0x3FFF) << 4, group_stride = ((desc >> 32) & 0x3FFF) << 4;
    if (desc >> 62 != 1 || (desc >> 49 & 7) != 0 || start % 128 > 96) {
        fault("wgmma: descriptor %llx is not a 128-byte-swizzled slice inside a row", (unsigned long long)desc);
        return 0.0f;
    }
    unsigned logical = start + r / 8 * group_stride + r % 8 * 128 + k * 2;
    unsigned physical = logical ^ ((logical >> 7 & 7) << 4);
    if (physical + 2 > cluster.dynamic_shared_bytes) {
        fault("wgmma: operand byte %u is past the %zu bytes of shared memory", physical, cluster.dynamic_shared_bytes);
        return 0.0f;
    }
    uint16_t bits;
    memcpy(&bits, static_cast<const char*>(dynamic_shared()) + physical, 2);
    uint32_t wide = uint32_t(bits) << 16;
    float x;
    memcpy(&x, &wide, 4);
    return x;
}

// This thread's share of d (64 × 256) += A (64 × 16) · Bᵀ (256 × 16): the elements the GPU's
// layout gives it (warpgroup_mma.cuh).
inline void run_wgmma(int thread, const WgmmaProduct& p) {
    int t = thread % 128, warp = t / 32, lane = t % 32;
    for (int j = 0; j < 32; ++j)
        for (int h = 0; h < 2; ++h)
            for (int e = 0; e < 2; ++e) {
                int row = 16 * warp + lane / 4 + 8 * h, col = 8 * j + 2 * (lane % 4) + e;
                float sum = 0.0f;
                for (int k = 0; k < 16; ++k) sum += wgmma_operand(p.a, row, k) * wgmma_operand(p.b, col, k);
                float& out = p.d[4 * j + 2 * h + e];
                out = p.accumulate ? out + sum : sum;
            }
}

}  // namespace emu

// The wgmma instructions are `.sync.aligned`: every thread of the warp executes them together, so
// each is a warp barrier here, as WMMA's loads and stores are.
inline void wgmma_fence() { emu::sync_warp(); }
inline void fence_shared_for_wgmma() {}
inline void wgmma_m64n256k16(float (&d)[128], unsigned long long a, unsigned long long b, int accumulate) {
    emu::cluster.wgmma[emu::fiber()].open.push_back({d, a, b, accumulate != 0});
}
inline void wgmma_commit() {
    emu::sync_warp();
    emu::WgmmaQueue& q = emu::cluster.wgmma[emu::fiber()];
    q.committed.push_back(std::move(q.open));
    q.open.clear();
}
// Each lane computes its share of the products waited for; no lane of the warp returns before
// every lane has, since on the GPU the wait returns once the warp's operations (their shared-memory
// reads included) are complete.
template <int N> inline void wgmma_wait() {
    emu::sync_warp();
    int t = emu::linear_thread();
    emu::WgmmaQueue& q = emu::cluster.wgmma[emu::fiber()];
    while ((int)q.committed.size() > N) {
        for (const emu::WgmmaProduct& p : q.committed.front()) emu::run_wgmma(t, p);
        q.committed.erase(q.committed.begin());
    }
    emu::sync_warp();
}

// ---- Warp MMA (mma_sync.cuh on the GPU) ----------------------------------------------------------
namespace emu {

inline float bf16_half(unsigned word, int high) {
    uint32_t wide = high ? word & 0xFFFF0000u : word << 16;
    float x;
    memcpy(&x, &wide, 4);
    return x;
}

}  // namespace emu

// d += A·B for the warp's fragments, in mma_sync.cuh's layout: every lane posts its registers, the
// warp meets, and each lane computes its own four elements of D from the lanes that hold A's row
// and B's column. A warp-collective instruction (`.sync.aligned`), as on the GPU.
inline void mma_m16n8k16_bf16(float (&d)[4], const unsigned (&a)[4], const unsigned (&b)[2]) {
    int lane = emu::linear_thread() % 32, first = emu::fiber() - lane;
    emu::MmaOperands& mine = emu::cluster.mma[emu::fiber()];
    memcpy(mine.a, a, sizeof mine.a);
    memcpy(mine.b, b, sizeof mine.b);
    emu::sync_warp();
    auto at = [&](int l) -> const emu::MmaOperands& { return emu::cluster.mma[first + l]; };
    float out[4];
    for (int i = 0; i < 4; ++i) {
        int row = lane / 4 + 8 * (i / 2), col = 2 * (lane % 4) + i % 2;
        float sum = d[i];
        for (int k = 0; k < 16; ++k) {
            float x = emu::bf16_half(at(row % 8 * 4 + k % 8 / 2).a[row / 8 + 2 * (k / 8)], k % 2);
            float y = emu::bf16_half(at(col * 4 + k % 8 / 2).b[k / 8], k % 2);
            sum += x * y;
        }
        out[i] = sum;
    }
    emu::sync_warp();  // every lane has read the posted operands before they change
    memcpy(d, out, sizeof out);
}

// ldmatrix (mma_sync.cuh): every lane posts the row it names, and lane (g, q) reads the word
// holding elements 2q, 2q + 1 of row g of each matrix from the lane that named that row. A
// warp-collective instruction, as on the GPU; a row address not 16-byte aligned is a fault, as
// there.
namespace emu {
inline void check_ldmatrix_row(const unsigned* row, int matrices) {
    if (reinterpret_cast<uintptr_t>(row) % 16 != 0 && linear_thread() % 32 < 8 * matrices)
        fault("ldmatrix: row address %p is not 16-byte aligned", static_cast<const void*>(row));
}
}  // namespace emu

template <int N> inline void ldmatrix(unsigned (&r)[N], const unsigned* row) {
    static_assert(N == 2 || N == 4, "x2 and x4");
    emu::check_ldmatrix_row(row, N);
    int lane = emu::linear_thread() % 32;
    for (int i = 0; i < N; ++i) {
        const unsigned* named = emu::shuffle(row, [&](int l) { return 8 * i + l / 4; });
        r[i] = named[lane % 4];
    }
}

// ldmatrix .trans (x2, x4): lane (g, q) reads 16-bit element g of the rows 2q and 2q + 1 of each
// matrix, from the lanes that named them, the first into the low half.
template <int N> inline void ldmatrix_trans(unsigned (&r)[N], const unsigned* row) {
    static_assert(N == 2 || N == 4, "x2 and x4");
    emu::check_ldmatrix_row(row, N);
    int lane = emu::linear_thread() % 32, g = lane / 4;
    auto element_g = [&](const unsigned* named) { return named[g / 2] >> (16 * (g % 2)) & 0xffffu; };
    for (int i = 0; i < N; ++i) {
        const unsigned* upper = emu::shuffle(row, [&](int l) { return 8 * i + 2 * (l % 4); });
        const unsigned* lower = emu::shuffle(row, [&](int l) { return 8 * i + 2 * (l % 4) + 1; });
        r[i] = element_g(upper) | element_g(lower) << 16;
    }
}

// ---- TMA copies and shared-memory barriers (tensor_copy.cuh on the GPU) ------------------------
namespace emu {

inline Mbarrier& mbarrier_at(const void* bar) {
    auto it = cluster.mbarriers.find(bar);
    if (it == cluster.mbarriers.end()) {
        fault("mbarrier at %p used before mbarrier_init", bar);
        static Mbarrier none;
        return none;
    }
    return it->second;
}

// Completes the phase once every arrival is in and every expected byte has landed.
inline void mbarrier_settle(Mbarrier& b) {
    if (b.arrived >= b.arrivals && b.bytes == 0) {
        b.arrived = 0;
        b.phase ^= 1;
    }
}

// The box at (x, y) of the copy's tensor into its destination: rows of box[0] elements, swizzled
// as the map says, zeros past the tensor's edges. Returns the bytes written.
inline long long land(const TensorCopy& copy) {
    const EmulatedTensorMap& m = copy.map;
    unsigned row_bytes = m.box[0] * 2;
    char* out = static_cast<char*>(copy.dst);
    for (unsigned r = 0; r < m.box[1]; ++r)
        for (unsigned c = 0; c < m.box[0]; ++c) {
            uint64_t gx = uint64_t(copy.x) + c, gy = uint64_t(copy.y) + r;
            uint16_t v = 0;
            if (gx < m.dims[0] && gy < m.dims[1]) memcpy(&v, (const char*)m.address + gy * m.row_bytes + gx * 2, 2);
            unsigned o = r * row_bytes + c * 2;
            if (m.swizzle_bytes == 128) o ^= (o >> 7 & 7) << 4;
            memcpy(out + o, &v, 2);
        }
    return (long long)row_bytes * m.box[1];
}

}  // namespace emu

inline void mbarrier_init(unsigned long long* bar, unsigned arrivals) {
    emu::cluster.mbarriers[bar] = emu::Mbarrier{(int)arrivals, 0, 0, 0, {}};
}
inline void fence_barrier_init() {}
inline void mbarrier_arrive(unsigned long long* bar) {
    emu::Mbarrier& b = emu::mbarrier_at(bar);
    ++b.arrived;
    emu::mbarrier_settle(b);
}
inline void mbarrier_expect_bytes(unsigned long long* bar, unsigned bytes) {
    emu::Mbarrier& b = emu::mbarrier_at(bar);
    b.bytes += bytes;
    ++b.arrived;
    emu::mbarrier_settle(b);
}
// Lands the barrier's copies, then yields until the phase of this parity is complete (a wait
// nothing can end is a deadlock).
inline void mbarrier_wait(unsigned long long* bar, unsigned parity) {
    emu::Fiber& f = emu::cluster.fibers[emu::cluster.current];
    for (bool again = false;; again = true) {
        emu::Mbarrier& b = emu::mbarrier_at(bar);
        for (const emu::TensorCopy& copy : b.copies) b.bytes -= emu::land(copy);
        b.copies.clear();
        emu::mbarrier_settle(b);
        if (b.phase != parity || emu::faulted) break;
        // Arriving here after running is progress; finding nothing changed on a later turn is not
        // (a round of those everywhere is a deadlock).
        f.spinning = again;
        emu::yield_to_scheduler();
    }
    f.spinning = false;
}
// Queues the box at (x, y) of `map` for `dst`, reporting its bytes to `bar`. Like a cp.async
// group, it lands at one end or the other of its flight, drawn per copy: when it is issued (so a
// refill issued before its stage is read shows), or when a thread waits on `bar` (so reading the
// tile without that wait reads what was there before).
template <class Map> inline void tma_load_2d(void* dst, const Map* map, int x, int y, unsigned long long* bar) {
    static_assert(sizeof(Map) == 128, "a tensor map is 128 bytes");
    emu::TensorCopy copy{dst, {}, x, y};
    memcpy(&copy.map, map, sizeof copy.map);
    if (copy.map.magic != TENSOR_MAP_MAGIC) return emu::fault("tma_load_2d: not a tensor map from cuTensorMapEncodeTiled");
    if (copy.map.swizzle_bytes == 128 && __cvta_generic_to_shared(dst) % 1024 != 0)
        return emu::fault("tma_load_2d: a 128-byte-swizzled box must land 1024-byte aligned");
    emu::Mbarrier& b = emu::mbarrier_at(bar);
    if (emu::lands_early()) {
        b.bytes -= emu::land(copy);
        emu::mbarrier_settle(b);
    } else {
        b.copies.push_back(copy);
    }
}
