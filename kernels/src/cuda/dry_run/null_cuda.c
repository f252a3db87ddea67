// The CUDA libraries the engine loads (the driver, NVRTC, cuBLAS, cuBLASLt) as a dry run needs
// them: every call succeeds and nothing runs. Built by kernels/build.rs four times, as
// libcuda.so, libnvrtc.so, libcublas.so and libcublasLt.so (the SONAME a later dlopen by bare
// name matches), and loaded by kernels::cuda::dry_run.
//
// - One device: an H100 (compute capability 9.0, 132 multiprocessors, 80 GB).
// - Memory is never allocated: an allocation asks the engine (a callback) for an address, which
//   no one dereferences; a free gives it back. The engine counts the bytes live.
// - Memsets and copies touch nothing (a copy to the host writes zeros there) and are reported to
//   the engine, which writes them to its launch ledger.
// - NVRTC compiles nothing, a module loads from any image, a launch returns at once; cuBLAS and
//   cuBLASLt accept every product (the engine's launch wrappers record what they cost).

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXPORT __attribute__((visibility("default")))

typedef int Status;  // CUresult, nvrtcResult, cublasStatus_t: 0 = success
typedef unsigned long long Address;

// The engine's side: addresses for allocations, and the memory operations it records.
typedef Address (*Allocate)(size_t bytes);
typedef void (*Release)(Address address);
typedef void (*Transfer)(int kind, size_t bytes);  // kind: see `enum Kind`
enum Kind { MEMSET = 0, DEVICE_TO_DEVICE = 1, HOST_TO_DEVICE = 2, DEVICE_TO_HOST = 3 };

static Allocate allocate = NULL;
static Release release = NULL;
static Transfer transfer = NULL;

// Called once by the engine before any other call.
EXPORT void dry_run_set_callbacks(Allocate a, Release r, Transfer t) {
    allocate = a;
    release = r;
    transfer = t;
}

static Status report(int kind, size_t bytes) {
    if (transfer) transfer(kind, bytes);
    return 0;
}

// A handle for whatever the caller asks to create: distinct, never dereferenced by anyone.
static char handles[64];
static void* handle(void) { return handles; }

// ---- Driver ----------------------------------------------------------------------------------

EXPORT Status cuInit(unsigned flags) { return 0; }
EXPORT Status cuDriverGetVersion(int* version) { *version = 13000; return 0; }
EXPORT Status cuDeviceGetCount(int* count) { *count = 1; return 0; }
EXPORT Status cuDeviceGet(int* device, int ordinal) { *device = ordinal; return ordinal == 0 ? 0 : 101; }
EXPORT Status cuDeviceGetName(char* name, int length, int device) {
    snprintf(name, length, "NVIDIA H100 (dry run: no GPU)");
    return 0;
}
EXPORT Status cuDeviceGetAttribute(int* value, int attribute, int device) {
    switch (attribute) {
        case 75: *value = 9; break;  // compute capability major
        case 76: *value = 0; break;  // minor
        case 1: *value = 1024; break;  // max threads per block
        case 8: *value = 48 * 1024; break;  // shared memory per block
        case 10: *value = 32; break;  // warp size
        case 16: *value = 132; break;  // multiprocessors
        case 115: *value = 1; break;  // memory pools (stream-ordered allocation)
        default: *value = 0;
    }
    return 0;
}
EXPORT Status cuDeviceTotalMem_v2(size_t* bytes, int device) { *bytes = (size_t)80 << 30; return 0; }
EXPORT Status cuMemGetInfo_v2(size_t* free_bytes, size_t* total) {
    *free_bytes = *total = (size_t)80 << 30;
    return 0;
}
EXPORT Status cuDevicePrimaryCtxRetain(void** context, int device) { *context = handle(); return 0; }
EXPORT Status cuDevicePrimaryCtxRelease_v2(int device) { return 0; }
EXPORT Status cuCtxSetCurrent(void* context) { return 0; }
EXPORT Status cuCtxGetCurrent(void** context) { *context = handle(); return 0; }
EXPORT Status cuCtxPushCurrent_v2(void* context) { return 0; }
EXPORT Status cuCtxPopCurrent_v2(void** context) {
    if (context) *context = handle();
    return 0;
}
EXPORT Status cuCtxSynchronize(void) { return 0; }
EXPORT Status cuCtxGetDevice(int* device) { *device = 0; return 0; }
EXPORT Status cuStreamCreate(void** stream, unsigned flags) { *stream = NULL; return 0; }
EXPORT Status cuStreamDestroy_v2(void* stream) { return 0; }
EXPORT Status cuStreamSynchronize(void* stream) { return 0; }
EXPORT Status cuStreamWaitEvent(void* stream, void* event, unsigned flags) { return 0; }
EXPORT Status cuEventCreate(void** event, unsigned flags) { *event = handle(); return 0; }
EXPORT Status cuEventDestroy_v2(void* event) { return 0; }
EXPORT Status cuEventRecord(void* event, void* stream) { return 0; }
EXPORT Status cuEventRecordWithFlags(void* event, void* stream, unsigned flags) { return 0; }
EXPORT Status cuEventSynchronize(void* event) { return 0; }
EXPORT Status cuEventQuery(void* event) { return 0; }
EXPORT Status cuEventElapsedTime(float* ms, void* start, void* end) { *ms = 0.0f; return 0; }
EXPORT Status cuEventElapsedTime_v2(float* ms, void* start, void* end) { *ms = 0.0f; return 0; }

