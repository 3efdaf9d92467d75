// The bf16 GEMM behind Precision::BF16: operands rounded to bfloat16 while they are packed,
// multiplied by AVX-512 BF16 dot products (vdpbf16ps: two products per fp32 lane) into fp32
// accumulators. Compiled for that instruction set whatever the build flags; called only
// when bf16_supported().
#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "kernels/gemm_bf16.hpp"

#define CNNZOO_BF16_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16")))

namespace cnnzoo::kernels {

namespace {

// The micro-tile: MR rows of C by NR columns (two vectors), 16 accumulators. A panel holds
// MR rows' (k, k+1) pairs, a B panel NR columns' pairs: both packed k-pair by k-pair, so the
// kernel reads them front to back. KC k values per pass keep a B panel (KC/2 x NR x 4 bytes,
// 16 KiB) in L1 and the packed A block in L2.
constexpr int64_t MR = 8, NR = 32, KC = 256;

// Round to nearest even, as vcvtneps2bf16; NaN stays NaN.
uint16_t to_bf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40);
  u += 0x7fffu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(u >> 16);
}

uint32_t pair(float lo, float hi) {
  return uint32_t(to_bf16(lo)) | (uint32_t(to_bf16(hi)) << 16);
}

// 16 floats -> 16 bf16 in a 256-bit register.
CNNZOO_BF16_TARGET inline __m256i cvt16(const float* p) {
  return (__m256i)_mm512_cvtneps_pbh(_mm512_loadu_ps(p));
}
// Two rows of 16 floats -> 16 (row0, row1) pairs.
CNNZOO_BF16_TARGET inline __m512i interleave16(const float* r0, const float* r1) {
  const __m512i lo = _mm512_cvtepu16_epi32(cvt16(r0));
  const __m512i hi = _mm512_cvtepu16_epi32(cvt16(r1));
  return _mm512_or_si512(lo, _mm512_slli_epi32(hi, 16));
}

CNNZOO_BF16_TARGET inline __m256i interleave8(const float* r0, const float* r1) {
  const __m256i lo = _mm256_cvtepu16_epi32((__m128i)_mm256_cvtneps_pbh(_mm256_loadu_ps(r0)));
  const __m256i hi = _mm256_cvtepu16_epi32((__m128i)_mm256_cvtneps_pbh(_mm256_loadu_ps(r1)));
  return _mm256_or_si256(lo, _mm256_slli_epi32(hi, 16));
}

// Packs rows [i0, i0 + rows) x k values [k0, k0 + kc) of X (element (i, k) at
// p[i * rs + k * cs]) as panels of `width` rows: out[panel][k pair][row], zero past the edges.
// X is A (width MR, rows of C) or B transposed (width NR, columns of C).
CNNZOO_BF16_TARGET void pack(const float* p, int64_t rs, int64_t cs, int64_t i0, int64_t rows,
                             int64_t k0, int64_t kc, int64_t width, uint32_t* out) {
  const int64_t pairs = (kc + 1) / 2;
  for (int64_t base = 0; base < rows; base += width) {
    uint32_t* panel = out + (base / width) * pairs * width;
    const int64_t n = std::min(width, rows - base);
    if (n < width || kc % 2) std::fill(panel, panel + pairs * width, 0u);
    const float* x = p + (i0 + base) * rs + k0 * cs;
    if (rs == 1 && n == width && width % 16 == 0) {
      // Rows contiguous: 16 rows of two k values at a time.
      for (int64_t q = 0; q < kc / 2; ++q)
        for (int64_t r = 0; r < width; r += 16)
          _mm512_storeu_si512(panel + q * width + r,
                              interleave16(x + 2 * q * cs + r, x + (2 * q + 1) * cs + r));
    } else if (rs == 1 && n == width && width % 8 == 0) {
      for (int64_t q = 0; q < kc / 2; ++q)
        for (int64_t r = 0; r < width; r += 8)
          _mm256_storeu_si256(reinterpret_cast<__m256i*>(panel + q * width + r),
                              interleave8(x + 2 * q * cs + r, x + (2 * q + 1) * cs + r));
    } else if (cs == 1) {
      // k contiguous: 16 k values of one row give 8 pairs in order.
      const int64_t k16 = kc / 16 * 16;
      for (int64_t r = 0; r < n; ++r) {
        const float* row = x + r * rs;
        for (int64_t k = 0; k < k16; k += 16) {
          alignas(32) uint32_t v[8];
          _mm256_store_si256(reinterpret_cast<__m256i*>(v), cvt16(row + k));
          for (int64_t j = 0; j < 8; ++j) panel[(k / 2 + j) * width + r] = v[j];
        }
        for (int64_t k = k16; k + 1 < kc; k += 2)
          panel[(k / 2) * width + r] = pair(row[k], row[k + 1]);
      }
    } else {
      for (int64_t r = 0; r < n; ++r)
        for (int64_t k = 0; k + 1 < kc; k += 2)
          panel[(k / 2) * width + r] = pair(x[r * rs + k * cs], x[r * rs + (k + 1) * cs]);
    }
    if (kc % 2)
      for (int64_t r = 0; r < n; ++r)
        panel[(kc / 2) * width + r] = to_bf16(x[r * rs + (kc - 1) * cs]);
  }
}

