"""Framework-neutral parts of pykeops (Genred, KernelSolve, LazyTensor), used by numpy/ and torch/."""