EXPORT Status cuMemAlloc_v2(Address* address, size_t bytes) {
    if (!allocate) return 2;  // CUDA_ERROR_OUT_OF_MEMORY: the engine did not register
    *address = allocate(bytes);
    return 0;
}
EXPORT Status cuMemAllocAsync(Address* address, size_t bytes, void* stream) { return cuMemAlloc_v2(address, bytes); }
EXPORT Status cuMemFree_v2(Address address) {
    if (release) release(address);
    return 0;
}
EXPORT Status cuMemFreeAsync(Address address, void* stream) { return cuMemFree_v2(address); }
static unsigned long long pool_release_threshold = 0;
EXPORT Status cuDeviceGetDefaultMemPool(void** pool, int device) { *pool = handle(); return 0; }
EXPORT Status cuMemPoolSetAttribute(void* pool, int attribute, void* value) {
    memcpy(&pool_release_threshold, value, sizeof pool_release_threshold);
    return 0;
}
EXPORT Status cuMemPoolGetAttribute(void* pool, int attribute, void* value) {
    memcpy(value, &pool_release_threshold, sizeof pool_release_threshold);
    return 0;
}
EXPORT Status cuMemcpyHtoD_v2(Address to, const void* from, size_t n) { return report(HOST_TO_DEVICE, n); }
EXPORT Status cuMemcpyHtoDAsync_v2(Address to, const void* from, size_t n, void* s) { return report(HOST_TO_DEVICE, n); }
EXPORT Status cuMemcpyDtoH_v2(void* to, Address from, size_t n) {
    memset(to, 0, n);
    return report(DEVICE_TO_HOST, n);
}
EXPORT Status cuMemcpyDtoHAsync_v2(void* to, Address from, size_t n, void* s) { return cuMemcpyDtoH_v2(to, from, n); }
EXPORT Status cuMemcpyDtoD_v2(Address to, Address from, size_t n) { return report(DEVICE_TO_DEVICE, n); }
EXPORT Status cuMemcpyDtoDAsync_v2(Address to, Address from, size_t n, void* s) { return report(DEVICE_TO_DEVICE, n); }
EXPORT Status cuMemsetD8_v2(Address to, unsigned char value, size_t n) { return report(MEMSET, n); }
EXPORT Status cuMemsetD8Async(Address to, unsigned char value, size_t n, void* s) { return report(MEMSET, n); }
EXPORT Status cuMemsetD32_v2(Address to, unsigned value, size_t n) { return report(MEMSET, 4 * n); }
EXPORT Status cuMemsetD32Async(Address to, unsigned value, size_t n, void* s) { return report(MEMSET, 4 * n); }
EXPORT Status cuPointerGetAttribute(void* data, int attribute, Address address) {
    *(int*)data = 0;
    return 0;
}

EXPORT Status cuModuleLoadData(void** module, const void* image) { *module = handle(); return 0; }
EXPORT Status cuModuleUnload(void* module) { return 0; }
EXPORT Status cuModuleGetFunction(void** function, void* module, const char* name) { *function = handle(); return 0; }
EXPORT Status cuFuncGetAttribute(int* value, int attribute, void* function) { *value = 0; return 0; }
EXPORT Status cuFuncSetAttribute(void* function, int attribute, int value) { return 0; }
EXPORT Status cuFuncSetCacheConfig(void* function, int config) { return 0; }
EXPORT Status cuLaunchKernel(void* f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz,
                             unsigned shared, void* stream, void** params, void** extra) {
    return 0;
}
EXPORT Status cuLaunchKernelEx(const void* config, void* f, void** params, void** extra) { return 0; }
EXPORT Status cuTensorMapEncodeTiled(void* map, int dtype, unsigned rank, void* address, const uint64_t* dims,
                                     const uint64_t* strides, const unsigned* box, const unsigned* element_strides,
                                     int interleave, int swizzle, int l2, int fill) {
    memset(map, 0, 128);
    return 0;
}
EXPORT Status cuGetErrorString(Status status, const char** text) { *text = "dry-run driver error"; return 0; }
EXPORT Status cuGetErrorName(Status status, const char** text) { *text = "DRY_RUN_ERROR"; return 0; }

