// Order statistics (median, percentiles) of each window's valid values, one thread per
// output cell. The launcher (cupy_rank.py, next to this file) prepends:
//   T            the data's float type (float or double)
//   NTAPS        the footprint's number of cells
//   TAP_DY/TAP_DX the cells' row and column in the footprint's box, as {...} lists:
//                compile-time constants, so the unrolled reads share their index-map loads
//   SORT_CELLS   the sorting network's compare-exchanges, CE(a, b) ..., or nothing for
//                footprints too large for one (sorted by insertion instead)
// Reads go through the tile's index maps (yidx/xidx: padded coordinate -> frame row/column,
// -1 outside: `fill`), as on the CPU, so every boundary mode and dask chunk is the same code.
// NaN reads as +inf and is counted out; the valid values then come first in sorted order.
// The statistic is finished in double exactly as xarray_focal/_algorithms/rank/order.py
// does (_positions, _value): numpy's median and "linear" percentile.

#define NAN_ __longlong_as_double(0x7ff8000000000000LL)
#define INF_ __longlong_as_double(0x7ff0000000000000LL)
#define CE(a, b) { T lo_ = v[a] < v[b] ? v[a] : v[b]; v[b] = v[a] < v[b] ? v[b] : v[a]; v[a] = lo_; }

__device__ double lerp_exact(double a, double b, double t) {
    if (t == 0.0 || a == b) return a;
    if (isinf(a) || isinf(b)) {
        if (isinf(a) && isinf(b)) return NAN_;
        return isinf(b) ? b : a;
    }
    double d = b - a;
    if (t >= 0.5) return b - d * (1.0 - t);
    return a + d * t;
}

extern "C" __global__ void order_stat(
    const T* __restrict__ frame, long long fh, long long fw,
    const long long* __restrict__ yidx, const long long* __restrict__ xidx, T fill,
    long long nb, long long ho, long long wo,
    const double* __restrict__ qs, int nq, long long thr, T* __restrict__ out)
{
    long long x = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    long long y = (long long)blockIdx.y * blockDim.y + threadIdx.y;
    long long b = blockIdx.z;
    if (x >= wo || y >= ho) return;
    const int tdy[NTAPS] = TAP_DY;
    const int tdx[NTAPS] = TAP_DX;
    T v[NTAPS];
    long long n = 0;
    const T inf = (T)INF_;
    const T* slice = frame + b * fh * fw;
#pragma unroll
    for (int t = 0; t < NTAPS; ++t) {
        long long sy = yidx[y + tdy[t]];
        long long sx = xidx[x + tdx[t]];
        T val = (sy < 0 || sx < 0) ? fill : slice[sy * fw + sx];
        bool ok = !isnan(val);
        v[t] = ok ? val : inf;
        n += ok;
    }
#ifdef SORT_CELLS
    SORT_CELLS
#else
    for (int i = 1; i < NTAPS; ++i) {
        T key = v[i];
        int j = i - 1;
        while (j >= 0 && v[j] > key) { v[j + 1] = v[j]; --j; }
        v[j + 1] = key;
    }
#endif
    for (int s = 0; s < nq; ++s) {
        T* dst = out + ((s * nb + b) * ho + y) * wo + x;
        if (n < thr || n == 0) { *dst = (T)NAN_; continue; }
        double q = qs[s];
        long long i, j;
        double w;
        if (isnan(q)) {  // the median
            j = n / 2;
            if (n % 2 == 1) { i = j; w = 0.0; } else { i = j - 1; w = 0.5; }
        } else {
            double vi = (double)(n - 1) * (q / 100.0);
            if (vi >= (double)(n - 1)) { i = j = n - 1; w = 0.0; }
            else { i = (long long)floor(vi); j = i + 1; w = vi - (double)i; }
        }
        // Picked by an unrolled select chain, not v[i]: a runtime index would put v in
        // local memory instead of registers.
        T va = v[0], vc = v[0];
#pragma unroll
        for (int t = 0; t < NTAPS; ++t) {
            if (t == i) va = v[t];
            if (t == j) vc = v[t];
        }
        double a = (double)va;
        double c = (double)vc;
        double r;
        if (isnan(q)) {
            if (w == 0.0) r = a;
            else {
                r = (a + c) * 0.5;
                if (isinf(r) && isfinite(a) && isfinite(c)) r = a * 0.5 + c * 0.5;
            }
        } else {
            r = lerp_exact(a, c, w);
        }
        *dst = (T)r;
    }
}