// C tile (m x n of MR x NR, rows ldc apart) = or += A panel * B panel over `pairs` k pairs.
CNNZOO_BF16_TARGET void micro_kernel(int64_t pairs, const uint32_t* a, const uint32_t* b, float* c,
                                     int64_t ldc, int64_t m, int64_t n, bool accumulate) {
  __m512 acc[MR][2];
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
  for (int64_t q = 0; q < pairs; ++q) {
    const __m512bh b0 = (__m512bh)_mm512_loadu_si512(b + q * NR);
    const __m512bh b1 = (__m512bh)_mm512_loadu_si512(b + q * NR + 16);
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r) {
      const __m512bh ar = (__m512bh)_mm512_set1_epi32(static_cast<int>(a[q * MR + r]));
      acc[r][0] = _mm512_dpbf16_ps(acc[r][0], ar, b0);
      acc[r][1] = _mm512_dpbf16_ps(acc[r][1], ar, b1);
    }
  }
  const __mmask16 m0 = n >= 16 ? 0xffff : static_cast<__mmask16>((1u << n) - 1);
  const __mmask16 m1 = n >= 32   ? 0xffff
                       : n <= 16 ? 0
                                 : static_cast<__mmask16>((1u << (n - 16)) - 1);
  for (int r = 0; r < m; ++r) {
    float* row = c + r * ldc;
    __m512 v0 = acc[r][0], v1 = acc[r][1];
    if (accumulate) {
      v0 = _mm512_add_ps(v0, _mm512_maskz_loadu_ps(m0, row));
      v1 = _mm512_add_ps(v1, _mm512_maskz_loadu_ps(m1, row + 16));
    }
    _mm512_mask_storeu_ps(row, m0, v0);
    _mm512_mask_storeu_ps(row + 16, m1, v1);
  }
}

// The packed A block and B panel, per thread, grown as needed.
uint32_t* workspace(int64_t M, int64_t K) {
  struct Buffer {
    std::vector<uint32_t> data;
  };
  thread_local Buffer buf;
  const int64_t pairs = (std::min(K, KC) + 1) / 2;
  const size_t need = static_cast<size_t>(((M + MR - 1) / MR * MR + NR) * pairs + 16);
  if (buf.data.size() < need) buf.data.resize(need);
  return buf.data.data();
}

}  // namespace

void gemm_bf16(int64_t M, int64_t N, int64_t K, const MatrixView& A, const MatrixView& B, float* C,
               int64_t ldc, bool accumulate) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0) {
    if (!accumulate)
      for (int64_t i = 0; i < M; ++i) std::fill(C + i * ldc, C + i * ldc + N, 0.0f);
    return;
  }
  if (N < NR && M > N) {
    // Few columns would leave most of each NR-wide tile empty (a conv's weight gradient with
    // 16 output channels): C^T = B^T A^T fills it, then C takes the transpose.
    thread_local std::vector<float> transposed;
    transposed.resize(static_cast<size_t>(M * N));
    gemm_bf16(N, M, K, {B.data, B.cs, B.rs}, {A.data, A.cs, A.rs}, transposed.data(), M, false);
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) {
        const float v = transposed[static_cast<size_t>(j * M + i)];
        C[i * ldc + j] = accumulate ? C[i * ldc + j] + v : v;
      }
    return;
  }
  const int64_t m_panels = (M + MR - 1) / MR;
  for (int64_t k0 = 0; k0 < K; k0 += KC) {
    const int64_t kc = std::min(KC, K - k0), pairs = (kc + 1) / 2;
    uint32_t* ap = workspace(M, K);
    uint32_t* bp = ap + m_panels * MR * pairs;
    pack(A.data, A.rs, A.cs, 0, M, k0, kc, MR, ap);
    const bool acc = accumulate || k0 > 0;
    for (int64_t j0 = 0; j0 < N; j0 += NR) {
      const int64_t n = std::min(NR, N - j0);
      // B's columns are the packed rows: element (k, j) at B.data[k * B.rs + j * B.cs].
      pack(B.data, B.cs, B.rs, j0, n, k0, kc, NR, bp);
      for (int64_t p = 0; p < m_panels; ++p)
        micro_kernel(pairs, ap + p * MR * pairs, bp, C + p * MR * ldc + j0, ldc,
                     std::min(MR, M - p * MR), n, acc);
    }
  }
}

}  // namespace cnnzoo::kernels
