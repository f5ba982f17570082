"""Peak memory: `probes` reads allocations (the CPU profiler's records replayed, CUDA's
allocator statistics); `step` runs one warm step and measures the next into a MemoryStats."""

from bench.measure.memory.probes import CudaPeaks, cpu_allocation_peak, cuda_peaks
from bench.measure.memory.step import measure_memory

__all__ = ["CudaPeaks", "cpu_allocation_peak", "cuda_peaks", "measure_memory"]
