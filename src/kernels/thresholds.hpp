// Internal: the constants that decide when a kernel goes parallel, how it cuts its work, and
// which conv path it takes. Kept together so a retune on new hardware touches one file.
#pragma once
#include <cstdint>

namespace cnnzoo::kernels {

// ---- conv: threads ---------------------------------------------------------------------------

// Waking the other threads costs microseconds (much more on a busy machine), so small convs
// (late layers at batch 1, gradient checks) stay on the calling thread. Winograd counts its
// multiplies the same way.
constexpr double kMinMacsPerThread = 256 * 1024;

// Weight gradients are summed per block of images, and the blocks in a fixed order at the end:
// the count depends only on the problem (never on the thread count or on which thread ran
// which block), so the result is the same with any number of threads and run to run. The
// budget caps the memory all blocks' partial gradients take together.
constexpr int64_t kMaxGradBlocks = 8;
constexpr double kGradBlockBudgetBytes = 64.0 * 1024 * 1024;

// ---- conv: im2col + GEMM tiles ---------------------------------------------------------------

// The im2col tile stays well inside L2 while the GEMM packs it right after it is written;
// for ResNet-20's 32x32 layers two tiles of 16 rows per image measured faster than one of 32
// and than smaller ones. Tiles keep at least kMinTileCols output pixels, though: deep layers
// (K = 512 * 9, 14x14 output) would otherwise become many skinny GEMMs that each re-pack
// the whole weight. Planes smaller than kMinTileCols put several images into one GEMM.
constexpr int64_t kColBudgetBytes = 384 * 1024;
constexpr int64_t kMinTileCols = 256;

// ---- conv: Winograd F(4x4, 3x3) --------------------------------------------------------------

// Under bf16 a Winograd conv's weight gradient is a bf16 GEMM when each group has this many
// output channels, else the fp32 direct taps: with fewer, packing the im2col operand costs
// more than its products (batch 128, 2 threads, backward: 16 -> 16 at 32x32 6.5 ms as a bf16
// GEMM against 5.2 by taps; 32 -> 32 at 16x16 3.4 against 5.4; 64 -> 64 at 32x32 41 against 47).
constexpr int64_t kBf16WeightGradMinOutputs = 32;

// The per-thread buffers (transformed input V and the GEMM products M) of one block of tiles
// stay inside a 1 MB L2 between the GEMMs that write and read them.
constexpr int64_t kWinogradBlockBudgetBytes = 768 * 1024;

// The weight transform (36 values per kernel, every call) is paid back over the tiles of the
// batch, and the GEMMs run on whole column steps of tiles. At batch 1, 2 threads, forward:
// 512@7x7 (4 tiles) took 7.1 ms against im2col's 1.9, 256@14x14 (16 tiles) 2.4 against 1.0;
// 512@7x7 at batch 8 (32 tiles) tied; 128@28x28 (49 tiles) took 0.8 against 1.1.
constexpr int64_t kWinogradMinTiles = 48;

// Fewer input or output channels make the transforms cost more than the GEMMs save.
constexpr int64_t kWinogradMinChannels = 8;

// ---- linear ----------------------------------------------------------------------------------

// Below this a parallel region costs more than the GEMM it would split.
constexpr double kMinParallelFlops = 1 << 20;

}  // namespace cnnzoo::kernels
