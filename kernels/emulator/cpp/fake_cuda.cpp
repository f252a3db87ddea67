// The CUDA libraries the engine loads — the driver, NVRTC, cuBLAS and cuBLASLt — as the emulator
// provides them, so the engine's own GPU path (cudarc included) runs unchanged on the CPU. Built
// four times, as libcuda.so, libnvrtc.so, libcublas.so and libcublasLt.so (the SONAME a later
// dlopen by bare name matches), by kernels::cuda::emulated_cuda.
//
// - Device memory is host memory: a device pointer is a host address, with an inaccessible page
//   right after each buffer (an access past the end faults where it happens).
// - NVRTC compiles nothing: a program's "PTX" names its source ("//emulated:softmax.cu").
// - Loading that module asks the engine (a callback it registers) for the emulator library of
//   the source; launching a function runs it there, on the CPU, before the launch returns.
// - cuBLAS products run as plain loops (f64 sums), with TF32 or bf16 operands rounded as the
//   math mode or data type says; cuBLASLt's too, with the bias epilogue.
// One device, compute capability 9.0, named "CUDA emulator (CPU)". Every call completes before it
// returns, so streams do nothing and an event records the wall-clock time of its record call
// (elapsed times measure the emulation).

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/mman.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "cuda_bf16.h"  // the emulator's bf16, rounded as the GPU rounds
#include "tensor_map.h"  // the tensor maps the emulator's TMA copies read

#define EXPORT extern "C" __attribute__((visibility("default")))

typedef int CUresult;  // 0 = CUDA_SUCCESS
typedef unsigned long long CUdeviceptr;
// The engine's side (kernels::cuda::emulator::install_as_cuda): the emulator of a source, by
// name, as an opaque handle; and a launch on it (0: done).
typedef const void* (*ModuleLoader)(const char* source_name);
typedef int (*Launcher)(const void* module, const char* kernel, const unsigned* grid, const unsigned* block,
                        size_t shared, unsigned cluster, void** params);

static const CUresult OK = 0, INVALID_VALUE = 1, NOT_FOUND = 500, LAUNCH_FAILED = 719, INVALID_DEVICE = 101;

// ---- Driver ----------------------------------------------------------------------------------

static ModuleLoader module_loader = nullptr;
static Launcher launcher = nullptr;

// Called once by the engine before any other call: how a module's source becomes kernels, and
// how they run.
EXPORT void emu_set_callbacks(ModuleLoader load, Launcher launch) {
    module_loader = load;
    launcher = launch;
}

struct Module {
    const void* emulator;
};
// Dynamic shared memory per block, as an sm_90 device allows it: 48 KB unless the function opts in
// to more (CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES), up to 227 KB.
const int DEFAULT_DYNAMIC_SHARED = 48 * 1024, MOST_DYNAMIC_SHARED = 227 * 1024;
const int ATTRIBUTE_MAX_DYNAMIC_SHARED = 8;

struct Function {
    const void* emulator;
    std::string name;
    int max_dynamic_shared = DEFAULT_DYNAMIC_SHARED;
};

static int dummy_context;

struct Event {
    double seconds = 0.0;
};