// ---- NVRTC: a program's "PTX" is a comment ----------------------------------------------------

static const char ptx[] = "// dry run: not compiled";
EXPORT Status nvrtcVersion(int* major, int* minor) {
    *major = 13;
    *minor = 0;
    return 0;
}
EXPORT Status nvrtcCreateProgram(void** program, const char* source, const char* name, int headers,
                                 const char* const* header_texts, const char* const* header_names) {
    *program = handle();
    return 0;
}
EXPORT Status nvrtcDestroyProgram(void** program) {
    *program = NULL;
    return 0;
}
EXPORT Status nvrtcCompileProgram(void* program, int options, const char* const* option_texts) { return 0; }
EXPORT Status nvrtcGetPTXSize(void* program, size_t* size) { *size = sizeof ptx; return 0; }
EXPORT Status nvrtcGetPTX(void* program, char* out) { memcpy(out, ptx, sizeof ptx); return 0; }
EXPORT Status nvrtcGetProgramLogSize(void* program, size_t* size) { *size = 1; return 0; }
EXPORT Status nvrtcGetProgramLog(void* program, char* log) { log[0] = 0; return 0; }
EXPORT const char* nvrtcGetErrorString(Status status) { return "dry-run NVRTC error"; }

// ---- cuBLAS and cuBLASLt: handles, descriptors, and products that return at once ----------------

static int math_mode = 0;
EXPORT Status cublasCreate_v2(void** blas) { *blas = handle(); return 0; }
EXPORT Status cublasDestroy_v2(void* blas) { return 0; }
EXPORT Status cublasSetStream_v2(void* blas, void* stream) { return 0; }
EXPORT Status cublasSetMathMode(void* blas, int mode) { math_mode = mode; return 0; }
EXPORT Status cublasGetMathMode(void* blas, int* mode) { *mode = math_mode; return 0; }
EXPORT Status cublasSetWorkspace_v2(void* blas, void* workspace, size_t bytes) { return 0; }
// The products take many arguments; none is read, so none is named.
EXPORT Status cublasSgemm_v2(void) { return 0; }
EXPORT Status cublasSgemmStridedBatched(void) { return 0; }
EXPORT Status cublasGemmEx(void) { return 0; }
EXPORT Status cublasGemmStridedBatchedEx(void) { return 0; }

EXPORT Status cublasLtCreate(void** lt) { *lt = handle(); return 0; }
EXPORT Status cublasLtDestroy(void* lt) { return 0; }
EXPORT Status cublasLtMatmulDescCreate(void** desc, int compute, int scale) { *desc = handle(); return 0; }
EXPORT Status cublasLtMatmulDescDestroy(void* desc) { return 0; }
EXPORT Status cublasLtMatmulDescSetAttribute(void* desc, int attribute, const void* value, size_t size) { return 0; }
EXPORT Status cublasLtMatrixLayoutCreate(void** layout, int type, uint64_t rows, uint64_t cols, int64_t ld) {
    *layout = handle();
    return 0;
}
EXPORT Status cublasLtMatrixLayoutDestroy(void* layout) { return 0; }
EXPORT Status cublasLtMatrixLayoutSetAttribute(void* layout, int attribute, const void* value, size_t size) {
    return 0;
}
EXPORT Status cublasLtMatmulPreferenceCreate(void** preference) { *preference = handle(); return 0; }
EXPORT Status cublasLtMatmulPreferenceDestroy(void* preference) { return 0; }
EXPORT Status cublasLtMatmulPreferenceSetAttribute(void* preference, int attribute, const void* value, size_t size) {
    return 0;
}
// One algorithm (cublasLtMatmulHeuristicResult_t: a 64-byte algo, its workspace size, state,
// waves, 4 reserved ints) for every product.
EXPORT Status cublasLtMatmulAlgoGetHeuristic(void* lt, void* desc, void* a, void* b, void* c, void* d,
                                             void* preference, int requested, void* results, int* count) {
    memset(results, 0, 96);
    *count = requested > 0 ? 1 : 0;
    return 0;
}
EXPORT Status cublasLtMatmul(void) { return 0; }