EXPORT CUresult cuInit(unsigned) { return OK; }
EXPORT CUresult cuDriverGetVersion(int* v) { *v = 13000; return OK; }
EXPORT CUresult cuDeviceGetCount(int* n) { *n = 1; return OK; }
EXPORT CUresult cuDeviceGet(int* d, int ordinal) { *d = ordinal; return ordinal == 0 ? OK : INVALID_DEVICE; }
EXPORT CUresult cuDeviceGetName(char* name, int len, int) {
    snprintf(name, len, "CUDA emulator (CPU)");
    return OK;
}
EXPORT CUresult cuDeviceGetAttribute(int* value, int attribute, int) {
    switch (attribute) {
        case 75: *value = 9; break;  // compute capability major
        case 76: *value = 0; break;  // minor
        case 1: *value = 1024; break;  // max threads per block
        case 8: *value = 48 * 1024; break;  // shared memory per block
        case 10: *value = 32; break;  // warp size
        case 16: *value = 1; break;  // multiprocessors
        case 115: *value = 1; break;  // memory pools (stream-ordered allocation)
        default: *value = 0;  // everything optional: not supported
    }
    return OK;
}
EXPORT CUresult cuDeviceTotalMem_v2(size_t* bytes, int) { *bytes = (size_t)16 << 30; return OK; }
EXPORT CUresult cuDevicePrimaryCtxRetain(void** ctx, int) { *ctx = &dummy_context; return OK; }
EXPORT CUresult cuDevicePrimaryCtxRelease_v2(int) { return OK; }
EXPORT CUresult cuCtxSetCurrent(void*) { return OK; }
EXPORT CUresult cuCtxGetCurrent(void** ctx) { *ctx = &dummy_context; return OK; }
EXPORT CUresult cuCtxPushCurrent_v2(void*) { return OK; }
EXPORT CUresult cuCtxPopCurrent_v2(void** ctx) { if (ctx) *ctx = &dummy_context; return OK; }
EXPORT CUresult cuCtxSynchronize() { return OK; }
EXPORT CUresult cuCtxGetDevice(int* d) { *d = 0; return OK; }
EXPORT CUresult cuStreamCreate(void** s, unsigned) { *s = nullptr; return OK; }
EXPORT CUresult cuStreamDestroy_v2(void*) { return OK; }
EXPORT CUresult cuStreamSynchronize(void*) { return OK; }
EXPORT CUresult cuStreamWaitEvent(void*, void*, unsigned) { return OK; }
EXPORT CUresult cuEventCreate(void** e, unsigned) { *e = new Event; return OK; }
EXPORT CUresult cuEventDestroy_v2(void* e) { delete (Event*)e; return OK; }
EXPORT CUresult cuEventRecord(void* e, void*) {
    auto now = std::chrono::steady_clock::now().time_since_epoch();
    ((Event*)e)->seconds = std::chrono::duration<double>(now).count();
    return OK;
}
EXPORT CUresult cuEventRecordWithFlags(void* e, void* s, unsigned) { return cuEventRecord(e, s); }
EXPORT CUresult cuEventSynchronize(void*) { return OK; }
EXPORT CUresult cuEventQuery(void*) { return OK; }
EXPORT CUresult cuEventElapsedTime(float* ms, void* start, void* end) {
    *ms = (float)((((Event*)end)->seconds - ((Event*)start)->seconds) * 1e3);
    return OK;
}
EXPORT CUresult cuEventElapsedTime_v2(float* ms, void* start, void* end) { return cuEventElapsedTime(ms, start, end); }
EXPORT CUresult cuMemGetInfo_v2(size_t* free_bytes, size_t* total) {
    *free_bytes = *total = (size_t)16 << 30;
    return OK;
}

// Device memory: 256-byte aligned, as the driver's (kernels may rely on it), and ending where an
// inaccessible page begins, so a kernel that reads or writes past the end of a buffer (beyond the
// 256-byte rounding) stops at that access with a segmentation fault instead of going on with
// garbage. A new buffer holds all-ones bytes (NaN as f32 and bf16), as the GPU's hold whatever
// was there before: a kernel that reads what no one wrote, or counts on zeros no one wrote, shows.
// Each buffer's mapping, by address, for cuMemFree.
static std::mutex mappings_lock;
static std::unordered_map<CUdeviceptr, std::pair<void*, size_t>> mappings;

EXPORT CUresult cuMemAlloc_v2(CUdeviceptr* p, size_t bytes) {
    size_t page = (size_t)sysconf(_SC_PAGESIZE), body = bytes == 0 ? 256 : (bytes + 255) / 256 * 256;
    size_t length = (body + page - 1) / page * page + page;
    void* base = mmap(nullptr, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (base == MAP_FAILED) return 2;  // out of memory
    char* guard = (char*)base + length - page;
    mprotect(guard, page, PROT_NONE);
    *p = (CUdeviceptr)(guard - body);
    memset(guard - body, 0xFF, body);
    std::lock_guard<std::mutex> hold(mappings_lock);
    mappings[*p] = {base, length};
    return OK;
}
EXPORT CUresult cuMemFree_v2(CUdeviceptr p) {
    std::lock_guard<std::mutex> hold(mappings_lock);
    auto it = mappings.find(p);
    if (it == mappings.end()) return INVALID_VALUE;
    munmap(it->second.first, it->second.second);
    mappings.erase(it);
    return OK;
}
EXPORT CUresult cuMemAllocAsync(CUdeviceptr* p, size_t bytes, void*) { return cuMemAlloc_v2(p, bytes); }
// The device's one memory pool: only its release threshold (attribute 4) is kept; every buffer is
// mapped and unmapped as it comes and goes, whatever the threshold.
static unsigned long long pool_release_threshold = 0;
static int default_pool;
EXPORT CUresult cuDeviceGetDefaultMemPool(void** pool, int) { *pool = &default_pool; return OK; }
EXPORT CUresult cuMemPoolSetAttribute(void* pool, int attribute, void* value) {
    if (pool != &default_pool || attribute != 4) return INVALID_VALUE;
    memcpy(&pool_release_threshold, value, sizeof pool_release_threshold);
    return OK;
}
EXPORT CUresult cuMemPoolGetAttribute(void* pool, int attribute, void* value) {
    if (pool != &default_pool || attribute != 4) return INVALID_VALUE;
    memcpy(value, &pool_release_threshold, sizeof pool_release_threshold);
    return OK;
}
EXPORT CUresult cuMemFreeAsync(CUdeviceptr p, void*) { return cuMemFree_v2(p); }
EXPORT CUresult cuMemcpyHtoD_v2(CUdeviceptr dst, const void* src, size_t n) { memcpy((void*)dst, src, n); return OK; }
EXPORT CUresult cuMemcpyDtoH_v2(void* dst, CUdeviceptr src, size_t n) { memcpy(dst, (void*)src, n); return OK; }
EXPORT CUresult cuMemcpyDtoD_v2(CUdeviceptr dst, CUdeviceptr src, size_t n) { memmove((void*)dst, (void*)src, n); return OK; }
EXPORT CUresult cuMemcpyHtoDAsync_v2(CUdeviceptr d, const void* s, size_t n, void*) { return cuMemcpyHtoD_v2(d, s, n); }
EXPORT CUresult cuMemcpyDtoHAsync_v2(void* d, CUdeviceptr s, size_t n, void*) { return cuMemcpyDtoH_v2(d, s, n); }
EXPORT CUresult cuMemcpyDtoDAsync_v2(CUdeviceptr d, CUdeviceptr s, size_t n, void*) { return cuMemcpyDtoD_v2(d, s, n); }
EXPORT CUresult cuMemsetD8_v2(CUdeviceptr d, unsigned char v, size_t n) { memset((void*)d, v, n); return OK; }
EXPORT CUresult cuMemsetD8Async(CUdeviceptr d, unsigned char v, size_t n, void*) { return cuMemsetD8_v2(d, v, n); }
EXPORT CUresult cuMemsetD32_v2(CUdeviceptr d, unsigned v, size_t n) {
    for (size_t i = 0; i < n; ++i) ((unsigned*)d)[i] = v;
    return OK;
}
EXPORT CUresult cuMemsetD32Async(CUdeviceptr d, unsigned v, size_t n, void*) { return cuMemsetD32_v2(d, v, n); }
EXPORT CUresult cuPointerGetAttribute(void* data, int, CUdeviceptr) { *(int*)data = 0; return OK; }

// The "PTX" of an emulated program: "//emulated:<source name>".
EXPORT CUresult cuModuleLoadData(void** module, const void* image) {
    const char* prefix = "//emulated:";
    const char* text = (const char*)image;
    if (!module_loader || strncmp(text, prefix, strlen(prefix)) != 0) return INVALID_VALUE;
    const void* emulator = module_loader(text + strlen(prefix));
    if (!emulator) return NOT_FOUND;
    *module = new Module{emulator};
    return OK;
}
EXPORT CUresult cuModuleUnload(void* module) { delete (Module*)module; return OK; }
EXPORT CUresult cuModuleGetFunction(void** f, void* module, const char* name) {
    *f = new Function{((Module*)module)->emulator, name};
    return OK;
}
EXPORT CUresult cuFuncGetAttribute(int* v, int, void*) { *v = 0; return OK; }
EXPORT CUresult cuFuncSetAttribute(void* f, int attribute, int value) {
    if (attribute != ATTRIBUTE_MAX_DYNAMIC_SHARED) return OK;
    if (value < 0 || value > MOST_DYNAMIC_SHARED) return INVALID_VALUE;
    ((Function*)f)->max_dynamic_shared = value;
    return OK;
}
EXPORT CUresult cuFuncSetCacheConfig(void*, int) { return OK; }

// Runs `f` in clusters of `cluster` blocks along x (1: none).
static CUresult launch_in_clusters(Function* f, const unsigned* grid, const unsigned* block, unsigned shared,
                                   unsigned cluster, void** params) {
    if ((int)shared > f->max_dynamic_shared) return INVALID_VALUE;  // as the driver refuses it
    return launcher(f->emulator, f->name.c_str(), grid, block, shared, cluster, params) == 0 ? OK : LAUNCH_FAILED;
}

EXPORT CUresult cuLaunchKernel(void* f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz,
                               unsigned shared, void*, void** params, void**) {
    unsigned grid[3] = {gx, gy, gz}, block[3] = {bx, by, bz};
    return launch_in_clusters((Function*)f, grid, block, shared, 1, params);
}

// cuLaunchKernelEx's configuration and attributes, as cuda.h lays them out (an attribute: its id,
// 4 bytes of padding, a 64-byte value; the cluster dimension's value is three unsigned ints).
struct LaunchAttribute {
    int id;
    char pad[4];
    unsigned value[16];
};
struct LaunchConfig {
    unsigned grid[3], block[3], shared;
    void* stream;
    LaunchAttribute* attrs;
    unsigned count;
};
const int ATTRIBUTE_CLUSTER_DIMENSION = 4;
const unsigned MOST_PORTABLE_CLUSTER = 8;

// A launch with attributes: the cluster dimension is honoured (clusters along x only, of at most
// 8 blocks, the portable limit, that tile the grid, as the driver demands); others are ignored.
EXPORT CUresult cuLaunchKernelEx(const LaunchConfig* config, void* f, void** params, void**) {
    unsigned cluster = 1;
    for (unsigned i = 0; i < config->count; ++i) {
        const LaunchAttribute& a = config->attrs[i];
        if (a.id != ATTRIBUTE_CLUSTER_DIMENSION) continue;
        const unsigned* dims = a.value;
        if (dims[1] != 1 || dims[2] != 1 || dims[0] == 0 || dims[0] > MOST_PORTABLE_CLUSTER) return INVALID_VALUE;
        if (config->grid[0] % dims[0] != 0) return INVALID_VALUE;
        cluster = dims[0];
    }
    return launch_in_clusters((Function*)f, config->grid, config->block, config->shared, cluster, params);
}

// A tensor map for the emulator's TMA copies (tensor_map.h): 2-D bf16 or f16 tensors, tiled, no
// interleave, no swizzle or the 128-byte one; refused, as the driver refuses them, when the address
// is not 16-byte aligned, the row stride not a multiple of 16 bytes, a box dim outside 1…256, or a
// swizzled box row wider than the swizzle.
EXPORT CUresult cuTensorMapEncodeTiled(void* map, int dtype, unsigned rank, void* address, const uint64_t* dims,
                                       const uint64_t* strides, const unsigned* box, const unsigned* element_strides,
                                       int interleave, int swizzle, int, int) {
    const int BFLOAT16 = 9, FLOAT16 = 6, SWIZZLE_NONE = 0, SWIZZLE_128B = 3;
    if (rank != 2 || (dtype != BFLOAT16 && dtype != FLOAT16) || interleave != 0) return INVALID_VALUE;
    if (swizzle != SWIZZLE_NONE && swizzle != SWIZZLE_128B) return INVALID_VALUE;
    if ((uintptr_t)address % 16 != 0 || strides[0] % 16 != 0 || element_strides[0] != 1 || element_strides[1] != 1)
        return INVALID_VALUE;
    for (int d = 0; d < 2; ++d)
        if (box[d] == 0 || box[d] > 256) return INVALID_VALUE;
    if (swizzle == SWIZZLE_128B && box[0] * 2 > 128) return INVALID_VALUE;
    EmulatedTensorMap m{TENSOR_MAP_MAGIC, (uint64_t)address, {dims[0], dims[1]}, strides[0], {box[0], box[1]},
                        swizzle == SWIZZLE_128B ? 128u : 0u};
    memset(map, 0, 128);
    memcpy(map, &m, sizeof m);
    return OK;
}

EXPORT CUresult cuGetErrorString(CUresult, const char** s) { *s = "CUDA emulator error"; return OK; }
EXPORT CUresult cuGetErrorName(CUresult, const char** s) { *s = "CUDA_EMULATOR_ERROR"; return OK; }

// ---- NVRTC -----------------------------------------------------------------------------------

struct Program {
    std::string ptx;
};

EXPORT int nvrtcVersion(int* major, int* minor) { *major = 13; *minor = 0; return 0; }
EXPORT int nvrtcCreateProgram(void** prog, const char*, const char* name, int, const char* const*, const char* const*) {
    *prog = new Program{std::string("//emulated:") + (name ? name : "")};
    return 0;
}
EXPORT int nvrtcDestroyProgram(void** prog) { delete (Program*)*prog; *prog = nullptr; return 0; }
EXPORT int nvrtcCompileProgram(void*, int, const char* const*) { return 0; }
EXPORT int nvrtcGetPTXSize(void* prog, size_t* n) { *n = ((Program*)prog)->ptx.size() + 1; return 0; }
EXPORT int nvrtcGetPTX(void* prog, char* out) { memcpy(out, ((Program*)prog)->ptx.c_str(), ((Program*)prog)->ptx.size() + 1); return 0; }
EXPORT int nvrtcGetProgramLogSize(void*, size_t* n) { *n = 1; return 0; }
EXPORT int nvrtcGetProgramLog(void*, char* log) { log[0] = 0; return 0; }
EXPORT const char* nvrtcGetErrorString(int) { return "NVRTC emulator error"; }

// ---- cuBLAS ----------------------------------------------------------------------------------

struct Blas {
    int math_mode;  // 3: CUBLAS_TF32_TENSOR_OP_MATH
};

EXPORT int cublasCreate_v2(void** handle) { *handle = new Blas{0}; return 0; }
EXPORT int cublasDestroy_v2(void* handle) { delete (Blas*)handle; return 0; }
EXPORT int cublasSetStream_v2(void*, void*) { return 0; }
EXPORT int cublasSetMathMode(void* handle, int mode) { ((Blas*)handle)->math_mode = mode; return 0; }
EXPORT int cublasGetMathMode(void* handle, int* mode) { *mode = ((Blas*)handle)->math_mode; return 0; }
EXPORT int cublasSetWorkspace_v2(void*, void*, size_t) { return 0; }

// TF32: 10 explicit mantissa bits, rounded to nearest (ties away, as the tensor cores' conversion).
static float to_tf32(float x) {
    uint32_t u;
    memcpy(&u, &x, 4);
    if ((u & 0x7f800000u) != 0x7f800000u) u = (u + 0x1000u) & 0xffffe000u;
    memcpy(&x, &u, 4);
    return x;
}


// C[b] = α·op(A[b])·op(B[b]) + β·C[b], column-major as cuBLAS: op(A) is m × k, op(B) k × n; a
// transposed operand (op 1) is read across its leading dimension. Elements through `read_*`;
// each matrix is first gathered into rows of k (op(A)'s rows, op(B)'s columns), so the dot
// products run over contiguous memory.
static void gemm_strided_batched(int transa, int transb, int m, int n, int k, float alpha,
                                 const std::function<float(long long)>& read_a, int lda, long long stride_a,
                                 const std::function<float(long long)>& read_b, int ldb, long long stride_b,
                                 float beta, float* C, int ldc, long long stride_c, int batch) {
    std::vector<float> a((size_t)m * k), b((size_t)n * k);
    for (int batch_index = 0; batch_index < batch; ++batch_index) {
        long long oa = batch_index * stride_a, ob = batch_index * stride_b;
        for (int i = 0; i < m; ++i)
            for (int p = 0; p < k; ++p) a[(size_t)i * k + p] = read_a(oa + (transa ? p + (long long)i * lda : i + (long long)p * lda));
        for (int j = 0; j < n; ++j)
            for (int p = 0; p < k; ++p) b[(size_t)j * k + p] = read_b(ob + (transb ? j + (long long)p * ldb : p + (long long)j * ldb));
        for (int j = 0; j < n; ++j)
            for (int i = 0; i < m; ++i) {
                const float *row = &a[(size_t)i * k], *col = &b[(size_t)j * k];
                double acc = 0.0;
                for (int p = 0; p < k; ++p) acc += (double)row[p] * (double)col[p];
                float* c = &C[batch_index * stride_c + i + (long long)j * ldc];
                *c = (float)(alpha * acc + (beta == 0.0f ? 0.0 : (double)beta * *c));
            }
    }
}

EXPORT int cublasSgemmStridedBatched(void* handle, int transa, int transb, int m, int n, int k, const float* alpha,
                                     const float* A, int lda, long long stride_a, const float* B, int ldb,
                                     long long stride_b, const float* beta, float* C, int ldc, long long stride_c,
                                     int batch) {
    bool tf32 = ((Blas*)handle)->math_mode == 3;
    std::function<float(long long)> a = [&](long long i) { return tf32 ? to_tf32(A[i]) : A[i]; };
    std::function<float(long long)> b = [&](long long i) { return tf32 ? to_tf32(B[i]) : B[i]; };
    gemm_strided_batched(transa, transb, m, n, k, *alpha, a, lda, stride_a, b, ldb, stride_b, *beta, C, ldc,
                         stride_c, batch);
    return 0;
}

EXPORT int cublasSgemm_v2(void* handle, int transa, int transb, int m, int n, int k, const float* alpha,
                          const float* A, int lda, const float* B, int ldb, const float* beta, float* C, int ldc) {
    return cublasSgemmStridedBatched(handle, transa, transb, m, n, k, alpha, A, lda, 0, B, ldb, 0, beta, C, ldc, 0, 1);
}


// A and B bf16 (CUDA_R_16BF = 14) or f32 (CUDA_R_32F = 0), C f32 or bf16; f32 compute (68), or
// with f32 operands rounded to bf16 (CUBLAS_COMPUTE_32F_FAST_16BF = 75) or TF32 (77) first. A bf16
// C is computed in f32 (from its old values when β ≠ 0) and rounded into place.
EXPORT int cublasGemmStridedBatchedEx(void* handle, int transa, int transb, int m, int n, int k, const void* alpha,
                                      const void* A, int a_type, int lda, long long stride_a, const void* B,
                                      int b_type, int ldb, long long stride_b, const void* beta, void* C, int c_type,
                                      int ldc, long long stride_c, int batch, int compute, int) {
    if ((c_type != 0 && c_type != 14) || (a_type != 14 && a_type != 0) || (b_type != 14 && b_type != 0)) return 15;
    auto reader = [compute](const void* p, int type) -> std::function<float(long long)> {
        if (type == 14) return [p](long long i) { return __bfloat162float(((const __nv_bfloat16*)p)[i]); };
        if (compute == 75) return [p](long long i) { return (float)__float2bfloat16_rn(((const float*)p)[i]); };
        if (compute == 77) return [p](long long i) { return to_tf32(((const float*)p)[i]); };
        return [p](long long i) { return ((const float*)p)[i]; };
    };
    (void)handle;
    float b = *(const float*)beta;
    std::vector<float> wide;  // a bf16 C, widened
    size_t span = batch > 0 && n > 0 ? (size_t)(stride_c * (batch - 1) + (long long)ldc * (n - 1) + m) : 0;
    if (c_type == 14) {
        wide.assign(span, 0.0f);
        if (b != 0.0f)
            for (size_t i = 0; i < span; ++i) wide[i] = __bfloat162float(((const __nv_bfloat16*)C)[i]);
    }
    float* out = c_type == 14 ? wide.data() : (float*)C;
    gemm_strided_batched(transa, transb, m, n, k, *(const float*)alpha, reader(A, a_type), lda, stride_a,
                         reader(B, b_type), ldb, stride_b, b, out, ldc, stride_c, batch);
    if (c_type == 14)
        for (int batch_index = 0; batch_index < batch; ++batch_index)
            for (int j = 0; j < n; ++j)
                for (int i = 0; i < m; ++i) {
                    long long at = batch_index * stride_c + i + (long long)j * ldc;
                    ((__nv_bfloat16*)C)[at] = __float2bfloat16_rn(wide[at]);
                }
    return 0;
}

EXPORT int cublasGemmEx(void* handle, int transa, int transb, int m, int n, int k, const void* alpha, const void* A,
                        int a_type, int lda, const void* B, int b_type, int ldb, const void* beta, void* C, int c_type,
                        int ldc, int compute, int algo) {
    return cublasGemmStridedBatchedEx(handle, transa, transb, m, n, k, alpha, A, a_type, lda, 0, B, b_type, ldb, 0,
                                      beta, C, c_type, ldc, 0, 1, compute, algo);
}

// ---- cuBLASLt: descriptors as plain structs, products through gemm_strided_batched ------------

struct LtMatmulDesc {
    int compute = 68, transa = 0, transb = 0, epilogue = 1;  // CUBLASLT_EPILOGUE_DEFAULT
    const float* bias = nullptr;
};
struct LtLayout {
    int type = 0;
    uint64_t rows = 0, cols = 0;
    int64_t ld = 0, batch_stride = 0;
    int batch = 1;
};

EXPORT int cublasLtCreate(void** handle) { *handle = new int(0); return 0; }
EXPORT int cublasLtDestroy(void* handle) { delete (int*)handle; return 0; }
EXPORT int cublasLtMatmulDescCreate(void** desc, int compute, int) { *desc = new LtMatmulDesc{compute}; return 0; }
EXPORT int cublasLtMatmulDescDestroy(void* desc) { delete (LtMatmulDesc*)desc; return 0; }
// TRANSA (3), TRANSB (4), EPILOGUE (7), BIAS_POINTER (8); others are accepted and ignored.
EXPORT int cublasLtMatmulDescSetAttribute(void* desc, int attribute, const void* value, size_t size) {
    LtMatmulDesc* d = (LtMatmulDesc*)desc;
    if (attribute == 3 || attribute == 4 || attribute == 7) {
        int v = 0;
        memcpy(&v, value, size < sizeof v ? size : sizeof v);
        (attribute == 3 ? d->transa : attribute == 4 ? d->transb : d->epilogue) = v;
    } else if (attribute == 8) {
        memcpy(&d->bias, value, sizeof d->bias);
    }
    return 0;
}
EXPORT int cublasLtMatrixLayoutCreate(void** layout, int type, uint64_t rows, uint64_t cols, int64_t ld) {
    *layout = new LtLayout{type, rows, cols, ld};
    return 0;
}
EXPORT int cublasLtMatrixLayoutDestroy(void* layout) { delete (LtLayout*)layout; return 0; }
// BATCH_COUNT (5), STRIDED_BATCH_OFFSET (6).
EXPORT int cublasLtMatrixLayoutSetAttribute(void* layout, int attribute, const void* value, size_t) {
    LtLayout* l = (LtLayout*)layout;
    if (attribute == 5) memcpy(&l->batch, value, sizeof l->batch);
    if (attribute == 6) memcpy(&l->batch_stride, value, sizeof l->batch_stride);
    return 0;
}
EXPORT int cublasLtMatmulPreferenceCreate(void** pref) { *pref = new int(0); return 0; }
EXPORT int cublasLtMatmulPreferenceDestroy(void* pref) { delete (int*)pref; return 0; }
EXPORT int cublasLtMatmulPreferenceSetAttribute(void*, int, const void*, size_t) { return 0; }

// One "algorithm" (cublasLtMatmulHeuristicResult_t: a 64-byte algo, workspace size, state,
// waves, 4 reserved ints), for the cases the emulated matmul runs: the default or bias epilogue,
// bf16 or f32 A and B, f32 C and D.
EXPORT int cublasLtMatmulAlgoGetHeuristic(void*, void* desc, void* a, void* b, void* c, void*, void*, int requested,
                                         void* results, int* count) {
    int epilogue = ((LtMatmulDesc*)desc)->epilogue, ta = ((LtLayout*)a)->type, tb = ((LtLayout*)b)->type;
    bool supported = (epilogue == 1 || epilogue == 4) && (ta == 14 || ta == 0) && (tb == 14 || tb == 0) &&
                     ((LtLayout*)c)->type == 0;
    if (!supported || requested < 1) {
        *count = 0;
        return 15;  // CUBLAS_STATUS_NOT_SUPPORTED
    }
    memset(results, 0, 96);
    *count = 1;
    return 0;
}

// D = α·op(A)·op(B) + β·C (+ the bias, one value per row of D, with the bias epilogue), batched,
// column-major; D and C must be the same matrix here.
EXPORT int cublasLtMatmul(void*, void* desc, const void* alpha, const void* A, void* a_layout, const void* B,
                          void* b_layout, const void* beta, const void* C, void*, void* D, void* d_layout,
                          const void*, void*, size_t, void*) {
    LtMatmulDesc* d = (LtMatmulDesc*)desc;
    LtLayout *la = (LtLayout*)a_layout, *lb = (LtLayout*)b_layout, *ld = (LtLayout*)d_layout;
    if (ld->type != 0) return 15;
    int m = (int)ld->rows, n = (int)ld->cols, k = (int)(d->transa ? la->rows : la->cols);
    // A C apart from D (laid out as D) is copied into D first, where β then finds it.
    if (C != D)
        for (int batch = 0; batch < ld->batch; ++batch)
            for (int j = 0; j < n; ++j)
                for (int i = 0; i < m; ++i) {
                    long long at = batch * ld->batch_stride + i + (long long)j * ld->ld;
                    ((float*)D)[at] = ((const float*)C)[at];
                }
    auto reader = [](const void* p, int type) -> std::function<float(long long)> {
        if (type == 14) return [p](long long i) { return __bfloat162float(((const __nv_bfloat16*)p)[i]); };
        return [p](long long i) { return ((const float*)p)[i]; };
    };
    float* out = (float*)D;
    gemm_strided_batched(d->transa, d->transb, m, n, k, *(const float*)alpha, reader(A, la->type), (int)la->ld,
                         la->batch_stride, reader(B, lb->type), (int)lb->ld, lb->batch_stride, *(const float*)beta, out,
                         (int)ld->ld, ld->batch_stride, ld->batch);
    if (d->epilogue == 4)
        for (int batch = 0; batch < ld->batch; ++batch)
            for (int j = 0; j < n; ++j)
                for (int i = 0; i < m; ++i) out[batch * ld->batch_stride + i + (long long)j * ld->ld] += d->bias[i];
    return 0;
}
